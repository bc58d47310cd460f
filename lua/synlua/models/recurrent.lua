-- The paper's recurrent regressors (REFERENCE.md §3): one RNN (tanh) or LSTM
-- layer of `hidden` units over the window, the last time step's hidden state,
-- Dropout(p), then fc = Linear(hidden, 1). Parameter names are those of the
-- reference PyTorch code (DESIGN.md §1.3): rnn.weight_ih_l0 ... fc.bias, or
-- lstm.* with 4H rows in gate order i, f, g, o.
local sy = require("synlua.core")
local nn = require("synlua.nn")
local options = require("synlua.nn.module").options
local common = require("synlua.models.common")

local M = {}

local function recurrent_model(name, child, layer, op)
  local cls = nn.Module:extend(name)

  --- sy.models.<name>{input_dim, hidden = 64, dropout = 0}
  function cls:__init(...)
    local o = options("sy.models." .. name, {
      { "input_dim", "posint" }, { "hidden", "posint", 64 }, { "dropout", "prob", 0 },
    }, ...)
    self.input_dim, self.hidden = o.input_dim, o.hidden
    self:add_module(child, layer({ input_size = o.input_dim, hidden_size = o.hidden }))
    self:add_module("drop", nn.Dropout(o.dropout))
    self:add_module("fc", nn.Linear(o.hidden, 1))
  end

  --- forward(x [B, L, input_dim]) -> [B, 1]
  -- The last step's hidden state is the fused layer's h_n (the same values
  -- as out[:, L], and the same gradients): taking it from the functional
  -- op spares the step the layer module's stacking of the states and, in the
  -- backward, the zero-filled [B, L, hidden] gradient of out:select(2, L)
  -- that the layer's backward would read in full.
  function cls:forward(x)
    common.check_input(name, x, self.input_dim)
    local layer = self[child]
    local _, h = op(x, layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0)
    return self.fc(self.drop(h))
  end

  function cls:extra_repr()
    return ("input_dim=%d, hidden=%d"):format(self.input_dim, self.hidden)
  end

  M[name] = cls
end

recurrent_model("RNN", "rnn", nn.RNN, sy.rnn_tanh)
recurrent_model("LSTM", "lstm", nn.LSTM, sy.lstm)

return M
