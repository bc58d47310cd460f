-- sy.nn's recurrent layers: RNN (tanh), LSTM and GRU, stacked over
-- num_layers. Each layer is one call of the fused whole-sequence C op
-- (sy.rnn_tanh, sy.lstm, sy.gru): no per-time-step Lua work. Names, shapes,
-- gate orders (LSTM i, f, g, o; GRU r, z, n) and initialisation are PyTorch's:
-- weight_ih_l<k> [gates*H, in], weight_hh_l<k> [gates*H, H], bias_ih_l<k> and
-- bias_hh_l<k> [gates*H], all U(-1/sqrt(H), 1/sqrt(H)).
--
-- Unlike PyTorch, batch_first defaults to true: x is [batch, seq, features]
-- ([seq, features] for one unbatched sequence). States are PyTorch's
-- [num_layers, batch, hidden].
local sy = require("synlua.core")
local base = require("synlua.nn.module")
local init = require("synlua.nn.init_weights")

local Module, options = base.Module, base.options
local M = {}

local function not_bidirectional(v)
  if v == false then return false end
  return nil, "false (bidirectional layers are not supported)"
end

local function shape_str(t) return "[" .. table.concat(t:size(), ",") .. "]" end

local RNNBase = Module:extend("RNNBase")

-- kind: { name, gates, op, has_cell }
function RNNBase:_setup(kind, o)
  self._kind_info = kind
  self.input_size, self.hidden_size, self.num_layers = o.input_size, o.hidden_size, o.num_layers
  self.bias, self.batch_first, self.dropout = o.bias, o.batch_first, o.dropout
  local H, rows = o.hidden_size, kind.gates * o.hidden_size
  self._layer_names = {}
  for k = 0, o.num_layers - 1 do
    local names = { "weight_ih_l" .. k, "weight_hh_l" .. k, "bias_ih_l" .. k, "bias_hh_l" .. k }
    self._layer_names[k + 1] = names
    self:register_parameter(names[1], sy.empty(rows, k == 0 and o.input_size or H))
    self:register_parameter(names[2], sy.empty(rows, H))
    if o.bias then
      self:register_parameter(names[3], sy.empty(rows))
      self:register_parameter(names[4], sy.empty(rows))
    end
  end
  self:reset_parameters()
end

function RNNBase:reset_parameters()
  local bound = 1 / math.sqrt(self.hidden_size)
  for _, names in ipairs(self._layer_names) do
    for _, name in ipairs(names) do
      local p = self[name]
      if p then init.uniform_(p, -bound, bound) end
    end
  end
end

-- Checks a [num_layers, batch, hidden] state and returns it.
function RNNBase:_check_state(what, s, batch)
  if s == nil then return nil end
  local who = "nn." .. self._kind_info.name
  if not sy.is_tensor(s) then
    error(("%s: %s must be a tensor or nil, got %s"):format(who, what, type(s)), 0)
  end
  local size = s:size()
  if #size ~= 3 or size[1] ~= self.num_layers or size[2] ~= batch or size[3] ~= self.hidden_size then
    error(("%s: %s must have shape [%d,%d,%d] ([num_layers, batch, hidden]), got %s")
      :format(who, what, self.num_layers, batch, self.hidden_size, shape_str(s)), 0)
  end
  return s
end

