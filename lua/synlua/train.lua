-- sy.train: the trainer of the pruning study. One call trains and evaluates
-- one trial: a model built after seeding, Adam, MSE on scaled targets,
-- mini-batches, early stopping, then MAE/MSE/RMSE in the target's units.
--
--   local d = sy.data.prepare(frame, {seq_len = 7, protocol = "paper"})
--   local r = sy.train.trial{
--     model = function(o) return sy.models.LSTM{input_dim = d.train.X:size(3), dropout = o.dropout} end,
--     data = d, method = "prune", protocol = "paper", arch = "lstm", seed = 42,
--   }
--   print(r.mae, r.rmse, r.epochs, r.sparsity)
--
-- Methods (REFERENCE.md §3):
--   none     dropout 0
--   dropout  dropout 0.3, off at evaluation
--   mc       dropout 0.3 kept on at evaluation: the point forecast is the mean
--            of mc_samples stochastic passes (1 in the paper protocol, as the
--            reference code; 50 in the clean one), and their std is reported.
--            A pass runs the model in training mode (batch norms excepted), so
--            every dropout site is live, the attention probabilities' too.
--   prune    sy.prune with the reference code's per-architecture preset and
--            pruning-arm dropout (REFERENCE.md §2) in the paper protocol, the
--            paper's preset (exact mechanics, dropout 0) in the clean one.
-- Protocols (REFERENCE.md §4-5), given the data sy.data.prepare made for them:
--   paper    early stop once the last `patience` (3) validation losses each
--            failed to improve on the one before; the last weights are kept
--            and evaluated on the validation windows (there is no test set)
--   clean    early stop after `patience` epochs without a new best validation
--            loss; the best epoch's weights (and masks) are restored and
--            evaluated on the test windows
--
-- Reproducibility: sy.manual_seed(seed) runs before the model is built, and
-- the initialisation, the shuffling and every dropout mask come from that one
-- generator. A checkpoint (save = path, written after every epoch) holds the
-- weights, masks, optimizer and pruner state, the generator's state and the
-- trainer's own; resume = path continues the trial and ends with the same
-- numbers as an uninterrupted run (bitwise, with one thread).
--
-- Numerical trouble: a NaN or infinite training loss (checked on each
-- batch's loss, the scalar the running mean reads anyway), validation loss
-- or evaluation error stops the trial with an error that names the epoch
-- and the batch, before a checkpoint of the broken weights is written;
-- sy.train.nonfinite(err) tells such an error from the others.
local sy = require("synlua")

local M = {}

local function fail(fmt, ...) error(fmt:format(...), 0) end

local function describe(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

local function class_name(m) return rawget(getmetatable(m), "__name") or "?" end

-- Exact text for a number (metadata round trips).
local function num(v)
  if math.type(v) == "integer" then return tostring(v) end
  return ("%.17g"):format(v)
end

-- -------------------------------------------------------------- methods

M.METHODS = { "none", "dropout", "mc", "prune" }
M.PROTOCOLS = { "paper", "clean" }
M.ARCHS = { "rnn", "lstm", "patchtst" }

local function member(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

-- Dropout of the pruning arm in the reference code (REFERENCE.md §2).
local PRUNE_DROPOUT = { rnn = 0.0, lstm = 0.0, patchtst = 0.3 }

--- sy.train.method_settings(method, {protocol = "clean", arch = nil}) ->
-- { dropout, mc_samples, eval_mode = "deterministic" | "mc", prune = Pruner
-- options or nil }: what a method means for the architecture (rnn, lstm,
-- patchtst or nil for any other model) under the protocol.
function M.method_settings(method, o)
  o = o or {}
  local protocol = o.protocol or "clean"
  if not member(M.METHODS, method) then
    fail("sy.train: method must be one of %s, got %s", table.concat(M.METHODS, ", "), describe(method))
  end
  if not member(M.PROTOCOLS, protocol) then
    fail("sy.train: protocol must be \"paper\" or \"clean\", got %s", describe(protocol))
  end
  if o.arch ~= nil and not member(M.ARCHS, o.arch) then
    fail("sy.train: arch must be one of %s (or nil), got %s", table.concat(M.ARCHS, ", "), describe(o.arch))
  end
  local s = { dropout = 0.0, mc_samples = 1, eval_mode = "deterministic" }
  if method == "dropout" then
    s.dropout = 0.3
  elseif method == "mc" then
    s.dropout, s.eval_mode = 0.3, "mc"
    s.mc_samples = protocol == "paper" and 1 or 50
  elseif method == "prune" then
    if protocol == "paper" and o.arch then
      s.prune = { preset = "reference_" .. o.arch }
      s.dropout = PRUNE_DROPOUT[o.arch]
    else
      s.prune = { preset = "paper" }
    end
  end
  return s
end

-- ------------------------------------------------------- early stopping

local Stopper = {}
Stopper.__index = Stopper

--- sy.train.early_stopping(protocol, patience = 3): stopper:update(loss) ->
-- improved, stop after each epoch's validation loss (see the top for the
-- two rules). Fields: losses, best, best_epoch (1-based; 0 before any).
function M.early_stopping(protocol, patience)
  if not member(M.PROTOCOLS, protocol) then
    fail("sy.train.early_stopping: protocol must be \"paper\" or \"clean\", got %s", describe(protocol))
  end
  patience = patience or 3
  if math.type(patience) ~= "integer" or patience < 1 then
    fail("sy.train.early_stopping: patience must be a positive integer, got %s", describe(patience))
  end
  return setmetatable({ protocol = protocol, patience = patience, losses = {}, best = math.huge,
                        best_epoch = 0 }, Stopper)
end

function Stopper:update(loss)
  local v = self.losses
  v[#v + 1] = loss
  local n = #v
  local improved = loss < self.best
  if improved then self.best, self.best_epoch = loss, n end
  local stop
  if self.protocol == "paper" then
    -- the reference code's rule: each of the last `patience` losses is no
    -- lower than the one before it
    stop = n >= self.patience + 1
    for i = 0, self.patience - 1 do
      if stop and v[n - i] < v[n - i - 1] then stop = false end
    end
  else
    stop = n - self.best_epoch >= self.patience
  end
  return improved, stop
end

-- ---------------------------------------------------------- prediction

-- MC passes: every module in training mode (dropout sites, the attention's
-- included, follow `training`), batch norms excepted so their running
-- statistics stay as trained.
local function set_mode(model, mode)
  if mode == "mc" then
    model:train()
    for _, m in ipairs(model:modules()) do
      if class_name(m):find("BatchNorm", 1, true) then m.training = false end
    end
  else
    model:eval()
  end
end

--- sy.train.predict(model, X, {mode = "deterministic" | "mc", samples = 1,
-- batch_size = 64}) -> mean, std: float64 predictions for X's windows, the
-- mean of `samples` passes in "mc" mode (std: their standard deviation per
-- window, ddof 0; nil for one pass). Runs under no_grad, in batches, pass
-- after pass; leaves the model in eval mode.
function M.predict(model, X, o)
  o = o or {}
  local mode, T, bs = o.mode or "deterministic", o.samples or 1, o.batch_size or 64
  if mode ~= "deterministic" and mode ~= "mc" then
    fail("sy.train.predict: mode must be \"deterministic\" or \"mc\", got %s", describe(mode))
  end
  if math.type(T) ~= "integer" or T < 1 then
    fail("sy.train.predict: samples must be a positive integer, got %s", describe(T))
  end
  if mode == "deterministic" then T = 1 end
  local n = X:size(1)
  local sum, sumsq
  sy.no_grad(function()
    set_mode(model, mode)
    for _ = 1, T do
      local parts = {}
      for first = 1, n, bs do
        parts[#parts + 1] = model(X:narrow(1, first, math.min(bs, n - first + 1)))
      end
      local p = sy.cat(parts, 1):double()
      if sum then
        sum, sumsq = sum + p, sumsq + p * p
      else
        sum, sumsq = p, p * p
      end
    end
  end)
  model:eval()
  local mean = T == 1 and sum or sum / T
  if T == 1 then return mean, nil end
  local var = sumsq / T - mean * mean
  return mean, sy.where(var:lt(0), 0, var):sqrt()
end

--- sy.train.metrics(pred, y [, y_scaler]) -> mae, mse, rmse of the
-- predictions against the targets, both first turned back into the
-- target's units by y_scaler:inverse (when given); computed in float64.
function M.metrics(pred, y, y_scaler)
  local p, t = pred:double(), y:double()
  if y_scaler then p, t = y_scaler:inverse(p), y_scaler:inverse(t) end
  local d = p - t
  local mae, mse = d:abs():mean():item(), (d * d):mean():item()
  return mae, mse, math.sqrt(mse)
end

-- ------------------------------------------------------------ progress

local tty_cache
--- sy.train.stderr_is_terminal() -> whether stderr is a terminal.
function M.stderr_is_terminal()
  if tty_cache == nil then tty_cache = os.execute("test -t 2") == true end
  return tty_cache
end

local function clock(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%d:%02d:%02d"):format(s // 3600, s % 3600 // 60, s % 60) end
  return ("%d:%02d"):format(s // 60, s % 60)
end

local Progress = {}
Progress.__index = Progress

--- sy.train.progress{mode = "auto" | "bar" | "lines" | "quiet", stream =
-- io.stderr}: a reporter for trial's `progress` option. "bar" redraws one
-- line (epoch, batch, loss, sparsity, ETA), "lines" writes one line per
-- epoch, "auto" picks "bar" on a terminal and "lines" otherwise.
-- reporter:begin(label, batches_left) names the trial and says how many
-- batches the whole run has left at most (for the ETA);
-- reporter:note(text) writes a line of its own.
function M.progress(o)
  o = o or {}
  local mode = o.mode or "auto"
  if mode == "auto" then mode = M.stderr_is_terminal() and "bar" or "lines" end
  if not member({ "bar", "lines", "quiet" }, mode) then
    fail("sy.train.progress: mode must be \"auto\", \"bar\", \"lines\" or \"quiet\", got %s", describe(mode))
  end
  local self = setmetatable({ mode = mode, stream = o.stream or io.stderr, label = "", left = 0,
                              done = 0, last_draw = -math.huge }, Progress)
  return self
end

function Progress:begin(label, batches_left)
  self.label, self.left = label, batches_left or 0
  if self.started == nil then self.started = sy._now() end
end

function Progress:_eta()
  if self.done == 0 then return "?" end
  return clock((sy._now() - self.started) / self.done * self.left)
end

function Progress:_clear()
  if self.mode == "bar" and self.drawn then
    self.stream:write("\r\27[K")
    self.drawn = false
  end
end

function Progress:note(text)
  if self.mode == "quiet" then return end
  self:_clear()
  self.stream:write(text, "\n")
  self.stream:flush()
end

-- The trainer's hook: event.kind is "batch" or "epoch".
function Progress:event(e)
  if e.kind == "batch" then
    self.done, self.left = self.done + 1, math.max(self.left - 1, 0)
  end
  if self.mode == "quiet" then return end
  local sp = e.sparsity and ("  sparsity %5.1f%%"):format(100 * e.sparsity) or ""
  if self.mode == "bar" then
    if e.kind ~= "batch" then return end
    local now = sy._now()
    if now - self.last_draw < 0.1 and e.batch < e.batches then return end
    self.last_draw = now
    local width = 20
    local fill = math.floor(width * e.batch / e.batches + 0.5)
    self.stream:write(("\r%s  epoch %d/%d [%s%s] %d/%d  loss %.5f%s  ETA %s\27[K")
      :format(self.label, e.epoch, e.epochs, ("#"):rep(fill), ("."):rep(width - fill), e.batch, e.batches,
        e.loss, sp, self:_eta()))
    self.drawn = true
  elseif e.kind == "epoch" then
    self.stream:write(("%s  epoch %d/%d  loss %.5f  val %.5f%s  %.2f s%s\n")
      :format(self.label, e.epoch, e.epochs, e.train_loss, e.val_loss, sp, e.seconds,
        e.stop and "  (early stop)" or ""))
  end
  self.stream:flush()
end

-- --------------------------------------------------------- checkpoints

local function peak_rss_mb()
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local kb = text:match("VmHWM:%s*(%d+)")
  return kb and tonumber(kb) / 1024 or nil
end
M.peak_rss_mb = peak_rss_mb

local function list_text(t)
  local parts = {}
  for i, v in ipairs(t) do parts[i] = num(v) end
  return table.concat(parts, ",")
end

local function list_parse(s)
  local out = {}
  for item in (s or ""):gmatch("[^,]+") do out[#out + 1] = tonumber(item) end
  return out
end

-- Copies of the model's tensors and the pruner's masks (the best epoch of the
-- clean protocol).
local function snapshot(model, pruner)
  local snap = { weights = {}, masks = {} }
  for name, t in pairs(model:state_dict()) do snap.weights[name] = t:clone() end
  if pruner then
    for name, m in pairs(pruner.masks) do snap.masks[name .. ".mask"] = m:clone() end
  end
  return snap
end

local function restore(model, pruner, snap)
  model:load_state_dict(snap.weights)
  if pruner then pruner:load_state_tensors(snap.masks) end
end

local BEST = "best."

-- The tensors of one checkpoint: weights, masks, optimizer state, best snapshot.
local function checkpoint_tensors(model, opt, pruner, best)
  local tensors, meta = {}, {}
  for name, t in pairs(model:state_dict()) do tensors[name] = t end
  local ot, om = opt:state_tensors("optim.")
  for k, v in pairs(ot) do tensors[k] = v end
  for k, v in pairs(om) do meta[k] = v end
  if pruner then
    local pt, pm = pruner:state_tensors()
    for k, v in pairs(pt) do tensors[k] = v end
    for k, v in pairs(pm) do meta[k] = v end
  end
  if best then
    for k, v in pairs(best.weights) do tensors[BEST .. k] = v end
    for k, v in pairs(best.masks) do tensors[BEST .. k] = v end
  end
  return tensors, meta
end

--- sy.train.read_checkpoint(path) -> { tensors, meta }: a checkpoint file
-- for trial's `resume` (sy.load with a message that names the path).
function M.read_checkpoint(path)
  local ok, tensors, meta = pcall(sy.load, path)
  if not ok then fail("sy.train: cannot read the checkpoint %s: %s", path, tostring(tensors)) end
  if meta == nil or meta["train.identity"] == nil then
    fail("sy.train: %s is not a trial checkpoint (no train.identity entry)", path)
  end
  return { tensors = tensors, meta = meta, path = path }
end

-- ------------------------------------------------------ numerical trouble

-- Every message starts with this, so callers (the study scripts, the grid)
-- can record the trial as failed and go on.
local NONFINITE = "sy.train: non-finite "

local function value_text(v)
  if v ~= v then return "nan" end
  return v > 0 and "inf" or "-inf"
end

--- sy.train.nonfinite(err) -> whether err is the error of a trial stopped
-- by a NaN or infinite loss or metric.
function M.nonfinite(err)
  return type(err) == "string" and err:find(NONFINITE, 1, true) ~= nil
end

-- --------------------------------------------------------------- trial

local TRIAL_OPTIONS = {
  model = "function", data = "table", method = "string", protocol = "string", arch = "string",
  seed = "integer", epochs = "integer", batch_size = "integer", lr = "number", patience = "integer",
  dropout = "number", mc_samples = "integer", prune = "table", progress = "table",
  save = "string", resume = "any", stop_after = "integer", meta = "table", eval_batch_size = "integer",
}

local function check_trial_options(o)
  if type(o) ~= "table" then fail("sy.train.trial: expected a table of options, got %s", type(o)) end
  local names = {}
  for k in pairs(TRIAL_OPTIONS) do names[#names + 1] = k end
  table.sort(names)
  for k, v in pairs(o) do
    local kind = TRIAL_OPTIONS[k]
    if kind == nil then
      fail("sy.train.trial: unknown option '%s' (expected one of: %s)", tostring(k), table.concat(names, ", "))
    end
    local ok
    if kind == "integer" then ok = math.type(v) == "integer"
    elseif kind == "any" then ok = true
    else ok = type(v) == kind end
    if not ok then fail("sy.train.trial: option '%s' must be a %s, got %s", k, kind, describe(v)) end
  end
  for _, k in ipairs({ "model", "data" }) do
    if o[k] == nil then fail("sy.train.trial: option '%s' is required", k) end
  end
  for _, k in ipairs({ "epochs", "batch_size", "patience", "mc_samples", "eval_batch_size" }) do
    if o[k] ~= nil and o[k] < 1 then fail("sy.train.trial: option '%s' must be >= 1, got %d", k, o[k]) end
  end
  if o.stop_after ~= nil and o.stop_after < 0 then
    fail("sy.train.trial: option 'stop_after' must be >= 0, got %d", o.stop_after)
  end
  if o.lr ~= nil and not (o.lr > 0) then fail("sy.train.trial: option 'lr' must be > 0, got %s", describe(o.lr)) end
  if o.dropout ~= nil and not (o.dropout >= 0 and o.dropout <= 1) then
    fail("sy.train.trial: option 'dropout' must be in [0, 1], got %s", describe(o.dropout))
  end
end

local function check_split(data, name)
  local s = data[name]
  if type(s) ~= "table" or not sy.is_tensor(s.X) or not sy.is_tensor(s.y) then
    fail("sy.train.trial: data.%s must be {X = tensor, y = tensor} (as sy.data.prepare returns)", name)
  end
  if s.X:size(1) ~= s.y:size(1) then
    fail("sy.train.trial: data.%s has %d windows in X and %d targets in y", name, s.X:size(1), s.y:size(1))
  end
  return s.X:size(1)
end

-- Pruner options: the method's preset with the caller's table laid over it
-- (preset = false starts from nothing).
local function prune_options(default, user)
  local o = {}
  for k, v in pairs(default or {}) do o[k] = v end
  for k, v in pairs(user or {}) do o[k] = v end
  if o.preset == false then o.preset = nil end
  return o
end

--- sy.train.trial(opts) -> result. Options:
--   model        function(o) -> a new model (o.dropout: the method's p; o.method);
--                called after sy.manual_seed(seed), so the seed fixes the initialisation
--   data         {train = {X, y}, val = {X, y}, test = {X, y}, y_scaler} (sy.data.prepare)
--   method       "none" (default), "dropout", "mc", "prune"
--   protocol     "paper" or "clean" (default: data.protocol, else "clean")
--   arch         "rnn", "lstm" or "patchtst": the reference code's settings of
--                that architecture for the paper protocol's pruning arm
--   seed (42), epochs (20), batch_size (64), lr (1e-3), patience (3)
--   dropout, mc_samples   override the method's values
--   prune        Pruner options laid over the method's preset (e.g. {schedule =
--                function(epoch, step) ... end}); preset = false drops the preset
--   progress     a reporter from sy.train.progress (default: none)
--   save         checkpoint path, written (atomically) after every epoch
--   resume       a checkpoint path (or sy.train.read_checkpoint's table) to continue
--   stop_after   train at most this many epochs in this call, then return
--                { interrupted = true, epochs, trained } (the checkpoint has the rest)
--   meta         extra metadata strings for the checkpoints
-- The result: mae, mse, rmse (target units, on the evaluation split), epochs
-- (run), best_epoch, stopped_early, sparsity (of the evaluated weights) and
-- sparsity_target (what the schedule asked for then), mc_std (mean predictive
-- std in target units, mc with samples > 1), seconds, seconds_per_epoch,
-- peak_rss_mb, train_losses, val_losses, eval_split, dropout, mc_samples,
-- trained (epochs trained by this call), prediction and target (float64,
-- target units), model, pruner. A NaN or infinite loss or error raises
-- "sy.train: non-finite ..." naming the epoch (and batch): see the top.
function M.trial(o)
  check_trial_options(o)
  local data = o.data
  local protocol = o.protocol or data.protocol or "clean"
  local method = o.method or "none"
  local s = M.method_settings(method, { protocol = protocol, arch = o.arch })
  local dropout = o.dropout or s.dropout
  local T = o.mc_samples or s.mc_samples
  local seed, epochs = o.seed or 42, o.epochs or 20
  local bs, lr, patience = o.batch_size or 64, o.lr or 1e-3, o.patience or 3
  local ebs = o.eval_batch_size or bs
  local ntrain = check_split(data, "train")
  local nval = check_split(data, "val")
  local eval_split = protocol == "paper" and "val" or "test"
  local neval = check_split(data, eval_split)
  if ntrain == 0 or nval == 0 or neval == 0 then
    fail("sy.train.trial: the data has %d training, %d validation and %d %s windows; each needs at least one",
      ntrain, nval, neval, eval_split == "val" and "evaluation" or "test")
  end
  if method ~= "prune" and o.prune ~= nil then
    fail("sy.train.trial: option 'prune' is for method \"prune\", not %s", describe(method))
  end

  sy.manual_seed(seed)
  local model = o.model({ dropout = dropout, method = method })
  if type(model) ~= "table" or type(model.parameters) ~= "function" then
    fail("sy.train.trial: the model function returned %s, expected an sy.nn module", type(model))
  end
  local opt = sy.optim.Adam(model, { lr = lr })
  local pruner
  if method == "prune" then
    pruner = sy.prune.Pruner(model, prune_options(s.prune, o.prune))
    pruner:attach(opt)
  end
  local eval_mode = s.eval_mode

  local identity = ("method=%s protocol=%s seed=%d epochs=%d batch=%d lr=%s patience=%d dropout=%s "
    .. "mc_samples=%d model=%s params=%d windows=%d/%d/%d pruner=%s")
    :format(method, protocol, seed, epochs, bs, num(lr), patience, num(dropout), T, class_name(model),
      model:num_parameters(), ntrain, nval, data.test and data.test.X:size(1) or 0,
      pruner and ("%s/%s/%d"):format(pruner.compat and "compat" or "exact", pruner.scope, pruner.total) or "-")

  local stopper = M.early_stopping(protocol, patience)
  local st = { epoch = 0, stopped = false, seconds = 0, train_losses = {}, targets = {}, sparsities = {} }
  local best

  if o.resume ~= nil then
    local ck = type(o.resume) == "string" and M.read_checkpoint(o.resume) or o.resume
    if type(ck) ~= "table" or type(ck.tensors) ~= "table" or type(ck.meta) ~= "table" then
      fail("sy.train.trial: resume must be a checkpoint path or sy.train.read_checkpoint's table")
    end
    local meta, where = ck.meta, ck.path or "the checkpoint"
    if meta["train.identity"] ~= identity then
      fail("sy.train.trial: %s belongs to another trial\n  checkpoint: %s\n  this trial: %s", where,
        tostring(meta["train.identity"]), identity)
    end
    local current, best_w, best_m = {}, {}, {}
    for k, v in pairs(ck.tensors) do
      if k:sub(1, #BEST) == BEST then
        local name = k:sub(#BEST + 1)
        if name:sub(-5) == ".mask" then best_m[name] = v else best_w[name] = v end
      else
        current[k] = v
      end
    end
    local weights = {}
    for k, v in pairs(current) do
      if k:sub(1, 6) ~= "optim." and k:sub(-5) ~= ".mask" then weights[k] = v end
    end
    model:load_state_dict(weights)
    opt:load_state_tensors(current, meta, "optim.")
    if pruner then pruner:load_state_tensors(current, meta) end
    if next(best_w) then best = { weights = best_w, masks = best_m } end
    st.epoch = math.tointeger(tonumber(meta["train.epoch"]))
    st.stopped = meta["train.stopped"] == "true"
    st.seconds = tonumber(meta["train.seconds"])
    st.train_losses = list_parse(meta["train.train_losses"])
    st.targets = list_parse(meta["train.targets"])
    st.sparsities = list_parse(meta["train.sparsities"])
    for _, v in ipairs(list_parse(meta["train.val_losses"])) do stopper:update(v) end
    sy.set_rng_state({ seed = math.tointeger(tonumber(meta["train.rng_seed"])),
                       offset = math.tointeger(tonumber(meta["train.rng_offset"])) })
  end

  local function save_checkpoint()
    local tensors, meta = checkpoint_tensors(model, opt, pruner, best)
    local rng = sy.get_rng_state()
    meta["train.identity"] = identity
    meta["train.epoch"] = tostring(st.epoch)
    meta["train.stopped"] = tostring(st.stopped)
    meta["train.seconds"] = num(st.seconds)
    meta["train.train_losses"] = list_text(st.train_losses)
    meta["train.val_losses"] = list_text(stopper.losses)
    meta["train.targets"] = list_text(st.targets)
    meta["train.sparsities"] = list_text(st.sparsities)
    meta["train.rng_seed"], meta["train.rng_offset"] = tostring(rng.seed), tostring(rng.offset)
    for k, v in pairs(o.meta or {}) do meta[k] = tostring(v) end
    sy.save(o.save, tensors, meta)
  end

  local progress = o.progress
  local loader = sy.data.loader(data.train.X, data.train.y, { batch_size = bs, shuffle = true })
  local nbatches = #loader
  local trained = 0
  while not st.stopped and st.epoch < epochs do
    if o.stop_after and trained >= o.stop_after then
      return { interrupted = true, epochs = st.epoch, trained = trained }
    end
    local e = st.epoch            -- 0-based, as the pruning schedule counts
    local t0 = sy._now()
    model:train()
    local sum = 0
    local seen = 0
    for xb, yb, b in loader:iter() do
      opt:zero_grad()
      local loss = sy.mse_loss(model(xb), yb)
      loss:backward()
      if pruner then pruner:step(e) end
      opt:step()
      local n, l = xb:size(1), loss:item()
      -- x - x is 0 for every finite x and NaN for NaN and both infinities
      if l - l ~= 0 then
        fail("%straining loss (%s) at epoch %d, batch %d of %d (learning rate %s, batch size %d); the trial stops "
          .. "rather than train on it", NONFINITE, value_text(l), e + 1, b, nbatches, num(lr), bs)
      end
      sum, seen = sum + l * n, seen + n
      if progress then
        progress:event({ kind = "batch", epoch = e + 1, epochs = epochs, batch = b, batches = nbatches,
                         loss = sum / seen, sparsity = pruner and pruner:sparsity() })
      end
    end
    local vp = M.predict(model, data.val.X, { mode = eval_mode, samples = T, batch_size = ebs })
    local d = vp - data.val.y:double()
    local val_loss = (d * d):mean():item()
    if val_loss - val_loss ~= 0 then
      fail("%svalidation loss (%s) after epoch %d (its %d training batches had finite losses; learning rate %s); "
        .. "the trial stops", NONFINITE, value_text(val_loss), e + 1, nbatches, num(lr))
    end
    local improved, stop = stopper:update(val_loss)
    st.epoch, st.stopped = e + 1, stop
    st.train_losses[#st.train_losses + 1] = sum / seen
    local target = 0.0
    if pruner and #pruner.history > 0 then target = pruner.history[#pruner.history].target end
    st.targets[#st.targets + 1] = target
    st.sparsities[#st.sparsities + 1] = pruner and pruner:sparsity() or 0.0
    if protocol == "clean" and improved then best = snapshot(model, pruner) end
    local dt = sy._now() - t0
    st.seconds = st.seconds + dt
    trained = trained + 1
    if progress then
      progress:event({ kind = "epoch", epoch = e + 1, epochs = epochs, train_loss = sum / seen,
                       val_loss = val_loss, sparsity = pruner and pruner:sparsity(), seconds = dt, stop = stop })
    end
    if o.save then save_checkpoint() end
  end

  -- The evaluated weights: the last epoch's (paper), the best epoch's (clean).
  local chosen = st.epoch
  if protocol == "clean" and best then
    restore(model, pruner, best)
    chosen = stopper.best_epoch
  end
  local split = data[eval_split]
  local mean, std = M.predict(model, split.X, { mode = eval_mode, samples = T, batch_size = ebs })
  local mae, mse, rmse = M.metrics(mean, split.y, data.y_scaler)
  if mse - mse ~= 0 then
    fail("%sevaluation error (MSE %s) on the %s windows with the weights of epoch %d; the trial stops",
      NONFINITE, value_text(mse), eval_split == "val" and "validation" or "test", chosen)
  end
  local mc_std
  if std then
    -- a std scales with the target's scale and ignores its shift
    local scaled = data.y_scaler and data.y_scaler:inverse(std) - data.y_scaler:inverse(std * 0) or std
    mc_std = scaled:mean():item()
  end
  local prediction, target = mean, split.y:double()
  if data.y_scaler then prediction, target = data.y_scaler:inverse(mean), data.y_scaler:inverse(target) end
  return {
    mae = mae, mse = mse, rmse = rmse, mc_std = mc_std,
    epochs = st.epoch, best_epoch = protocol == "clean" and stopper.best_epoch or st.epoch,
    stopped_early = st.stopped,
    sparsity = pruner and (st.sparsities[chosen] or pruner:sparsity()) or 0.0,
    sparsity_target = pruner and (st.targets[chosen] or 0.0) or 0.0,
    seconds = st.seconds, seconds_per_epoch = st.epoch > 0 and st.seconds / st.epoch or 0.0,
    peak_rss_mb = peak_rss_mb(),
    train_losses = st.train_losses, val_losses = stopper.losses,
    eval_split = eval_split, method = method, protocol = protocol, seed = seed, trained = trained,
    dropout = dropout, mc_samples = eval_mode == "mc" and T or nil,
    prediction = prediction, target = target, model = model, pruner = pruner,
  }
end

return M
