-- A small LSTM regressor trained for 10 steps with Adam and with AdamW must
-- follow PyTorch's trajectory (tests/fixtures/gen_train_lstm.py): every loss
-- and every final weight, in float32. This ties together the LSTM kernel,
-- Linear, MSE, autograd and the optimizers.
local sy = require("synlua")
local nn = sy.nn

local fixture = sy.load((os.getenv("SYNLUA_SOURCE_DIR") or ".") .. "/tests/fixtures/train_lstm.safetensors")

local Regressor = nn.Module:extend("Regressor")
function Regressor:__init(d, h)
  self:add_module("lstm", nn.LSTM({ input_size = d, hidden_size = h }))
  self:add_module("fc", nn.Linear(h, 1))
end
function Regressor:forward(x)
  local out = self.lstm(x)
  return self.fc(out:select(2, out:size(2)))
end

local function max_err(a, b)
  return (a - b):abs():max():item()
end

local function trajectory(name, make_opt)
  local x, y = fixture.x, fixture.y
  local model = Regressor(x:size(3), fixture["init.lstm.weight_hh_l0"]:size(2))
  local init = {}
  for k, v in pairs(fixture) do
    local param = k:match("^init%.(.*)$")
    if param then init[param] = v end
  end
  model:load_state_dict(init)
  local opt = make_opt(model:parameters())
  local expected = fixture[name .. ".losses"]:totable()
  for step = 1, #expected do
    opt:zero_grad()
    local loss = sy.mse_loss(model(x), y)
    loss:backward()
    opt:step()
    local got = loss:item()
    assert(math.abs(got - expected[step]) <= 1e-5 * math.max(1, math.abs(expected[step])),
           ("%s step %d: loss %.8g, PyTorch %.8g"):format(name, step, got, expected[step]))
  end
  for k, v in pairs(model:state_dict()) do
    local want = fixture[name .. ".final." .. k]
    assert(want, "fixture lacks " .. k)
    local err = max_err(v, want)
    assert(err <= 2e-5, ("%s: %s differs from PyTorch by %.3g"):format(name, k, err))
  end
end

describe("LSTM regressor training matches PyTorch", function()
  it("with Adam", function()
    trajectory("adam", function(p) return sy.optim.Adam(p, { lr = 1e-2 }) end)
  end)
  it("with AdamW", function()
    trajectory("adamw", function(p) return sy.optim.AdamW(p, { lr = 1e-2, weight_decay = 0.1 }) end)
  end)
end)
