-- synlua.study: what the study scripts share (scripts/<arch>_<dataset>.lua):
-- the flags of DESIGN.md §1.4, the grid of configurations (sequence length x
-- method), trials over seeds, progress on stderr, the results table or JSON
-- lines on stdout, CSV files under --out, and study-wide checkpoints.
--
--   local study = require("synlua.study")
--   study.main({ model = "lstm", dataset = "bitcoin" }, arg)
--
-- A configuration runs `trials` trials of sy.train.trial with seeds S, S+1,
-- ... and is summarised by the mean and 95% t-interval of the MAE (one
-- trial: no interval, null in JSON), the mean RMSE, MSE, epochs and
-- sparsity, the mean seconds per epoch and the peak RSS.
--
-- A trial stopped by numerical trouble (a NaN or infinite loss: see
-- sy.train) is reported, not fatal: its message goes to stderr, its row in
-- the per-trial CSV has status "failed" and the message in `error`, its
-- configuration's statistics leave it out (`trials` counts the finished
-- ones, `trials_failed` the others, `error` holds the first message), the
-- other trials go on, and the script ends with exit status 4.
--
-- Data (REFERENCE.md §4-6): sy.datasets.load(dataset, {protocol}) engineers
-- the features (date parts, label codes, target lags; leaky leads only with
-- --leaky-leads under the paper protocol), sy.data.prepare windows, splits
-- and scales them. The paper protocol feeds every number column but the
-- target (the reference code drops it from the inputs); the clean protocol
-- keeps the target's own past values in the window.
local sy = require("synlua")

local M = {}

-- The paper's models with the reference code's sizes (REFERENCE.md §3).
M.MODELS = {
  rnn = function(D, _, p) return sy.models.RNN({ input_dim = D, hidden = 64, dropout = p }) end,
  lstm = function(D, _, p) return sy.models.LSTM({ input_dim = D, hidden = 64, dropout = p }) end,
  patchtst = function(D, L, p)
    return sy.models.PaperPatchTST({ input_dim = D, seq_len = L, d_model = 64, heads = 4, layers = 2,
                                     d_ff = 256, dropout = p })
  end,
}

M.DEFAULTS = {
  epochs = 20, trials = 3, seq_len = { 7, 30 }, methods = { "none", "dropout", "mc", "prune" },
  protocol = "paper", seed = 42, threads = 1,
}

local FLAGS = {
  { "--epochs", "N", "most epochs per trial", "epochs" },
  { "--trials", "N", "trials per configuration, seeded S, S+1, ...", "trials" },
  { "--seq-len", "L[,L...]", "window lengths, e.g. 1,3,7,14,30,60", "seq_len" },
  { "--method", "M[,M...]", "none, dropout, mc, prune", "methods" },
  { "--protocol", "P", "paper (the reference code's) or clean (corrected)", "protocol" },
  { "--data", "DIR", "dataset directory (else $SYNLUA_DATA, else datasets/)", "data" },
  { "--out", "DIR", "write <model>_<dataset>_<protocol>_{trials,summary}.csv there", "out" },
  { "--seed", "S", "seed of the first trial", "seed" },
  { "--threads", "T", "threads of synlua and OpenBLAS", "threads" },
  { "--mc-samples", "T", "passes of MC dropout (default: 1 paper, 50 clean)", "mc_samples" },
  { "--leaky-leads", "K[,K...]", "add target leads (future values; paper protocol only)", "leaky_leads" },
  { "--json", nil, "one JSON object per configuration per line on stdout", "json" },
  { "--quiet", nil, "no progress on stderr", "quiet" },
  { "--save", "PATH", "checkpoint after every epoch (atomic writes)", "save" },
  { "--resume", "PATH", "continue a study from its checkpoint (and keep saving there)", "resume" },
  { "--stop-after", "N", "stop after training N epochs (needs --save or --resume); exit status 3", "stop_after" },
  { "--help", nil, "this text", "help" },
}

-- ---------------------------------------------------- shared helpers
-- (exported: sy.experiment, the grid, uses them too)

