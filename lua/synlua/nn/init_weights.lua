-- sy.nn.init: PyTorch's weight initialisers (torch.nn.init) with the same
-- names, arguments and formulas. Each fills a tensor in place with the synlua
-- RNG (so sy.manual_seed fixes it), outside autograd, and returns the tensor.
local sy = require("synlua.core")

local init = {}

local function check_tensor(who, t)
  if not sy.is_tensor(t) then
    error(("nn.init.%s: expected a tensor, got %s"):format(who, type(t)), 0)
  end
end

local function fill(t, fn)
  sy.no_grad(fn)
  return t
end

--- calculate_fan_in_and_fan_out(t) -> fan_in, fan_out; a weight [out, in, k...]
-- has fan_in = in * k..., fan_out = out * k....
function init.calculate_fan_in_and_fan_out(t)
  check_tensor("calculate_fan_in_and_fan_out", t)
  local size = t:size()
  if #size < 2 then
    error(("nn.init: fan in and fan out need a tensor of at least 2 dims, got shape [%s]")
      :format(table.concat(size, ",")), 0)
  end
  local receptive = 1
  for i = 3, #size do receptive = receptive * size[i] end
  return size[2] * receptive, size[1] * receptive
end

--- calculate_gain(nonlinearity [, param]): the recommended gain of PyTorch.
function init.calculate_gain(nonlinearity, param)
  if type(nonlinearity) ~= "string" then
    error(("nn.init.calculate_gain: nonlinearity must be a string, got %s"):format(type(nonlinearity)), 0)
  end
  if nonlinearity == "linear" or nonlinearity == "sigmoid" or nonlinearity:match("^conv") then
    return 1
  elseif nonlinearity == "tanh" then
    return 5 / 3
  elseif nonlinearity == "relu" then
    return math.sqrt(2)
  elseif nonlinearity == "leaky_relu" then
    local slope = param or 0.01
    return math.sqrt(2 / (1 + slope * slope))
  elseif nonlinearity == "selu" then
    return 3 / 4
  end
  error(("nn.init.calculate_gain: unsupported nonlinearity %q"):format(tostring(nonlinearity)), 0)
end

local function fan(t, mode)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
  if mode == nil or mode == "fan_in" then return fan_in end
  if mode == "fan_out" then return fan_out end
  error(("nn.init: mode must be 'fan_in' or 'fan_out', got %q"):format(tostring(mode)), 0)
end

function init.uniform_(t, a, b)
  check_tensor("uniform_", t)
  return fill(t, function() t:uniform_(a or 0, b or 1) end)
end

function init.normal_(t, mean, std)
  check_tensor("normal_", t)
  return fill(t, function() t:normal_(mean or 0, std or 1) end)
end

function init.constant_(t, value)
  check_tensor("constant_", t)
  return fill(t, function() t:fill_(value) end)
end

function init.zeros_(t) return init.constant_(t, 0) end
function init.ones_(t) return init.constant_(t, 1) end

--- kaiming_uniform_(t [, a = 0 [, mode = "fan_in" [, nonlinearity = "leaky_relu"]]]):
-- U(-b, b) with b = gain * sqrt(3 / fan). With a = sqrt(5) (nn.Linear's
-- default) b reduces to 1 / sqrt(fan_in).
function init.kaiming_uniform_(t, a, mode, nonlinearity)
  check_tensor("kaiming_uniform_", t)
  local gain = init.calculate_gain(nonlinearity or "leaky_relu", a or 0)
  local bound = math.sqrt(3) * gain / math.sqrt(fan(t, mode))
  return init.uniform_(t, -bound, bound)
end

function init.kaiming_normal_(t, a, mode, nonlinearity)
  check_tensor("kaiming_normal_", t)
  local gain = init.calculate_gain(nonlinearity or "leaky_relu", a or 0)
  return init.normal_(t, 0, gain / math.sqrt(fan(t, mode)))
end

--- xavier_uniform_(t [, gain = 1]): U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
function init.xavier_uniform_(t, gain)
  check_tensor("xavier_uniform_", t)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
  local bound = (gain or 1) * math.sqrt(6 / (fan_in + fan_out))
  return init.uniform_(t, -bound, bound)
end

function init.xavier_normal_(t, gain)
  check_tensor("xavier_normal_", t)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
  return init.normal_(t, 0, (gain or 1) * math.sqrt(2 / (fan_in + fan_out)))
end

return init
