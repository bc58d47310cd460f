-- sy.prune: synaptic pruning (paper §3, Algorithms 1-6; REFERENCE.md §1-2).
-- Magnitude selection runs in C (src/prune, bound in src/lua/l_prune.c);
-- which tensors are pruned, when, and to what target is decided here, so a
-- schedule is any Lua function and needs no recompiling.
--
--   local pruner = sy.prune.Pruner(model, sy.prune.presets.paper)
--   pruner:attach(opt)                  -- the optimizer re-zeroes pruned weights
--   for epoch = 0, epochs - 1 do
--     for x, y in batches do
--       local loss = crit(model(x), y)
--       opt:zero_grad(); loss:backward()
--       pruner:step(epoch)              -- maybe prune (Algorithm 4 order)
--       opt:step()
--     end
--   end
--   print(pruner:stats())
--
-- Masks (uint8, 1 = active) live in one arena tensor with a view per pruned
-- parameter; pruned weights are zeroed when pruned and again inside every
-- optimizer step (the fused mask pass of sy.optim), so they never come back.
--
-- Mechanics: compat = false (default) prunes exactly floor(s*N) - pruned
-- weights against the fixed number N of prunable weights, ties taken in
-- parameter order then flat index, and a target outside [0, 1) is an error.
-- compat = true makes the reference code's decisions (see src/prune/prune.h):
-- k-th smallest with strict <, fully pruned tensors leaving the denominator,
-- targets >= 1 silently pruning nothing.
local core = require("synlua.core")
local nn_options = require("synlua.nn.module").options
local C = core._prune

local M = {}

-- Errors are raised without a position (level 0): they name the option or
-- parameter and the value instead.
local function fail(fmt, ...)
  error(fmt:format(...), 0)
end

