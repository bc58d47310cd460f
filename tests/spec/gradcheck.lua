-- Finite-difference gradient check shared by the specs.
--
--   local gradcheck = require("gradcheck")
--   gradcheck(function(a, b) return (a * b):sum() end, { a, b })
--
-- `fn` maps float64 tensors to a tensor; the check compares the analytic
-- gradient of sum(fn(...) * R) (R fixed and random, so every output element
-- matters) with central differences, for every input that requires grad.
-- Raises an error naming the input, the element and both values on mismatch.
local sy = require("synlua")

local function flat_get(t, i)
  return t:reshape(-1)[i]
end

local function flat_set(t, i, v)
  sy.no_grad(function() t:view(-1)[i] = v end)
end

return function(fn, inputs, opts)
  opts = opts or {}
  local eps, atol, rtol = opts.eps or 1e-6, opts.atol or 1e-5, opts.rtol or 1e-4
  local out = fn(table.unpack(inputs))
  local outs = type(out) == "table" and not sy.is_tensor(out) and out or { out }
  sy.manual_seed(opts.seed or 1234)
  local weights = {}
  for k, o in ipairs(outs) do weights[k] = sy.randn(o:size(), "float64") end
  local function objective(...)
    local r = fn(...)
    local rs = type(r) == "table" and not sy.is_tensor(r) and r or { r }
    local total
    for k, o in ipairs(rs) do
      local term = (o * weights[k]):sum()
      total = total and total + term or term
    end
    return total
  end
  for _, x in ipairs(inputs) do
    if sy.is_tensor(x) and x:requires_grad() then x.grad = nil end
  end
  objective(table.unpack(inputs)):backward()
  for n, x in ipairs(inputs) do
    if sy.is_tensor(x) and x:requires_grad() then
      assert(x:dtype() == "float64", "gradcheck: input " .. n .. " must be float64")
      local analytic = x.grad
      assert(analytic, "gradcheck: input " .. n .. " got no gradient")
      for i = 1, x:numel() do
        local orig = flat_get(x, i)
        flat_set(x, i, orig + eps)
        local plus = sy.no_grad(function() return objective(table.unpack(inputs)):item() end)
        flat_set(x, i, orig - eps)
        local minus = sy.no_grad(function() return objective(table.unpack(inputs)):item() end)
        flat_set(x, i, orig)
        local numeric = (plus - minus) / (2 * eps)
        local a = flat_get(analytic, i)
        if math.abs(a - numeric) > atol + rtol * math.abs(numeric) then
          error(string.format("gradcheck: input %d element %d: analytic %.10g, numeric %.10g",
                              n, i, a, numeric), 2)
        end
      end
    end
  end
  return true
end
