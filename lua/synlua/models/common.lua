-- What the model families of sy.models share: the check of the input batch,
-- so every model rejects a wrong shape with a message naming the model and
-- what it expects ("PaperPatchTST: input has 7 features, model expects 5").
local sy = require("synlua.core")

local M = {}

local function shape_str(t) return "[" .. table.concat(t:size(), ",") .. "]" end

--- check_input(who, x, features [, length [, what]]) -> B, L, D of x.
-- x must be [batch, length, features]; `length` is checked when given.
-- `what` names the last dim in messages ("features" by default).
function M.check_input(who, x, features, length, what)
  what = what or "features"
  if not sy.is_tensor(x) then
    error(("%s: input must be a tensor [batch, length, %s], got %s"):format(who, what, type(x)), 0)
  end
  if x:dim() ~= 3 then
    error(("%s: input must be [batch, length, %s] (3 dims), got shape %s")
      :format(who, what, shape_str(x)), 0)
  end
  local B, L, D = x:size(1), x:size(2), x:size(3)
  if D ~= features then
    error(("%s: input has %d %s, model expects %d"):format(who, D, what, features), 0)
  end
  if length and L ~= length then
    error(("%s: input has length %d, model expects seq_len %d"):format(who, L, length), 0)
  end
  return B, L, D
end

return M