--- study.usage_error(fmt, ...): raises { usage = message }, a bad flag.
local function usage_error(fmt, ...)
  error({ usage = fmt:format(...) }, 0)
end
M.usage_error = usage_error

--- study.member(list, v) -> whether v is in list.
local function member(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end
M.member = member

--- study.shell_quote(s) -> s as one word for sh.
function M.shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- A flag table's rows: { flag, metavar (nil: a switch), help, option key }.

--- study.flag_value(f, argv, i, inline, parse) -> the value of flag f found
-- at argv[i] (inline: its text after '=', else the next argument; true for
-- a switch), checked by parse[key] when there is one, and the index of the
-- last argument it took.
function M.flag_value(f, argv, i, inline, parse)
  if f[2] == nil then
    if inline then usage_error("%s takes no value", f[1]) end
    return true, i
  end
  local v = inline
  if v == nil then
    i = i + 1
    v = argv[i]
    if v == nil then usage_error("%s needs a value (%s)", f[1], f[2]) end
  end
  return parse[f[4]] and parse[f[4]](f[1], v) or v, i
end

--- study.flag_line(f [, default]) -> flag f's line in --help.
function M.flag_line(f, default)
  local left = f[1] .. (f[2] and (" " .. f[2]) or "")
  return ("  %-24s %s%s"):format(left, f[3], default and (" (default " .. default .. ")") or "")
end

--- study.parse_or_exit(script, parse, ...) -> parse(...); on a bad flag
-- ({ usage = message }) the message and a hint on stderr, exit status 2.
function M.parse_or_exit(script, parse, ...)
  local ok, o = pcall(parse, ...)
  if not ok then
    if type(o) == "table" and o.usage then
      io.stderr:write(("%s: %s\nTry 'synlua %s --help' for the flags.\n"):format(script, o.usage, script))
      os.exit(2)
    end
    error(o, 0)
  end
  return o
end

--- study.message(err) -> an error for people: positions inside synlua's
-- own files say nothing to them.
function M.message(err)
  return (tostring(err):gsub("^[^\n]-synlua/[%w_/]+%.lua:%d+: ", ""))
end

-- ------------------------------------------------------------------ flags

local function posint(flag, v)
  local n = math.tointeger(tonumber(v))
  if n == nil or n < 1 or not v:match("^%s*%d+%s*$") then
    usage_error("%s expects a positive integer, got '%s'", flag, v)
  end
  return n
end

local function int_list(flag, v)
  local out = {}
  for item in (v .. ","):gmatch("([^,]*),") do
    if item == "" then usage_error("%s expects a comma-separated list of positive integers, got '%s'", flag, v) end
    out[#out + 1] = posint(flag, item)
  end
  return out
end

local PARSE = {
  epochs = posint, trials = posint, threads = posint, mc_samples = posint, stop_after = posint,
  seq_len = int_list, leaky_leads = int_list,
  seed = function(flag, v)
    local n = math.tointeger(tonumber(v))
    if n == nil or not v:match("^%s*%-?%d+%s*$") then usage_error("%s expects an integer, got '%s'", flag, v) end
    return n
  end,
  methods = function(flag, v)
    local out = {}
    for item in (v .. ","):gmatch("([^,]*),") do
      if not member(sy.train.METHODS, item) then
        usage_error("%s: unknown method '%s' (methods: %s)", flag, item, table.concat(sy.train.METHODS, ", "))
      end
      if member(out, item) then usage_error("%s: method '%s' is listed twice", flag, item) end
      out[#out + 1] = item
    end
    return out
  end,
  protocol = function(flag, v)
    if not member(sy.train.PROTOCOLS, v) then
      usage_error("%s expects paper or clean, got '%s'", flag, v)
    end
    return v
  end,
}

--- study.parse_flags(flags, parse, argv, o [, other]) -> o: reads the
-- flags of argv (`--flag value` or `--flag=value`) that are rows of flags
-- ({flag, value name, help, key}) into o[key], each value through
-- study.flag_value with `parse`. Any other argument goes to
-- other(arg, name, inline, i), which returns the index of the last argument
-- it took; without `other` it is a usage error. The scripts, the grid and
-- the benchmarks parse their flags with it.
function M.parse_flags(flags, parse, argv, o, other)
  local by_flag = {}
  for _, f in ipairs(flags) do by_flag[f[1]] = f end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    local f = by_flag[name]
    if f then
      o[f[4]], i = M.flag_value(f, argv, i, inline, parse)
    elseif other then
      i = other(a, name, inline, i)
    elseif a:sub(1, 1) == "-" then
      usage_error("unknown flag %s", name)
    else
      usage_error("unexpected argument '%s' (the scripts take only flags)", a)
    end
    i = i + 1
  end
  return o
end

--- study.parse_args(argv [, defaults]) -> options: the flags above over the
-- defaults (M.DEFAULTS, then `defaults`). Raises { usage = message } on a
-- bad flag.
function M.parse_args(argv, defaults)
  local o = {}
  for k, v in pairs(M.DEFAULTS) do o[k] = v end
  for k, v in pairs(defaults or {}) do o[k] = v end
  M.parse_flags(FLAGS, PARSE, argv, o)
  if o.stop_after and not (o.save or o.resume) then
    usage_error("--stop-after needs --save PATH (or --resume PATH) to keep the work done")
  end
  if o.leaky_leads and o.protocol ~= "paper" then
    usage_error("--leaky-leads puts future target values into the inputs; only --protocol paper allows it")
  end
  if type(o.seq_len) == "number" then o.seq_len = { o.seq_len } end
  return o
end

--- study.help(spec) -> the --help text of a script.
function M.help(spec)
  local d = M.script_defaults(spec)
  local script = spec.script or ("scripts/%s_%s.lua"):format(spec.model, spec.dataset)
  local lines = { ("usage: synlua %s [flags]"):format(script), "" }
  local text = spec.description or ("The paper's %s on %s: each method at each sequence length, over several "
    .. "seeds."):format(spec.model, spec.dataset)
  local line = ""
  for word in text:gmatch("%S+") do      -- wrapped at 78 columns
    if line ~= "" and #line + 1 + #word > 78 then
      lines[#lines + 1] = line
      line = word
    else
      line = line == "" and word or line .. " " .. word
    end
  end
  lines[#lines + 1] = line
  lines[#lines + 1] = ""
  lines[#lines + 1] = "flags:"
  local defaults = {
    epochs = tostring(d.epochs), trials = tostring(d.trials), seq_len = table.concat(d.seq_len, ","),
    methods = table.concat(d.methods, ","), protocol = d.protocol, seed = tostring(d.seed),
    threads = tostring(d.threads),
  }
  for _, f in ipairs(FLAGS) do lines[#lines + 1] = M.flag_line(f, defaults[f[4]]) end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Progress goes to stderr; results to stdout. Data: --data DIR, else $SYNLUA_DATA, else datasets/."
  lines[#lines + 1] = "Exit status: 0 done, 1 error, 2 bad flag, 3 stopped by --stop-after, 4 done but some"
  lines[#lines + 1] = "trials failed (a NaN or infinite loss: the trial stops, its message goes to stderr and to"
  lines[#lines + 1] = "its configuration's trials_failed and error fields)."
  return table.concat(lines, "\n")
end

function M.script_defaults(spec)
  local d = {}
  for k, v in pairs(M.DEFAULTS) do d[k] = v end
  for k, v in pairs(spec.defaults or {}) do d[k] = v end
  return d
end

-- ------------------------------------------------------------ formatting

--- study.exact(x) -> the shortest decimal text that reads back as the same
-- double.
local function exact(x)
  if math.type(x) == "integer" then return tostring(x) end
  for digits = 15, 17 do
    local s = ("%." .. digits .. "g"):format(x)
    if tonumber(s) == x then return s end
  end
  return ("%.17g"):format(x)
end
M.exact = exact

--- study.finite(x) -> whether x is a number, neither NaN nor infinite.
local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end
M.finite = finite

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
    return named[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function json_value(v)
  if type(v) == "number" then return finite(v) and exact(v) or "null" end
  if type(v) == "string" then return json_string(v) end
  if type(v) == "boolean" then return tostring(v) end
  return "null"
end

-- The fields of a summary, in the order they are written (JSON and CSV).
M.SUMMARY_FIELDS = {
  "model", "dataset", "seq_len", "method", "protocol", "trials", "epochs_mean", "mae_mean", "mae_ci_low",
  "mae_ci_high", "mae_std", "mse_mean", "rmse_mean", "sparsity_mean", "sparsity_target", "seconds_per_epoch",
  "peak_rss_mb", "dropout", "mc_samples", "mc_std_mean", "eval_split", "features", "train_windows",
  "eval_windows", "seed", "threads", "trials_failed", "error",
}

M.TRIAL_FIELDS = {
  "model", "dataset", "seq_len", "method", "protocol", "trial", "seed", "epochs", "best_epoch", "stopped_early",
  "mae", "mse", "rmse", "sparsity", "sparsity_target", "mc_std", "seconds_per_epoch", "seconds", "peak_rss_mb",
  "status", "error",
}

--- study.failed(row) -> whether a trial row is of a failed trial (status
-- "failed"; rows without a status finished).
function M.failed(r) return r.status == "failed" end

--- study.json(row [, fields]) -> one line of JSON with the fields in order
-- (absent and non-finite values are null).
function M.json(row, fields)
  local parts = {}
  for i, k in ipairs(fields or M.SUMMARY_FIELDS) do parts[i] = json_string(k) .. ":" .. json_value(row[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function csv_cell(v)
  if type(v) == "number" then return finite(v) and exact(v) or "" end
  if v == nil then return "" end
  local s = tostring(v)
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

--- study.csv_line(row, fields) -> one CSV line of the fields in order, with
-- its newline (absent and non-finite numbers are empty cells).
function M.csv_line(row, fields)
  local cells = {}
  for i, k in ipairs(fields) do cells[i] = csv_cell(row[k]) end
  return table.concat(cells, ",") .. "\n"
end

-- Writes text to path through a temporary file and a rename, so a reader
-- never sees half a file.
local function write_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then error(("cannot write %s: %s"):format(tmp, err), 0) end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then
    os.remove(tmp)
    error(("cannot rename %s to %s: %s"):format(tmp, path, rerr), 0)
  end
end
M.write_atomic = write_atomic

--- study.csv_text(rows, fields) -> a whole CSV file: the header, then a line
-- per row.
function M.csv_text(rows, fields)
  local parts = { table.concat(fields, ",") .. "\n" }
  for _, r in ipairs(rows) do parts[#parts + 1] = M.csv_line(r, fields) end
  return table.concat(parts)
end

-- ------------------------------------------------------------- the table

-- A number for people: 4 decimals, or 4 digits in e-notation when very large
-- or small; right-aligned in `width` columns (0: no padding).
local function fmt_num(x, width)
  local s = "-"
  if finite(x) then
    local a = math.abs(x)
    s = (a ~= 0 and (a >= 1e5 or a < 1e-3)) and ("%.3e"):format(x) or ("%.4f"):format(x)
  end
  return width > 0 and (" "):rep(width - #s) .. s or s
end

local TABLE_HEAD = ("%7s  %-7s  %10s  %-23s  %10s  %6s  %8s  %7s  %7s")
  :format("seq_len", "method", "MAE", "95% CI", "RMSE", "epochs", "sparsity", "s/epoch", "peak MB")

local function table_row(s)
  if s.trials == 0 then
    return ("%7d  %-7s  %s failed (non-finite loss; the messages are on stderr)"):format(s.seq_len, s.method,
      s.trials_failed == 1 and "the trial" or ("all %d trials"):format(s.trials_failed))
  end
  local ci = finite(s.mae_ci_low) and ("[%s, %s]"):format(fmt_num(s.mae_ci_low, 0), fmt_num(s.mae_ci_high, 0))
    or "-"
  return ("%7d  %-7s  %s  %-23s  %s  %6.1f  %7.1f%%  %7.3f  %7.1f"):format(s.seq_len, s.method,
    fmt_num(s.mae_mean, 10), ci, fmt_num(s.rmse_mean, 10), s.epochs_mean, 100 * s.sparsity_mean,
    s.seconds_per_epoch, s.peak_rss_mb or 0)
    .. (s.trials_failed > 0 and ("  (%d failed)"):format(s.trials_failed) or "")
end

-- ----------------------------------------------------------- checkpoints

local TRIAL_KEYS = {
  seq_len = "i", method = "s", trial = "i", seed = "i", epochs = "i", best_epoch = "i", stopped_early = "b",
  mae = "n", mse = "n", rmse = "n", sparsity = "n", sparsity_target = "n", mc_std = "n",
  seconds_per_epoch = "n", seconds = "n", peak_rss_mb = "n", status = "s", error = "s",
}

-- Text values are escaped so that ',', ';' and '=' separate only fields.
local function escape(v) return (v:gsub("[%%,;=]", function(c) return ("%%%02X"):format(c:byte()) end)) end
local function unescape(v) return (v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) end

local function encode_trials(rows)
  local out = {}
  for i, r in ipairs(rows) do
    local parts = {}
    for k in pairs(TRIAL_KEYS) do
      local v = r[k]
      if v ~= nil then
        parts[#parts + 1] = k .. "=" .. (type(v) == "number" and ("%.17g"):format(v) or escape(tostring(v)))
      end
    end
    table.sort(parts)
    out[i] = table.concat(parts, ",")
  end
  return table.concat(out, ";")
end

local function decode_trials(s)
  local rows = {}
  for item in (s or ""):gmatch("[^;]+") do
    local r = {}
    for k, v in item:gmatch("([%w_]+)=([^,]*)") do
      local kind = TRIAL_KEYS[k]
      if kind == "i" then r[k] = math.tointeger(tonumber(v))
      elseif kind == "n" then r[k] = tonumber(v)
      elseif kind == "b" then r[k] = v == "true"
      elseif kind == "s" then r[k] = unescape(v) end
    end
    rows[#rows + 1] = r
  end
  return rows
end

local function trial_key(L, method, t) return ("L=%d method=%s trial=%d"):format(L, method, t) end

-- ------------------------------------------------------------------ data

local DataSource = {}
DataSource.__index = DataSource

--- study.data_source(o) -> the study's data pipeline (the header of this
-- file): source:frame(dataset, protocol) -> the engineered frame and its
-- input features (nil under the clean protocol: sy.data.prepare's own);
-- source:windows(dataset, protocol, L) -> sy.data.prepare's windows. o:
-- data (directory), leaky_leads. It keeps the last frame and the last
-- length's windows: callers ask for one dataset and length at a time.
function M.data_source(o)
  return setmetatable({ o = o, windows_of = {} }, DataSource)
end

function DataSource:frame(dataset, protocol)
  local key = dataset .. "/" .. protocol
  if self.loaded == nil or self.loaded.key ~= key then
    local frame = sy.datasets.load(dataset, { data = self.o.data, protocol = protocol,
                                             leaky_leads = self.o.leaky_leads })
    local features
    if protocol == "paper" then
      -- the reference code drops the target from the inputs
      features = {}
      for _, name in ipairs(frame:columns_of("number")) do
        if name ~= frame.target then features[#features + 1] = name end
      end
    end
    self.loaded, self.windows_of = { key = key, frame = frame, features = features }, {}
  end
  return self.loaded.frame, self.loaded.features
end

function DataSource:windows(dataset, protocol, L)
  local frame, features = self:frame(dataset, protocol)
  if self.windows_of[L] == nil then
    self.windows_of = { [L] = sy.data.prepare(frame, { seq_len = L, protocol = protocol, features = features }) }
  end
  return self.windows_of[L]
end

-- ------------------------------------------------------------------- run

--- study.summarise(base, trials) -> the summary of a configuration: a copy
-- of base with, over the finished trials, their count, the MAE's mean, std
-- and 95% t-interval, the means of epochs, MSE, RMSE, sparsity, sparsity
-- target, seconds per epoch and MC std, and the largest peak_rss_mb and
-- tensor_peak_mb; and the count of failed trials (trials_failed) with the
-- first one's message (error).
function M.summarise(base, all)
  local maes, s, trials = {}, {}, {}
  for k, v in pairs(base) do s[k] = v end
  s.trials_failed = 0
  for _, r in ipairs(all) do
    if M.failed(r) then
      s.trials_failed = s.trials_failed + 1
      s.error = s.error or r.error
    else
      trials[#trials + 1] = r
    end
  end
  s.trials = #trials
  if #trials == 0 then return s end
  local function mean(field)
    local sum, n = 0, 0
    for _, r in ipairs(trials) do
      if r[field] ~= nil then sum, n = sum + r[field], n + 1 end
    end
    return n > 0 and sum / n or nil
  end
  local function peak(field)
    local m
    for _, r in ipairs(trials) do
      if r[field] and (m == nil or r[field] > m) then m = r[field] end
    end
    return m
  end
  for i, r in ipairs(trials) do maes[i] = r.mae end
  local ci = sy.stats.t_interval(maes)
  s.mae_mean, s.mae_std = ci.mean, ci.std
  s.mae_ci_low, s.mae_ci_high = ci.lower, ci.upper
  s.epochs_mean, s.mse_mean, s.rmse_mean = mean("epochs"), mean("mse"), mean("rmse")
  s.sparsity_mean, s.sparsity_target = mean("sparsity"), mean("sparsity_target")
  s.seconds_per_epoch, s.mc_std_mean = mean("seconds_per_epoch"), mean("mc_std")
  s.peak_rss_mb, s.tensor_peak_mb = peak("peak_rss_mb"), peak("tensor_peak_mb")
  return s
end

--- study.run(o) -> summaries, finished, failed: runs the grid. o: model,
-- dataset and the parsed flags (epochs, trials, seq_len, methods, protocol,
-- seed, threads, data, out, json, quiet, mc_samples, leaky_leads, save,
-- resume, stop_after), plus prune (Pruner options for the prune method, e.g. a
-- schedule function), stdout and stderr (streams). Returns the summaries,
-- whether it finished (false: stopped by stop_after) and how many trials
-- failed (numerical trouble, see the top).
function M.run(o)
  local stdout, stderr = o.stdout or io.stdout, o.stderr or io.stderr
  local build = M.MODELS[o.model]
  if build == nil then
    error(("study: model must be one of rnn, lstm, patchtst, got %s"):format(tostring(o.model)), 0)
  end
  if o.threads then sy.set_num_threads(o.threads) end
  local started = sy._now()
  local progress = sy.train.progress({ mode = o.quiet and "quiet" or "auto", stream = stderr })
  -- a failed trial is said even with --quiet: it is not progress
  local function warn(text)
    if o.quiet then
      stderr:write(text, "\n")
      stderr:flush()
    else
      progress:note(text)
    end
  end

  local identity = ("model=%s dataset=%s protocol=%s seq_len=%s methods=%s trials=%d epochs=%d seed=%d "
    .. "mc_samples=%s leaky_leads=%s"):format(o.model, o.dataset, o.protocol, table.concat(o.seq_len, ","),
    table.concat(o.methods, ","), o.trials, o.epochs, o.seed, tostring(o.mc_samples),
    o.leaky_leads and table.concat(o.leaky_leads, ",") or "-")
  local done, ck = {}, nil
  local save_path = o.save or o.resume
  if o.resume then
    local ok, tensors, meta = pcall(sy.load, o.resume)
    if not ok then error(("cannot resume from %s: %s"):format(o.resume, tostring(tensors)), 0) end
    if meta == nil or meta["study.identity"] == nil then
      error(("cannot resume from %s: it is not a study checkpoint"):format(o.resume), 0)
    end
    if meta["study.identity"] ~= identity then
      error(("cannot resume from %s: it was written by another study\n  checkpoint: %s\n  this run:   %s\n"
        .. "rerun with the checkpoint's flags"):format(o.resume, meta["study.identity"], identity), 0)
    end
    for _, r in ipairs(decode_trials(meta["study.done"])) do done[trial_key(r.seq_len, r.method, r.trial)] = r end
    if meta["train.identity"] and meta["study.current"] ~= "" then
      ck = { tensors = tensors, meta = meta, path = o.resume, key = meta["study.current"] }
    end
  end
  local finished = {}
  -- What a checkpoint says about the study: which one, the finished trials,
  -- and the trial whose state it holds ("" between trials).
  local function study_meta(current)
    return { ["study.identity"] = identity, ["study.done"] = encode_trials(finished), ["study.current"] = current }
  end

  local data = M.data_source(o)
  local frame = data:frame(o.dataset, o.protocol)

  local configs = {}
  for _, L in ipairs(o.seq_len) do
    for _, method in ipairs(o.methods) do configs[#configs + 1] = { L = L, method = method } end
  end
  local total_trials = #configs * o.trials
  local trials_started = 0
  local budget = o.stop_after
  local summaries, all_trials, failed = {}, {}, 0
  local base_name = ("%s_%s_%s"):format(o.model, o.dataset, o.protocol)

  if not o.json then
    local seeds = o.trials == 1 and ("seed %d"):format(o.seed)
      or ("seeds %d-%d"):format(o.seed, o.seed + o.trials - 1)
    local function count(n, what) return ("%d %s%s"):format(n, what, n == 1 and "" or "s") end
    stdout:write(("%s on %s: %s protocol, %s (%s), at most %s, %s\n"):format(o.model, o.dataset, o.protocol,
      count(o.trials, "trial"), seeds, count(o.epochs, "epoch"), count(sy.get_num_threads(), "thread")))
    stdout:write(("MAE and RMSE in units of '%s' on the %s; 95%% t-interval over the trials\n"):format(frame.target,
      o.protocol == "paper" and "validation windows (the paper protocol has no test set)" or "test windows"))
    stdout:write(TABLE_HEAD, "\n")
    stdout:flush()
  end

  for ci, c in ipairs(configs) do
    local d = data:windows(o.dataset, o.protocol, c.L)
    local D = d.train.X:size(3)
    local nbatches = (d.train.X:size(1) + 63) // 64
    local settings = sy.train.method_settings(c.method, { protocol = o.protocol, arch = o.model })
    local rows = {}
    for t = 1, o.trials do
      trials_started = trials_started + 1
      local key = trial_key(c.L, c.method, t)
      local r = done[key]
      if r == nil then
        if budget and budget <= 0 then return summaries, false, failed end
        local label = ("%s %s L=%d %s [%d/%d] trial %d/%d"):format(o.model, o.dataset, c.L, c.method, ci,
          #configs, t, o.trials)
        progress:begin(label, (total_trials - trials_started + 1) * o.epochs * nbatches)
        local resume = ck and ck.key == key and ck or nil
        local ok, res = pcall(sy.train.trial, {
          model = function(mo) return build(D, c.L, mo.dropout) end,
          data = d, method = c.method, protocol = o.protocol, arch = o.model, seed = o.seed + t - 1,
          epochs = o.epochs, mc_samples = settings.eval_mode == "mc" and o.mc_samples or nil,
          prune = c.method == "prune" and o.prune or nil, progress = progress,
          save = save_path, resume = resume, stop_after = budget, meta = save_path and study_meta(key) or nil,
        })
        if not ok then
          if not sy.train.nonfinite(res) then error(res, 0) end
          r = { seq_len = c.L, method = c.method, trial = t, seed = o.seed + t - 1, status = "failed",
                error = M.message(res) }
          warn(("%s: failed: %s"):format(label, r.error))
        else
          if budget then budget = budget - res.trained end
          if res.interrupted then
            progress:note(("%s: stopped after %d epochs (--stop-after); continue with --resume %s")
              :format(label, res.epochs, save_path))
            return summaries, false, failed
          end
          r = { seq_len = c.L, method = c.method, trial = t, seed = res.seed, epochs = res.epochs,
                best_epoch = res.best_epoch, stopped_early = res.stopped_early, mae = res.mae, mse = res.mse,
                rmse = res.rmse, sparsity = res.sparsity, sparsity_target = res.sparsity_target,
                mc_std = res.mc_std, seconds_per_epoch = res.seconds_per_epoch, seconds = res.seconds,
                peak_rss_mb = res.peak_rss_mb, status = "finished" }
          progress:note(("%s: MAE %s  RMSE %s  %d epochs%s  %.3f s/epoch"):format(label,
            fmt_num(r.mae, 0), fmt_num(r.rmse, 0), r.epochs,
            c.method == "prune" and ("  sparsity %.1f%%"):format(100 * r.sparsity) or "", r.seconds_per_epoch))
        end
      end
      if M.failed(r) then failed = failed + 1 end
      finished[#finished + 1] = r
      if save_path and done[key] == nil then sy.save(save_path, {}, study_meta("")) end
      r.model, r.dataset, r.protocol = o.model, o.dataset, o.protocol
      rows[#rows + 1] = r
      all_trials[#all_trials + 1] = r
    end
    local s = M.summarise({
      model = o.model, dataset = o.dataset, seq_len = c.L, method = c.method, protocol = o.protocol,
      dropout = settings.dropout, mc_samples = settings.eval_mode == "mc" and (o.mc_samples or settings.mc_samples)
        or nil,
      eval_split = o.protocol == "paper" and "val" or "test", features = D, train_windows = d.train.X:size(1),
      eval_windows = (o.protocol == "paper" and d.val or d.test).X:size(1), seed = o.seed,
      threads = sy.get_num_threads(),
    }, rows)
    summaries[#summaries + 1] = s
    if o.json then stdout:write(M.json(s), "\n") else stdout:write(table_row(s), "\n") end
    stdout:flush()
    if o.out then
      os.execute("mkdir -p " .. M.shell_quote(o.out))
      write_atomic(o.out .. "/" .. base_name .. "_trials.csv", M.csv_text(all_trials, M.TRIAL_FIELDS))
      write_atomic(o.out .. "/" .. base_name .. "_summary.csv", M.csv_text(summaries, M.SUMMARY_FIELDS))
    end
  end
  if not o.json then
    if failed > 0 then
      stdout:write(("%d of %d trials failed (non-finite loss); the statistics leave them out\n"):format(failed,
        total_trials))
    end
    stdout:write(("finished in %.1f s\n"):format(sy._now() - started))
  end
  return summaries, true, failed
end

--- study.main(spec, argv): a study script's whole body. spec: model (rnn,
-- lstm, patchtst), dataset (a sy.datasets name), defaults (flag defaults
-- over M.DEFAULTS), description (for --help), prune (Pruner options for the
-- prune method, over its preset: e.g. {schedule = function(epoch) ... end}).
-- Exits with status 2 on a bad flag, 1 on an error, 3 when --stop-after
-- stopped the study before its end, 4 when it ended but some trials failed
-- (numerical trouble: their messages are on stderr and in the output).
function M.main(spec, argv)
  argv = argv or {}
  local script = spec.script or (arg and arg[0]) or ("scripts/%s_%s.lua"):format(spec.model, spec.dataset)
  spec.script = script
  local list = {}
  for i = 1, #argv do list[i] = argv[i] end
  local o = M.parse_or_exit(script, M.parse_args, list, spec.defaults)
  if o.help then
    io.stdout:write(M.help(spec), "\n")
    return
  end
  o.model, o.dataset, o.prune = spec.model, spec.dataset, spec.prune
  local run_ok, err_or_summaries, complete, failed = pcall(M.run, o)
  io.stdout:flush()
  if not run_ok then
    -- on a terminal the progress bar may still be on the line
    io.stderr:write(sy.train.stderr_is_terminal() and "\r\27[K" or "",
      ("%s: %s\n"):format(script, M.message(err_or_summaries)))
    os.exit(1)
  end
  if not complete then os.exit(3) end
  if failed > 0 then
    io.stderr:write(("%s: %d trial%s failed (non-finite loss); see the messages above\n"):format(script, failed,
      failed == 1 and "" or "s"))
    os.exit(4)
  end
  return err_or_summaries
end

return M
