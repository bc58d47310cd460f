-- Scalers: "standard" ((x - mean) / std, population std as scikit-learn's
-- StandardScaler) and "minmax" ((x - min) / (max - min), into [0, 1]).
-- Statistics are per column of a [T, D] tensor, or of a whole [T] tensor; a
-- column with no spread gets scale 1, as in scikit-learn.
local sy = require("synlua")

local M = {}

local Scaler = {}
Scaler.__index = Scaler
M.Scaler = Scaler

local KINDS = { standard = true, minmax = true }

-- sy.data.scaler("standard" | "minmax")
function M.scaler(kind)
  kind = kind or "standard"
  if not KINDS[kind] then
    error(string.format("scaler: kind must be \"standard\" or \"minmax\", got %s", tostring(kind)), 2)
  end
  return setmetatable({ kind = kind }, Scaler)
end

local function check_input(t, fname, level)
  if not sy.is_tensor(t) or (t:dim() ~= 1 and t:dim() ~= 2) then
    error(string.format("%s: expected a [T] or [T, D] tensor", fname), level + 1)
  end
end

-- Learns the statistics from the rows of t (all of them: pass only the
-- training rows to fit on those). Returns self.
function Scaler:fit(t)
  check_input(t, "fit", 2)
  if t:size(1) == 0 then error("fit: no rows to fit on", 2) end
  local x = t:double()
  local shift, scale
  if self.kind == "standard" then
    shift = x:mean(1)
    scale = x:var(1, false, false):sqrt()    -- population variance, as scikit-learn
  else
    shift = x:min(1)
    scale = x:max(1) - shift
  end
  -- NaN or Inf anywhere in a column makes its statistics NaN or Inf: name the
  -- first such column and what is in it
  if (shift - shift):isnan():sum():item() + (scale - scale):isnan():sum():item() > 0 then
    local flat = x:dim() == 2 and x or x:reshape(-1, 1)
    local nans, infs = flat:isnan():sum(1), flat:abs():eq(math.huge):sum(1)
    for j = 1, flat:size(2) do
      local n, i = nans[j], infs[j]
      if n > 0 or i > 0 then
        local what = n > 0 and string.format("%d missing value%s (NaN); fill them first", n, n == 1 and "" or "s")
          or string.format("%d infinite value%s; remove or clip them first", i, i == 1 and "" or "s")
        error(string.format("fit: column %d of the data has %s", j, what), 2)
      end
    end
  end
  scale = sy.where(scale:eq(0), 1, scale)
  self.shift, self.scale, self.columns = shift, scale, t:dim() == 2 and t:size(2) or nil
  return self
end

local function check_fitted(self, t, fname)
  if not self.shift then error(fname .. ": the scaler has not been fitted", 3) end
  if not sy.is_tensor(t) then error(fname .. ": expected a tensor", 3) end
  if self.columns and t:size(t:dim()) ~= self.columns then
    error(string.format("%s: the scaler was fitted on %d columns, got %d", fname, self.columns, t:size(t:dim())), 3)
  end
end

-- (t - shift) / scale, in t's dtype. The statistics broadcast over the last
-- dimension, so windows [N, L, D] can be transformed too.
function Scaler:transform(t)
  check_fitted(self, t, "transform")
  local dt = t:dtype()
  return (t:double() - self.shift):div_(self.scale):to(dt)
end

-- t * scale + shift: back to the original units (for predictions of the
-- target, fitted on the target alone).
function Scaler:inverse(t)
  check_fitted(self, t, "inverse")
  local dt = t:dtype()
  return (t:double() * self.scale):add_(self.shift):to(dt)
end

function Scaler:fit_transform(t) return self:fit(t):transform(t) end

return M