local function describe(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

local function shape_str(t) return "[" .. table.concat(t:size(), ",") .. "]" end

local function num(v) return math.type(v) == "integer" and tostring(v) or ("%.17g"):format(v) end

-- ---------------------------------------------------------------- schedules

-- A built-in schedule is a callable table: schedule(epoch, step) -> target.
-- Its fields are its options, plus `kind`, `start` (when it leaves 0, in its
-- unit) and `max` (the largest target it gives).
local Schedule = {}
Schedule.__index = Schedule

function Schedule.__call(self, epoch, step)
  return self._f(self.unit == "step" and step or epoch)
end

function Schedule.__tostring(self)
  local parts = {}
  for _, name in ipairs(self._order) do
    parts[#parts + 1] = ("%s=%s"):format(name, describe(self[name]))
  end
  return ("%s{%s}"):format(self.kind, table.concat(parts, ", "))
end

local function nonneg(v)
  if type(v) == "number" and v >= 0 and v < math.huge then return v end
  return nil, "a number >= 0"
end

local function finite(v)
  if type(v) == "number" and v == v and v > -math.huge and v < math.huge then return v end
  return nil, "a finite number"
end

local UNIT = { "epoch", "step" }

local function make_schedule(kind, spec, args, build)
  local who = "prune." .. kind
  local o = nn_options(who, spec, table.unpack(args, 1, args.n))
  local s = setmetatable({ kind = kind, _order = {} }, Schedule)
  for i, entry in ipairs(spec) do
    s[entry[1]] = o[entry[1]]
    s._order[i] = entry[1]
  end
  build(who, s)
  return s
end

-- Progress through [a, b], clamped to [0, 1].
local function progress(t, a, b)
  return math.min(1.0, math.max(0.0, (t - a) / (b - a)))
end

local function check_range(who, s, lo_name, hi_name)
  if s[lo_name] > s[hi_name] then
    fail("%s: %s (%s) > %s (%s); sparsity only grows", who, lo_name, tostring(s[lo_name]), hi_name,
      tostring(s[hi_name]))
  end
end

local function check_span(who, s, a, b)
  if not (s[b] > s[a]) then
    fail("%s: %s (%s) must be greater than %s (%s)", who, b, tostring(s[b]), a, tostring(s[a]))
  end
end

local schedules = {}
M.schedules = schedules

--- paper_cubic{s_min, s_max, warmup, total, unit = "epoch"}: Algorithm 2 of
-- the paper: 0 before warmup, then
-- s_min + (s_max - s_min) * clamp((t - warmup) / (total - warmup), 0, 1)^3.
function schedules.paper_cubic(...)
  return make_schedule("paper_cubic", {
    { "s_min", nonneg }, { "s_max", nonneg }, { "warmup", nonneg }, { "total", finite },
    { "unit", UNIT, "epoch" },
  }, table.pack(...), function(who, s)
    check_range(who, s, "s_min", "s_max")
    check_span(who, s, "warmup", "total")
    s.start, s.max = s.warmup, s.s_max
    s._f = function(t)
      if t < s.warmup then return 0.0 end
      return s.s_min + (s.s_max - s.s_min) * progress(t, s.warmup, s.total) ^ 3
    end
  end)
end

--- polynomial{initial = 0, final, begin = 0, finish, power = 3, unit =
-- "epoch"}: Zhu & Gupta's schedule (TF Model Optimization's PolynomialDecay),
-- fast first, then slow: 0 before begin, then
-- final + (initial - final) * (1 - clamp((t - begin) / (finish - begin)))^power.
function schedules.polynomial(...)
  return make_schedule("polynomial", {
    { "initial", nonneg, 0 }, { "final", nonneg }, { "begin", nonneg, 0 }, { "finish", finite },
    { "power", "posnumber", 3 }, { "unit", UNIT, "epoch" },
  }, table.pack(...), function(who, s)
    check_range(who, s, "initial", "final")
    check_span(who, s, "begin", "finish")
    s.start, s.max = s.begin, s.final
    s._f = function(t)
      if t < s.begin then return 0.0 end
      return s.final + (s.initial - s.final) * (1 - progress(t, s.begin, s.finish)) ^ s.power
    end
  end)
end

--- linear{initial = 0, final, begin = 0, finish, unit = "epoch"}: 0 before
-- begin, then a straight line from initial to final, final after finish.
function schedules.linear(...)
  return make_schedule("linear", {
    { "initial", nonneg, 0 }, { "final", nonneg }, { "begin", nonneg, 0 }, { "finish", finite },
    { "unit", UNIT, "epoch" },
  }, table.pack(...), function(who, s)
    check_range(who, s, "initial", "final")
    check_span(who, s, "begin", "finish")
    s.start, s.max = s.begin, s.final
    s._f = function(t)
      if t < s.begin then return 0.0 end
      return s.initial + (s.final - s.initial) * progress(t, s.begin, s.finish)
    end
  end)
end

--- cosine{initial = 0, final, begin = 0, finish, unit = "epoch"}: 0 before
-- begin, then initial + (final - initial) * (1 - cos(pi * progress)) / 2.
function schedules.cosine(...)
  return make_schedule("cosine", {
    { "initial", nonneg, 0 }, { "final", nonneg }, { "begin", nonneg, 0 }, { "finish", finite },
    { "unit", UNIT, "epoch" },
  }, table.pack(...), function(who, s)
    check_range(who, s, "initial", "final")
    check_span(who, s, "begin", "finish")
    s.start, s.max = s.begin, s.final
    s._f = function(t)
      if t < s.begin then return 0.0 end
      return s.initial + (s.final - s.initial) * (1 - math.cos(math.pi * progress(t, s.begin, s.finish))) / 2
    end
  end)
end

--- constant{target, begin = 0, unit = "epoch"} (or constant(target)): 0
-- before begin, target from then on.
function schedules.constant(...)
  return make_schedule("constant", {
    { "target", nonneg }, { "begin", nonneg, 0 }, { "unit", UNIT, "epoch" },
  }, table.pack(...), function(_, s)
    s.start, s.max = s.begin, s.target
    s._f = function(t) return t < s.begin and 0.0 or s.target end
  end)
end

for name, f in pairs(schedules) do M[name] = f end

-- ------------------------------------------------------------------ presets

-- s_min/s_max/warmup/total describe a paper_cubic schedule; warmup also gates
-- when pruning starts (Algorithm 4). The reference_* presets are the
-- settings of the published code (REFERENCE.md §2, total = its 20 epochs),
-- with its mechanics; `paper` is the paper's text with the exact mechanics.
local PRESETS = {
  paper = { s_min = 0.3, s_max = 0.7, warmup = 2, total = 20, every = 5, compat = false },
  reference_rnn = { s_min = 0.1, s_max = 0.5, warmup = 2, total = 20, every = 5, compat = true },
  reference_lstm = { s_min = 0.7, s_max = 1.2, warmup = 2, total = 20, every = 2, compat = true },
  -- the paper's PatchTST prunes every weight but the final LayerNorm's
  reference_patchtst = { s_min = 0.01, s_max = 0.5, warmup = 5, total = 20, every = 5, compat = true,
                         exclude = { "^norm%.weight$" } },
}

local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- sy.prune.presets.<name> -> a fresh table of Pruner options (change it
-- freely): paper, reference_rnn, reference_lstm, reference_patchtst.
M.presets = setmetatable({}, {
  __index = function(_, name)
    local p = PRESETS[name]
    if p == nil then
      fail("prune.presets: no preset '%s' (presets: %s)", tostring(name),
        table.concat(sorted_keys(PRESETS), ", "))
    end
    return copy(p)
  end,
  __newindex = function() fail("prune.presets is read-only; copy a preset and change the copy") end,
  __pairs = function()
    local keys, i = sorted_keys(PRESETS), 0
    return function()
      i = i + 1
      if keys[i] then return keys[i], copy(PRESETS[keys[i]]) end
    end
  end,
})

-- --------------------------------------------------------------- the pruner

local OPTIONS = {
  preset = "string", include = "patterns", exclude = "patterns", filter = "function",
  allow_unmatched = "boolean", schedule = "schedule", s_min = "number", s_max = "number",
  total = "number", warmup = "number", every = "every", scope = "string", compat = "boolean",
}

local function check_option_types(o)
  for k, v in pairs(o) do
    local kind = OPTIONS[k]
    if kind == nil then
      fail("prune.Pruner: unknown option '%s' (expected one of: %s)", tostring(k),
        table.concat(sorted_keys(OPTIONS), ", "))
    end
    local ok
    if kind == "patterns" then
      ok = type(v) == "string"
      if type(v) == "table" then
        ok = true
        for _, p in ipairs(v) do ok = ok and type(p) == "string" end
      end
      kind = "string or a list of strings"
    elseif kind == "schedule" then
      local mt = getmetatable(v)
      ok = type(v) == "function" or (type(mt) == "table" and mt.__call ~= nil)
      kind = "function(epoch, step) or a schedule from sy.prune.schedules"
    elseif kind == "every" then
      ok = v == "epoch" or (math.type(v) == "integer" and v > 0)
      kind = "positive integer (batches) or \"epoch\""
    else
      ok = type(v) == kind
    end
    if not ok then fail("prune.Pruner: option '%s' must be a %s, got %s", k, kind, describe(v)) end
  end
end

-- Options with a preset's values underneath; an explicit schedule replaces
-- the preset's cubic shorthand.
local function resolve_options(opts)
  if opts ~= nil and type(opts) ~= "table" then
    fail("prune.Pruner: options must be a table, got %s", type(opts))
  end
  opts = opts or {}
  check_option_types(opts)
  local o = {}
  if opts.preset then o = M.presets[opts.preset] end
  if opts.schedule ~= nil then o.s_min, o.s_max, o.total = nil, nil, nil end
  for k, v in pairs(opts) do
    if k ~= "preset" then o[k] = v end
  end
  check_option_types(o)
  return o
end

-- Parameters as parallel arrays of names and tensors, in a stable order: a
-- Module (registration order), an array of {name, tensor} pairs, or a map
-- name -> tensor (sorted by name).
local function collect(model)
  if type(model) ~= "table" then
    fail("prune.Pruner: expected a module or a table of parameters, got %s", type(model))
  end
  local list = model
  if type(model.parameters) == "function" then list = model:parameters() end
  local names, tensors = {}, {}
  if #list > 0 then
    for i, pair in ipairs(list) do
      if type(pair) ~= "table" or type(pair[1]) ~= "string" or not core.is_tensor(pair[2]) then
        fail("prune.Pruner: parameter %d is not a {name, tensor} pair", i)
      end
      names[i], tensors[i] = pair[1], pair[2]
    end
  else
    for _, k in ipairs(sorted_keys(list)) do
      if type(k) ~= "string" or not core.is_tensor(list[k]) then
        fail("prune.Pruner: parameter table entry %s is not name -> tensor", describe(k))
      end
      names[#names + 1], tensors[#tensors + 1] = k, list[k]
    end
  end
  return names, tensors
end

local function as_list(p)
  if p == nil then return nil end
  if type(p) == "string" then return { p } end
  return p
end

-- Indices of the prunable parameters.
local function select_params(names, tensors, o)
  local include = as_list(o.include)
  local default = include == nil and o.filter == nil
  if default then include = { "weight" } end
  local exclude = as_list(o.exclude) or {}
  local hits = {}
  local function matches(pattern, name)
    local ok, found = pcall(string.find, name, pattern)
    if not ok then
      fail("prune.Pruner: '%s' is not a valid Lua pattern (%s)", pattern,
        (tostring(found):gsub("^.-:%d+: ", "")))
    end
    if found then hits[pattern] = true end
    return found ~= nil
  end
  local chosen = {}
  for i, name in ipairs(names) do
    local inc = include == nil
    for _, p in ipairs(include or {}) do inc = matches(p, name) or inc end
    local exc = false
    for _, p in ipairs(exclude) do exc = matches(p, name) or exc end
    if inc and not exc and o.filter then
      local keep = o.filter(name, tensors[i])
      if type(keep) ~= "boolean" then
        fail("prune.Pruner: filter must return a boolean, got %s for '%s'", type(keep), name)
      end
      inc = keep
    end
    if inc and not exc then chosen[#chosen + 1] = i end
  end
  if not o.allow_unmatched then
    -- the default pattern may match nothing: "no parameter selected" says enough
    for _, group in ipairs({ { "include", default and {} or include or {} }, { "exclude", exclude } }) do
      for _, p in ipairs(group[2]) do
        if not hits[p] then
          fail("prune.Pruner: %s pattern '%s' matches no parameter (parameters: %s; "
            .. "allow_unmatched = true accepts this)", group[1], p, table.concat(names, ", "))
        end
      end
    end
  end
  if #chosen == 0 then
    fail("prune.Pruner: no parameter selected for pruning (parameters: %s)", table.concat(names, ", "))
  end
  return chosen
end

local Pruner = {}
Pruner.__index = Pruner

--- sy.prune.Pruner(model, opts) (also sy.prune(model, opts)): model is a
-- Module, an array of {name, tensor} pairs or a map name -> tensor. Options:
--   preset          name of a preset to start from ("paper", "reference_lstm", ...)
--   include/exclude Lua patterns (a string or a list) on parameter names;
--                   default include {"weight"}; each must match some name
--   filter          function(name, tensor) -> boolean, on top of the patterns
--                   (given alone, it replaces the default include)
--   allow_unmatched true: patterns may match nothing (configs shared by models)
--   schedule        function(epoch, step) -> target, or sy.prune.schedules.*
--   s_min, s_max, total   shorthand for paper_cubic{s_min, s_max, warmup, total}
--                   (default 0.3, 0.7, 20 when no schedule is given)
--   warmup          first epoch that prunes (default: the schedule's start;
--                   2 with the shorthand)
--   every           prune every N batches (a counter over all batches since
--                   the start, warm-up included, as the paper) or "epoch" (the
--                   first batch of each epoch); default 5
--   scope           "global" (one ranking over all tensors, default) or "layer"
--   compat          true: the reference code's mechanics (see the top)
function M.Pruner(model, opts)
  local o = resolve_options(opts)
  local names, tensors = collect(model)
  local chosen = select_params(names, tensors, o)
  local self = setmetatable({ model = type(model.parameters) == "function" and model or nil },
    Pruner)

  if o.schedule ~= nil then
    for _, k in ipairs({ "s_min", "s_max", "total" }) do
      if o[k] ~= nil then
        fail("prune.Pruner: give either 'schedule' or the cubic shorthand (s_min, s_max, total), not both")
      end
    end
    self.schedule = o.schedule
  else
    local s_min, s_max = o.s_min or 0.3, o.s_max or 0.7
    local warmup, total = o.warmup or 2, o.total or 20
    self.schedule = schedules.paper_cubic { s_min = s_min, s_max = s_max, warmup = warmup, total = total }
  end
  local sched_mt = getmetatable(self.schedule)
  local builtin = sched_mt == Schedule
  local warmup = o.warmup
  if warmup == nil then
    warmup = (builtin and self.schedule.unit == "epoch") and self.schedule.start or 0
  end
  if not (math.type(warmup) == "integer" or (type(warmup) == "number" and warmup == math.floor(warmup)))
      or warmup < 0 or warmup == math.huge then
    fail("prune.Pruner: warmup must be a non-negative integer (epochs), got %s", describe(warmup))
  end
  self.warmup = math.tointeger(warmup) or warmup
  self.every = o.every or 5
  self.scope = o.scope or "global"
  if self.scope ~= "global" and self.scope ~= "layer" then
    fail("prune.Pruner: scope must be \"global\" or \"layer\", got %s", describe(self.scope))
  end
  self.compat = o.compat or false
  if not self.compat and builtin and self.schedule.max >= 1 then
    fail("prune.Pruner: the schedule reaches %s; targets must be in [0, 1) (compat = true "
      .. "reproduces the reference code, where targets >= 1 prune nothing)", tostring(self.schedule.max))
  end

  -- Algorithm 1: one mask per pruned parameter, all ones, as views of one arena.
  local total, seen_dtype = 0, nil
  self.names, self._weights = {}, {}
  for j, i in ipairs(chosen) do
    local t = tensors[i]
    local dt = t:dtype()
    if dt ~= "float32" and dt ~= "float64" then
      fail("prune.Pruner: parameter '%s' is %s; only float32 and float64 weights are pruned", names[i], dt)
    end
    if seen_dtype and dt ~= seen_dtype then
      fail("prune.Pruner: parameter '%s' is %s, '%s' %s; the pruned weights must share one dtype",
        names[i], dt, self.names[1], seen_dtype)
    end
    if not t:is_contiguous() then
      fail("prune.Pruner: parameter '%s' is not contiguous", names[i])
    end
    seen_dtype = dt
    self.names[j], self._weights[j] = names[i], t
    total = total + t:numel()
  end
  self.total = total
  self._arena = core.ones(math.max(total, 1), "uint8")
  self._masks, self.masks = {}, {}
  local offset = 0
  for j, t in ipairs(self._weights) do
    local n = t:numel()
    local view = self._arena:narrow(1, offset + 1, n):view(t:size())
    self._masks[j], self.masks[self.names[j]] = view, view
    offset = offset + n
  end
  self._pruned = 0
  self.batch = 0          -- batches seen by step(), over all epochs
  self.history = setmetatable({}, M.History)
  self._last_epoch = nil  -- the epoch of the last per-epoch event
  return self
end

setmetatable(M, { __call = function(_, ...) return M.Pruner(...) end })

function Pruner:_check_live(what)
  if self._finalized then fail("pruner:%s: the pruner was finalized (its masks are gone)", what) end
end

local function check_epoch(what, epoch)
  local e = math.tointeger(epoch)
  if e == nil or e < 0 then
    fail("pruner:%s: epoch must be a non-negative integer, got %s", what, describe(epoch))
  end
  return e
end

-- Runs one update toward target and records it.
function Pruner:_update(target, epoch, who)
  if type(target) ~= "number" or target ~= target then
    fail("pruner:%s: target must be a number, got %s%s", who, describe(target),
      epoch and (" from the schedule at epoch %d (batch %d)"):format(epoch, self.batch) or "")
  end
  if not self.compat and not (target >= 0 and target < 1) then
    fail("pruner:%s: target %s%s is outside [0, 1) (compat = true reproduces the reference code, "
      .. "where targets >= 1 prune nothing)", who, tostring(target),
      epoch and (" (schedule, epoch %d, batch %d)"):format(epoch, self.batch) or "")
  end
  local pruned, k, threshold = C.update(self._weights, self._masks, target, self.compat,
    self.scope == "layer", self.names)
  self._pruned = self._pruned + pruned
  local record = { epoch = epoch, step = self.batch, target = target,
                   achieved = self._pruned / self.total, pruned = pruned, k = k,
                   threshold = threshold }
  self.history[#self.history + 1] = record
  return record
end

--- pruner:step(epoch) -> the history record when this batch pruned, else
-- nil. Call once per batch, after backward and before opt:step(); epoch is
-- the trainer's epoch number (the reference code counts from 0).
function Pruner:step(epoch)
  self:_check_live("step")
  epoch = check_epoch("step", epoch)
  self.batch = self.batch + 1
  if epoch < self.warmup then return nil end
  if self.every == "epoch" then
    if self._last_epoch == epoch then return nil end
    self._last_epoch = epoch
  elseif self.batch % self.every ~= 0 then
    return nil
  end
  return self:_update(self.schedule(epoch, self.batch), epoch, "step")
end

--- pruner:prune(target [, epoch]) -> history record: one update now,
-- outside the schedule (one-shot pruning, experiments).
function Pruner:prune(target, epoch)
  self:_check_live("prune")
  if epoch ~= nil then epoch = check_epoch("prune", epoch) end
  return self:_update(target, epoch, "prune")
end

--- pruner:attach(opt): hands the masks to an optimizer from sy.optim, whose
-- step re-zeroes the pruned weights in its fused loop (Algorithm 5). Every
-- pruned parameter must be among the optimizer's. Replaces masks set before.
function Pruner:attach(opt)
  self:_check_live("attach")
  if type(opt) ~= "table" or type(opt.set_masks) ~= "function" or type(opt.param_groups) ~= "table" then
    fail("pruner:attach: expected an optimizer from sy.optim, got %s", type(opt))
  end
  local index, k = {}, 0
  for _, group in ipairs(opt.param_groups) do
    for _, p in ipairs(group.params) do
      k = k + 1
      index[p] = index[p] or k
    end
  end
  local masks = {}
  for j, t in ipairs(self._weights) do
    local i = index[t]
    if i == nil then
      fail("pruner:attach: parameter '%s' is not updated by this optimizer", self.names[j])
    end
    masks[i] = self._masks[j]
  end
  opt:set_masks(masks)
  self._opt = opt
  return self
end

--- pruner:apply(): zeroes every pruned weight again (after editing weights
-- by hand; the optimizer does this itself after each step).
function Pruner:apply()
  self:_check_live("apply")
  C.apply(self._weights, self._masks)
end

--- pruner:sparsity() -> the fraction of prunable weights pruned.
function Pruner:sparsity()
  self:_check_live("sparsity")
  return self._pruned / self.total
end

-- ---------------------------------------------------------------- statistics

local Stats = {}
Stats.__index = Stats
M.Stats = Stats

local function percent(x) return ("%.2f%%"):format(100 * x) end

function Stats.__tostring(s)
  local rows = { { "parameter", "total", "pruned", "sparsity" } }
  for _, e in ipairs(s.tensors) do
    rows[#rows + 1] = { e.name, tostring(e.total), tostring(e.pruned), percent(e.sparsity) }
  end
  rows[#rows + 1] = { "global", tostring(s.total), tostring(s.pruned), percent(s.sparsity) }
  local width = {}
  for _, r in ipairs(rows) do
    for c, v in ipairs(r) do width[c] = math.max(width[c] or 0, #v) end
  end
  local lines = {}
  for i, r in ipairs(rows) do
    local cells = { r[1] .. (" "):rep(width[1] - #r[1]) }
    for c = 2, 4 do cells[c] = (" "):rep(width[c] - #r[c]) .. r[c] end
    lines[i] = table.concat(cells, "  ")
  end
  return table.concat(lines, "\n")
end

--- pruner:stats() -> Algorithm 6: { tensors = { {name, total, pruned,
-- sparsity}, ... } in parameter order, by_name = { [name] = entry },
-- total, pruned, sparsity (global) }; tostring() gives a table. Counted
-- from the masks themselves.
function Pruner:stats()
  self:_check_live("stats")
  local zeros = C.count(self._masks)
  local s = setmetatable({ tensors = {}, by_name = {}, total = 0, pruned = 0 }, Stats)
  for j, name in ipairs(self.names) do
    local n = self._weights[j]:numel()
    local e = { name = name, total = n, pruned = zeros[j], sparsity = n > 0 and zeros[j] / n or 0 }
    s.tensors[j], s.by_name[name] = e, e
    s.total, s.pruned = s.total + n, s.pruned + zeros[j]
  end
  s.sparsity = s.total > 0 and s.pruned / s.total or 0
  return s
end

-- The history: an array of { epoch, step, target, achieved, pruned, k,
-- threshold } (epoch nil for pruner:prune without one; threshold nil when no
-- selection ran); tostring() gives a table.
local History = {}
M.History = History
History.__index = History

function History.__tostring(h)
  local lines = { ("%6s %7s %9s %9s %8s"):format("epoch", "step", "target", "achieved", "pruned") }
  for _, r in ipairs(h) do
    lines[#lines + 1] = ("%6s %7d %9.4f %9.4f %8d"):format(r.epoch and tostring(r.epoch) or "-",
      r.step, r.target, r.achieved, r.pruned)
  end
  return table.concat(lines, "\n")
end

function Pruner:__tostring()
  local every = self.every == "epoch" and "once per epoch" or ("every %d batches"):format(self.every)
  return ("Pruner(%s scope, %s mechanics, %d tensors, %d weights, schedule %s, warmup %s, %s): "
    .. "sparsity %s"):format(self.scope, self.compat and "compat" or "exact", #self.names, self.total,
    tostring(self.schedule), tostring(self.warmup), every,
    self._finalized and "finalized" or percent(self._pruned / self.total))
end

-- -------------------------------------------------------------- checkpoints

local function encode_history(h)
  local parts = {}
  for i, r in ipairs(h) do
    parts[i] = table.concat({ r.epoch and tostring(r.epoch) or "", tostring(r.step), num(r.target),
      num(r.achieved), tostring(r.pruned), tostring(r.k), r.threshold and num(r.threshold) or "" }, ",")
  end
  return table.concat(parts, ";")
end

local function decode_history(s)
  local h = setmetatable({}, History)
  for item in s:gmatch("[^;]+") do
    local f = {}
    for field in (item .. ","):gmatch("([^,]*),") do f[#f + 1] = field end
    local r = { epoch = math.tointeger(tonumber(f[1])), step = math.tointeger(tonumber(f[2])),
                target = tonumber(f[3]), achieved = tonumber(f[4]),
                pruned = math.tointeger(tonumber(f[5])), k = math.tointeger(tonumber(f[6])),
                threshold = tonumber(f[7]) }
    if #f ~= 7 or not (r.step and r.target and r.achieved and r.pruned and r.k) then
      fail("pruner: bad history entry '%s' in the checkpoint", item)
    end
    h[#h + 1] = r
  end
  return h
end

--- pruner:state_tensors() -> tensors, metadata for sy.save: the masks as
-- "<param>.mask" (uint8, views of the arena) and the pruner's position as
-- metadata strings "prune.*" (batch counter, last per-epoch event,
-- history, mechanics and scope).
function Pruner:state_tensors()
  self:_check_live("state_tensors")
  local tensors = {}
  for j, name in ipairs(self.names) do tensors[name .. ".mask"] = self._masks[j] end
  local meta = {
    ["prune.batch"] = tostring(self.batch),
    ["prune.last_epoch"] = self._last_epoch and tostring(self._last_epoch) or "",
    ["prune.history"] = encode_history(self.history),
    ["prune.mode"] = self.compat and "compat" or "exact",
    ["prune.scope"] = self.scope,
  }
  return tensors, meta
end

-- Checks masks and metadata for load_state_tensors and returns what to
-- install; nothing changes here.
function Pruner:_prepare_state(tensors, meta, who)
  if type(tensors) ~= "table" or (meta ~= nil and type(meta) ~= "table") then
    fail("%s: expected the tensors and metadata tables (as sy.load returns them)", who)
  end
  local own, missing, unexpected, srcs = {}, {}, {}, {}
  for j, name in ipairs(self.names) do own[name .. ".mask"] = j end
  for key in pairs(tensors) do
    if type(key) == "string" and key:sub(-5) == ".mask" and own[key] == nil then
      unexpected[#unexpected + 1] = key
    end
  end
  for j, name in ipairs(self.names) do
    local src = tensors[name .. ".mask"]
    if src == nil then
      missing[#missing + 1] = name .. ".mask"
    elseif not core.is_tensor(src) then
      fail("%s: '%s.mask' is a %s, not a tensor", who, name, type(src))
    elseif shape_str(src) ~= shape_str(self._weights[j]) then
      fail("%s: mask '%s.mask' has shape %s, the parameter %s", who, name, shape_str(src),
        shape_str(self._weights[j]))
    elseif src:dtype() ~= "uint8" and src:dtype() ~= "bool" then
      fail("%s: mask '%s.mask' is %s; masks are uint8 or bool", who, name, src:dtype())
    end
    srcs[j] = src
  end
  table.sort(missing)
  table.sort(unexpected)
  if #missing > 0 then fail("%s: no mask for: %s", who, table.concat(missing, ", ")) end
  if #unexpected > 0 then
    fail("%s: masks for parameters this pruner does not prune: %s", who, table.concat(unexpected, ", "))
  end
  local ok, zeros = pcall(C.count, srcs)
  if not ok then
    fail("%s: %s", who, (tostring(zeros):gsub("^mask count: mask (%d+)", function(j)
      return ("mask '%s.mask'"):format(self.names[tonumber(j)])
    end)))
  end
  local plan = { srcs = srcs, pruned = 0 }
  for _, z in ipairs(zeros) do plan.pruned = plan.pruned + z end
  meta = meta or {}
  if meta["prune.batch"] ~= nil then
    local mode, scope = meta["prune.mode"], meta["prune.scope"]
    local want = self.compat and "compat" or "exact"
    if mode ~= want then
      fail("%s: the checkpoint was pruned with %s mechanics, this pruner uses %s", who, tostring(mode), want)
    end
    if scope ~= self.scope then
      fail("%s: the checkpoint was pruned with %s scope, this pruner uses %s", who, tostring(scope), self.scope)
    end
    local batch = math.tointeger(tonumber(meta["prune.batch"]))
    local last = meta["prune.last_epoch"] or ""
    if batch == nil or batch < 0 or (last ~= "" and math.tointeger(tonumber(last)) == nil) then
      fail("%s: bad prune.batch or prune.last_epoch in the checkpoint", who)
    end
    plan.state = { batch = batch, last = last ~= "" and math.tointeger(tonumber(last)) or nil,
                   history = decode_history(meta["prune.history"] or "") }
  end
  return plan
end

function Pruner:_install_state(plan)
  core.no_grad(function()
    for j, src in ipairs(plan.srcs) do self._masks[j]:copy_(src) end
  end)
  C.apply(self._weights, self._masks)
  self._pruned = plan.pruned
  if plan.state then
    self.batch, self._last_epoch, self.history = plan.state.batch, plan.state.last, plan.state.history
  end
end

--- pruner:load_state_tensors(tensors [, metadata]): restores masks from
-- "<param>.mask" entries (uint8 or bool; every pruned parameter needs one),
-- zeroes the pruned weights, and, when the metadata has "prune.*" entries,
-- the batch counter and history, so training continues where it stopped.
-- Everything is checked before anything changes. Other entries are ignored.
function Pruner:load_state_tensors(tensors, meta)
  self:_check_live("load_state_tensors")
  self:_install_state(self:_prepare_state(tensors, meta, "pruner:load_state_tensors"))
end

local function merge(into, from, what)
  for k, v in pairs(from or {}) do
    if into[k] ~= nil then fail("pruner:save: two %s named '%s'", what, tostring(k)) end
    into[k] = v
  end
end

--- pruner:save(path [, tensors, metadata]): one safetensors file with the
-- model's state_dict (when the pruner was built on a Module), the masks and
-- the pruner's metadata, plus any extra tensors and metadata (e.g.
-- pruner:save(path, opt:state_tensors())).
function Pruner:save(path, extra_tensors, extra_meta)
  self:_check_live("save")
  if type(path) ~= "string" then fail("pruner:save: path must be a string, got %s", type(path)) end
  local masks, meta = self:state_tensors()
  local tensors = {}
  if self.model then merge(tensors, self.model:state_dict(), "tensors") end
  merge(tensors, masks, "tensors")
  merge(tensors, extra_tensors, "tensors")
  merge(meta, extra_meta, "metadata entries")
  core.save(path, tensors, meta)
end

--- pruner:load(path) -> tensors, metadata: the inverse of save: the model's
-- weights (when the pruner has a Module; every parameter and buffer must be
-- in the file), then the masks and pruner state. Returns what sy.load read,
-- for the rest (e.g. opt:load_state_tensors(tensors, metadata)).
function Pruner:load(path)
  self:_check_live("load")
  if type(path) ~= "string" then fail("pruner:load: path must be a string, got %s", type(path)) end
  local tensors, meta = core.load(path)
  local plan = self:_prepare_state(tensors, meta, "pruner:load")
  if self.model then
    local weights = {}
    for k, v in pairs(tensors) do
      if k:sub(-5) ~= ".mask" then weights[k] = v end
    end
    local missing = {}
    for k in pairs(self.model:state_dict()) do
      if weights[k] == nil then missing[#missing + 1] = k end
    end
    table.sort(missing)
    if #missing > 0 then fail("pruner:load: %s has no %s", path, table.concat(missing, ", ")) end
    -- checks every name and shape before it copies anything
    self.model:load_state_dict(weights, false)
  end
  self:_install_state(plan)
  return tensors, meta
end

--- pruner:finalize() -> the final stats: zeroes the pruned weights for good,
-- removes the masks from the attached optimizer and drops them; the model
-- keeps its zeros (e.g. for export or sparse inference). The pruner cannot
-- be used afterwards.
function Pruner:finalize()
  self:_check_live("finalize")
  local s = self:stats()
  C.apply(self._weights, self._masks)
  if self._opt then self._opt:set_masks(nil) end
  self._opt, self._arena, self._masks, self.masks = nil, nil, nil, nil
  self._finalized = true
  return s
end

return M