--- forward(x [, hx]) -> output, h_n (RNN, GRU) or output, {h_n, c_n} (LSTM).
-- hx is h0 [num_layers, batch, hidden] (LSTM: {h0, c0}); nil means zeros.
function RNNBase:forward(x, hx)
  local kind = self._kind_info
  local who = "nn." .. kind.name
  if not sy.is_tensor(x) then error(("%s: input must be a tensor, got %s"):format(who, type(x)), 0) end
  local unbatched = x:dim() == 2
  if x:dim() ~= 2 and x:dim() ~= 3 then
    error(("%s: input must be [batch, seq, features]%s or [seq, features], got shape %s")
      :format(who, self.batch_first and "" or " (batch_first = false: [seq, batch, features])",
              shape_str(x)), 0)
  end
  local h0, c0
  if kind.has_cell then
    if hx ~= nil and (type(hx) ~= "table" or sy.is_tensor(hx)) then
      error(("%s: hx must be a table {h0, c0} or nil, got %s"):format(who, sy.is_tensor(hx) and "a tensor" or type(hx)), 0)
    end
    if hx then h0, c0 = hx[1], hx[2] end
  else
    h0 = hx
  end
  if unbatched then
    x = x:unsqueeze(1)
    if sy.is_tensor(h0) and h0:dim() == 2 then h0 = h0:unsqueeze(2) end
    if sy.is_tensor(c0) and c0:dim() == 2 then c0 = c0:unsqueeze(2) end
  elseif not self.batch_first then
    x = x:transpose(1, 2)
  end
  local batch = x:size(1)
  h0 = self:_check_state(kind.has_cell and "h0" or "hx", h0, batch)
  c0 = self:_check_state("c0", c0, batch)

  local training_dropout = self.training and self.dropout > 0
  local hs, cs = {}, {}
  local layer_in = x
  for k, names in ipairs(self._layer_names) do
    local out, h, c = kind.op(layer_in, self[names[1]], self[names[2]], self[names[3]], self[names[4]],
                              h0 and h0:select(1, k), c0 and c0:select(1, k))
    hs[k], cs[k] = h, c
    if training_dropout and k < self.num_layers then out = sy.dropout(out, self.dropout, true) end
    layer_in = out
  end

  local output = layer_in
  local h_n = sy.stack(hs, 1)
  local c_n = kind.has_cell and sy.stack(cs, 1) or nil
  if unbatched then
    output, h_n = output:squeeze(1), h_n:squeeze(2)
    c_n = c_n and c_n:squeeze(2)
  elseif not self.batch_first then
    output = output:transpose(1, 2)
  end
  if kind.has_cell then return output, { h_n, c_n } end
  return output, h_n
end

function RNNBase:extra_repr()
  local s = ("%d, %d"):format(self.input_size, self.hidden_size)
  if self.num_layers ~= 1 then s = s .. ", num_layers=" .. self.num_layers end
  if not self.bias then s = s .. ", bias=false" end
  if not self.batch_first then s = s .. ", batch_first=false" end
  if self.dropout ~= 0 then s = s .. (", dropout=%g"):format(self.dropout) end
  return s
end

local function layer_class(name, gates, op, has_cell, extra_spec)
  local cls = RNNBase:extend(name)
  local kind = { name = name, gates = gates, has_cell = has_cell,
                 op = function(...) return sy[op](...) end }
  local spec = { { "input_size", "posint" }, { "hidden_size", "posint" }, { "num_layers", "posint", 1 } }
  for _, s in ipairs(extra_spec) do spec[#spec + 1] = s end
  for _, s in ipairs({ { "bias", "boolean", true }, { "batch_first", "boolean", true },
                       { "dropout", "prob", 0 }, { "bidirectional", not_bidirectional, false } }) do
    spec[#spec + 1] = s
  end
  function cls:__init(...)
    self:_setup(kind, options("nn." .. name, spec, ...))
  end
  M[name] = cls
end

local function tanh_only(v)
  if v == "tanh" then return v end
  return nil, '"tanh" (the fused RNN kernel has no ReLU variant)'
end

--- nn.RNN{input_size, hidden_size, num_layers = 1, nonlinearity = "tanh",
-- bias = true, batch_first = true, dropout = 0}: dropout applies to the
-- outputs of every layer but the last, while training (as in PyTorch).
layer_class("RNN", 1, "rnn_tanh", false, { { "nonlinearity", tanh_only, "tanh" } })
--- nn.LSTM{input_size, hidden_size, num_layers = 1, bias = true,
-- batch_first = true, dropout = 0}
layer_class("LSTM", 4, "lstm", true, {})
--- nn.GRU{...}: the same options as nn.LSTM.
layer_class("GRU", 3, "gru", false, {})

return M
