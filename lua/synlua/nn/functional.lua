-- sy.nn.functional: the C core's functional ops under PyTorch's
-- torch.nn.functional names (local F = sy.nn.functional; F.relu(x)).
-- Most are sy's own functions with sy's arguments (sy.linear(x, w, b), ...);
-- where PyTorch's argument order differs, a wrapper takes PyTorch's order:
--   F.layer_norm(x, normalized_shape, weight, bias, eps)
--   F.huber_loss(input, target, reduction, delta)
--   F.dropout(x, p = 0.5, training = true)
-- F.scaled_dot_product_attention is sy's: it returns the output and the
-- attention weights, and a bool mask is true where attention is NOT allowed
-- (nn.MultiheadAttention's convention, the opposite of PyTorch 2's function).
local sy = require("synlua.core")

local F = {}

local SAME = {
  linear = true, batch_norm = true, embedding = true, gelu = true, softmax = true,
  log_softmax = true, mse_loss = true, l1_loss = true, relu = true, tanh = true,
  sigmoid = true, scaled_dot_product_attention = true,
}

function F.layer_norm(x, normalized_shape, weight, bias, eps)
  local shape = type(normalized_shape) == "table" and normalized_shape or { normalized_shape }
  local size = sy.is_tensor(x) and x:size() or {}
  if #shape ~= 1 or math.tointeger(shape[1]) ~= size[#size] then
    error(("layer_norm: normalized_shape must be the size of the last dim (%s), got {%s}")
      :format(tostring(size[#size]), table.concat(shape, ", ")), 2)
  end
  return sy.layer_norm(x, weight, bias, eps)
end

function F.huber_loss(input, target, reduction, delta)
  return sy.huber_loss(input, target, delta or 1.0, reduction or "mean")
end

function F.dropout(x, p, training)
  if training == nil then training = true end
  return sy.dropout(x, p or 0.5, training)
end

-- Resolved on first use, so ops that the core adds later are found.
return setmetatable(F, {
  __index = function(t, name)
    local f = SAME[name] and sy[name]
    if f then rawset(t, name, f) end
    return f
  end,
})
