-- Windows, chronological splits and the whole frame -> tensors pipeline.
--
-- Window i (1-based) takes rows i .. i+L-1 of the features as its input and
-- rows i+L .. i+L+h-1 of the target as its output, so T rows give
-- N = T - L - h + 1 windows (T - L for the paper's one-step horizon).
local sy = require("synlua")
local scaler = require("synlua.data.scaler")

local M = {}

local function check_count(v, name, fname, min)
  if math.type(v) ~= "integer" or v < min then
    error(string.format("%s: %s must be an integer >= %d, got %s", fname, name, min, tostring(v)), 3)
  end
end

-- sy.data.windows(X, y, L [, h = 1]) -> Xw [N, L, D] float32, yw [N, h]
-- float32 (or [N, h, C] when y is [T, C]).
-- Xw is a view of X (X itself when X is a contiguous float32 tensor, else of
-- a float32 contiguous copy): window i shares rows i .. i+L-1 with its
-- neighbours instead of holding a copy, so N windows cost T x D floats, not
-- N x L x D. Writing into X changes the windows. Xw is not contiguous
-- (strides D, D, 1: each window is one run of L x D floats, which
-- index_select copies whole); :view on it fails, use :reshape or :contiguous.
function M.windows(X, y, L, h)
  h = h or 1
  if not sy.is_tensor(X) or X:dim() ~= 2 then error("windows: X must be a [T, D] tensor", 2) end
  if not sy.is_tensor(y) or (y:dim() ~= 1 and y:dim() ~= 2) then
    error("windows: y must be a [T] or [T, C] tensor", 2)
  end
  check_count(L, "the window length L", "windows", 1)
  check_count(h, "the horizon h", "windows", 1)
  local T = X:size(1)
  if y:size(1) ~= T then
    error(string.format("windows: X has %d rows, y has %d", T, y:size(1)), 2)
  end
  local N = T - L - h + 1
  if N < 1 then
    error(string.format("windows: %d rows are too few for windows of length %d with horizon %d", T, L, h), 2)
  end
  -- [N, D, L] windows over rows 1 .. N+L-1 (the last h rows are only
  -- targets), read as [N, L, D].
  local Xw = X:float():contiguous():narrow(1, 1, N + L - 1):unfold(1, L, 1):transpose(2, 3)
  -- The targets are small ([N, h]): one gather, row indices = start + offset.
  local starts = sy.arange(1, N + 1):view(N, 1)
  local yidx = (starts + sy.arange(L, L + h):view(1, h)):view(N * h)
  local yw = y:float():index_select(1, yidx)
  if y:dim() == 1 then yw = yw:view(N, h) else yw = yw:view(N, h, y:size(2)) end
  return Xw, yw
end

-- sy.data.split(N, protocol [, opts]) -> {train = {first, last}, val = ..., test = ...}
-- over N windows, chronological, 1-based and inclusive (empty: last = first - 1).
--   "paper": the first floor(opts.train (0.8) * N) windows train; the rest is
--            the evaluation set, returned as both val and test (the reference
--            code reports its MAE on the set it early-stops on).
--   "clean": floor(opts.train (0.7) * N) train, floor(opts.val (0.1) * N)
--            validation, the rest test; with a horizon h > 1, h - 1 windows
--            are left out at each boundary so no target row is in two splits.
function M.split(N, protocol, opts)
  opts = opts or {}
  check_count(N, "the number of windows", "split", 1)
  local h = opts.horizon or 1
  check_count(h, "the horizon", "split", 1)
  if protocol == "paper" then
    local frac = opts.train or 0.8
    local ntrain = math.floor(frac * N)
    if ntrain < 1 or ntrain >= N then
      error(string.format("split: %d windows leave no training or evaluation windows", N), 2)
    end
    local eval = { ntrain + 1, N }
    return { train = { 1, ntrain }, val = eval, test = eval }
  elseif protocol == "clean" then
    local ftrain, fval = opts.train or 0.7, opts.val or 0.1
    if ftrain <= 0 or fval < 0 or ftrain + fval >= 1 then
      error(string.format("split: fractions train=%g, val=%g must be positive and leave a test split", ftrain, fval), 2)
    end
    local gap = h - 1
    local ntrain = math.floor(ftrain * N)
    local nval = math.floor(fval * N)
    local vfirst = ntrain + gap + 1
    local tfirst = vfirst + nval + (nval > 0 and gap or 0)
    if ntrain < 1 or tfirst > N then
      error(string.format("split: %d windows are too few for a %g/%g/%g split", N, ftrain, fval, 1 - ftrain - fval), 2)
    end
    return { train = { 1, ntrain }, val = { vfirst, vfirst + nval - 1 }, test = { tfirst, N } }
  end
  error(string.format("split: protocol must be \"paper\" or \"clean\", got %s", tostring(protocol)), 2)
end

local function take(Xw, yw, range)
  local n = range[2] - range[1] + 1
  if n <= 0 then return { X = Xw:narrow(1, 1, 0), y = yw:narrow(1, 1, 0) } end
  return { X = Xw:narrow(1, range[1], n), y = yw:narrow(1, range[1], n) }
end

-- sy.data.prepare(frame, opts) -> the tensors a training script needs:
--   { train = {X, y}, val = {X, y}, test = {X, y}, x_scaler, y_scaler,
--     features, target, protocol, seq_len, horizon, splits, fit_rows }
-- opts: seq_len (L, required), horizon (1), protocol ("clean" or "paper"),
-- target (frame.target), features (every number column, the target
-- included), scaler ("standard", "minmax" or false), train/val fractions.
-- Scalers are fit on every row ("paper": the reference code scales the whole
-- series before splitting) or only on the rows the training windows touch
-- ("clean"). X is scaled with x_scaler, y with y_scaler; y_scaler:inverse
-- turns predictions back into the target's units.
function M.prepare(f, opts)
  if type(f) ~= "table" or type(f.rows) ~= "function" then error("prepare: expected a frame", 2) end
  opts = opts or {}
  local protocol = opts.protocol or f.protocol or "clean"
  local L, h = opts.seq_len, opts.horizon or 1
  check_count(L, "seq_len", "prepare", 1)
  check_count(h, "horizon", "prepare", 1)
  local target = opts.target or f.target
  if type(target) ~= "string" or not f:has(target) then
    error(string.format("prepare: no target column '%s' in the frame", tostring(target)), 2)
  end
  local features = opts.features or f:columns_of("number")
  for _, name in ipairs(features) do
    if not f:has(name) or f:kind(name) ~= "number" then
      error(string.format("prepare: feature '%s' is not a number column of the frame", tostring(name)), 2)
    end
  end
  local X = f:tensor(features)
  local y = f:col(target)
  local missing = X:isnan():sum(1):totable()
  missing[#missing + 1] = y:isnan():sum():item()
  for j, m in ipairs(missing) do
    if m > 0 then
      error(string.format("prepare: column '%s' has %d missing values; fill them first (sy.data.fill or " ..
        "sy.data.engineer)", features[j] or target, math.tointeger(m) or m), 2)
    end
  end
  local T = f:rows()
  local N = T - L - h + 1
  if N < 2 then
    error(string.format("prepare: %d rows give %d windows of length %d (horizon %d); too few", T, math.max(N, 0),
      L, h), 2)
  end
  local splits = M.split(N, protocol, { train = opts.train, val = opts.val, horizon = h })
  -- Rows touched by a training window: its inputs and its targets.
  local fit_rows = protocol == "paper" and T or splits.train[2] + L + h - 1
  local xs, ys
  if opts.scaler ~= false then
    local kind = opts.scaler or "standard"
    xs = scaler.scaler(kind):fit(X:narrow(1, 1, fit_rows))
    ys = scaler.scaler(kind):fit(y:narrow(1, 1, fit_rows))
    X, y = xs:transform(X), ys:transform(y)
  end
  local Xw, yw = M.windows(X, y, L, h)
  return {
    train = take(Xw, yw, splits.train),
    val = take(Xw, yw, splits.val),
    test = take(Xw, yw, splits.test),
    x_scaler = xs,
    y_scaler = ys,
    features = features,
    target = target,
    protocol = protocol,
    seq_len = L,
    horizon = h,
    splits = splits,
    fit_rows = fit_rows,
    windows = N,
  }
end

return M
