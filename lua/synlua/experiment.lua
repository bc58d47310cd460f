-- sy.experiment: the whole study as one grid of trials, architectures x
-- datasets x protocols x sequence lengths x methods x seeds
-- (scripts/paper_grid.lua is its command line).
--
--   local ex = sy.experiment
--   local o = ex.parse_args({ "--arch", "lstm", "--datasets", "sp500", "--seq-len", "7",
--                             "--trials", "2", "--out", "/tmp/g" })
--   ex.run(o)                         -- trials appended to /tmp/g/trials.csv
--   local rows = ex.read_results("/tmp/g/trials.csv")
--
-- Results. One row per finished trial goes to the results CSV
-- (<out>/trials.csv; <out>/trials.shard-I-of-N.csv for --shard I/N) the
-- moment the trial ends. A row is keyed by its configuration and seed
-- (M.key); a rerun of the same command reads the file first and runs only
-- the trials whose keys are missing, so an interrupted grid resumes with
-- nothing lost and nothing run twice (a trial cut off mid-way starts again).
--
-- Why appending is safe. A row is appended by one write(2) on a descriptor
-- opened with O_APPEND (the line is formatted whole, then flushed from a
-- buffer larger than any row): a process killed at any instant, kill -9
-- included, leaves either the whole row or none of it, and the worker
-- processes of --jobs can share the file because the kernel serialises
-- appends to a local file (one grid process per results file: a lock file
-- beside it says which). Rewriting the whole file to a temporary and
-- renaming it over the old one would be just as safe against a kill, but
-- costs O(rows) per trial and loses rows when several writers rename in
-- turn. There is no fsync (Lua has none; `sync FILE` per trial would be a
-- process each): a process death leaves written data in the page cache, and
-- only a crash of the machine can lose the last rows or leave a torn tail.
-- The reader accepts only whole, well-formed rows, and a run that finds a
-- torn or malformed row rewrites the file without it (temporary + rename)
-- before appending, so the lost trials simply run again.
--
-- Parallelism. --jobs J starts J worker processes (the same script with
-- --shard and --worker) on disjoint slices of the grid and waits for them;
-- they append to the one results file. --shard I/N runs the I-th of N
-- slices (trial number k, counted in the fixed grid order, belongs to slice
-- (k - 1) % N + 1), so machines can split the grid and --merge combines
-- their files; under mpirun, --shard mpi takes I and N from the rank
-- (DESIGN.md §3: MPI shards the grid, --merge gathers the results). Slices are fixed by the grid, not by what is done, so any
-- mix of runs resumes correctly. After the last trial the file is rewritten
-- in a fixed order (M.sort_rows), so results do not depend on J.
--
-- Failed trials. A trial stopped by numerical trouble (a NaN or infinite
-- loss, sy.train.nonfinite) is recorded as a row with status "failed" and
-- the message in `error` (finished rows have status "finished"; a file
-- written before the status column existed reads as all finished), and the
-- grid goes on. A rerun skips recorded failures like finished trials (the
-- same seed fails the same way) unless --retry-failed is given, which
-- drops them from the file first. Summaries, the report and the JSON lines
-- leave failed trials out of the statistics and count them
-- (trials_failed); the grid's exit status is then 4. Any other error in a
-- trial (out of memory, a bug) stops the grid as before: it says nothing
-- about the configuration and must not be recorded as its result.
--
-- Per trial the row holds the trainer's metrics (sy.train.trial), the
-- pruning run's global sparsity after each epoch (sparsity_by_epoch, from
-- the pruner's history) and the peak of the bytes held by tensors during
-- the trial (tensor_peak_mb; peak_rss_mb is the process's high-water mark,
-- which only grows over a grid run).
local sy = require("synlua")
local study = require("synlua.study")

local M = {}

M.DEFAULTS = {
  archs = { "rnn", "lstm", "patchtst" }, datasets = { "sp500", "bitcoin", "airquality", "household" },
  methods = { "none", "dropout", "mc", "prune" }, seq_len = { 1, 3, 7, 14, 30, 60 }, trials = 10, epochs = 20,
  protocols = { "paper" }, seed = 42, threads = 1, jobs = 1,
}

-- The columns of the results CSV, in order. study.TRIAL_FIELDS are among
-- them, so a study script's per-trial CSV reads as results too.
M.FIELDS = {
  "key", "model", "dataset", "protocol", "seq_len", "method", "trial", "seed", "max_epochs", "mc_samples",
  "leaky_leads", "epochs", "best_epoch", "stopped_early", "mae", "mse", "rmse", "sparsity", "sparsity_target",
  "mc_std", "seconds_per_epoch", "seconds", "peak_rss_mb", "tensor_peak_mb", "dropout", "eval_split", "features",
  "train_windows", "eval_windows", "threads", "sparsity_by_epoch", "status", "error",
}

M.STATUSES = { "finished", "failed" }

local INTEGER_FIELDS = {
  seq_len = true, trial = true, seed = true, max_epochs = true, mc_samples = true, epochs = true,
  best_epoch = true, features = true, train_windows = true, eval_windows = true, threads = true,
}
local NUMBER_FIELDS = {
  mae = true, mse = true, rmse = true, sparsity = true, sparsity_target = true, mc_std = true,
  seconds_per_epoch = true, seconds = true, peak_rss_mb = true, tensor_peak_mb = true, dropout = true,
}

-- Orders used to sort rows and tables: the paper's, then alphabetical.
M.ORDER = {
  model = { "rnn", "lstm", "patchtst" },
  dataset = { "sp500", "bitcoin", "airquality", "household", "etth1", "etth2" },
  method = { "none", "dropout", "mc", "prune" },
  protocol = { "paper", "clean" },
}

local usage_error, member, shell_quote = study.usage_error, study.member, study.shell_quote
local finite, exact, csv_line = study.finite, study.exact, study.csv_line
local function fail(fmt, ...) error(fmt:format(...), 0) end

-- ------------------------------------------------------------------- keys

local function leads_text(v)
  if v == nil or v == "" then return nil end
  if type(v) == "table" then return #v > 0 and table.concat(v, ";") or nil end
  return (tostring(v):gsub(",", ";"))
end

--- experiment.key(row) -> the text that identifies a trial: protocol, model,
-- dataset, seq_len, method, max_epochs, seed, and mc_samples (mc) and
-- leaky_leads when set. Two rows with the same key are the same computation.
function M.key(r)
  local k = ("%s/%s/%s/L%s/%s/e%s/s%s"):format(r.protocol, r.model, r.dataset, tostring(r.seq_len), r.method,
    r.max_epochs and tostring(r.max_epochs) or "?", tostring(r.seed))
  if r.method == "mc" and r.mc_samples then k = k .. "/mc" .. tostring(r.mc_samples) end
  local leads = leads_text(r.leaky_leads)
  if leads then k = k .. "/leads" .. leads end
  return k
end

--- experiment.config_key(row) -> the key without the seed: the configuration
-- a trial belongs to.
function M.config_key(r)
  local copy = {}
  for k, v in pairs(r) do copy[k] = v end
  copy.seed = "*"
  return M.key(copy)
end

-- ------------------------------------------------------------------- CSV

-- Records of a CSV text: an array of arrays of strings, and whether the text
-- ended inside a record (a torn last line, which is not returned).
local function csv_records(text)
  local records, rec, pos, n = {}, {}, 1, #text
  while pos <= n do
    local c = text:sub(pos, pos)
    local cell
    if c == '"' then
      local parts, p = {}, pos + 1
      while true do
        local q = text:find('"', p, true)
        if q == nil then return records, true end
        parts[#parts + 1] = text:sub(p, q - 1)
        if text:sub(q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          p = q + 2
        else
          pos = q + 1
          break
        end
      end
      cell = table.concat(parts)
    else
      local e = text:find("[,\n]", pos) or n + 1
      cell = text:sub(pos, e - 1):gsub("\r$", "")
      pos = e
    end
    rec[#rec + 1] = cell
    local sep = text:sub(pos, pos)
    if sep == "," then
      pos = pos + 1
      if pos > n then return records, true end
    elseif sep == "\n" then
      records[#records + 1] = rec
      rec = {}
      pos = pos + 1
    elseif sep == "" then
      return records, true         -- no newline after the last record
    else
      records[#records + 1] = rec  -- text after a closing quote: a malformed record
      return records, true
    end
  end
  return records, false
end

-- A row from a record under the header, or nil and why it is not a row.
local function parse_row(header, rec)
  if #rec ~= #header then return nil, ("%d fields, the header has %d"):format(#rec, #header) end
  local r = {}
  for i, name in ipairs(header) do
    local s = rec[i]
    if s ~= "" then
      if INTEGER_FIELDS[name] then
        local v = math.tointeger(tonumber(s))
        if v == nil then return nil, ("%s '%s' is not an integer"):format(name, s) end
        r[name] = v
      elseif NUMBER_FIELDS[name] then
        local v = tonumber(s)
        if v == nil then return nil, ("%s '%s' is not a number"):format(name, s) end
        r[name] = v
      elseif name == "stopped_early" then
        r[name] = s == "true"
      else
        r[name] = s
      end
    end
  end
  r.status = r.status or "finished"   -- files from before the status column
  if not member(M.STATUSES, r.status) then return nil, ("status '%s' is not finished or failed"):format(r.status) end
  for _, need in ipairs({ "model", "dataset", "protocol", "seq_len", "method", "seed",
                          r.status == "finished" and "mae" or "error" }) do
    if r[need] == nil then return nil, ("no %s"):format(need) end
  end
  r.key = M.key(r)
  return r
end

--- experiment.read_results(path [, opts]) -> rows, info: the whole, well
-- formed rows of a results CSV (ours, or a study script's per-trial CSV),
-- numbers as numbers, status "finished" where the file has no status.
-- info: dropped (how many records were torn or malformed, with reasons in
-- info.problems), duplicates (rows whose key came earlier: the first is
-- kept, but a finished row replaces a failed one), header. A missing file
-- gives no rows unless opts.must_exist.
function M.read_results(path, opts)
  opts = opts or {}
  local info = { dropped = 0, duplicates = 0, problems = {} }
  local f = io.open(path, "rb")
  if f == nil then
    if opts.must_exist then fail("cannot read results %s: no such file", path) end
    info.missing = true
    return {}, info
  end
  local text = f:read("a")
  f:close()
  if text:find("\0", 1, true) then
    local n
    text, n = text:gsub("[^\n]*\0[^\n]*\n?", "")   -- lines a crash filled with zero bytes
    info.dropped = info.dropped + n
    info.problems[#info.problems + 1] = ("%d line%s with zero bytes"):format(n, n == 1 and "" or "s")
  end
  local records, torn = csv_records(text)
  if torn then
    info.dropped = info.dropped + 1
    info.problems[#info.problems + 1] = "an incomplete last line"
  end
  local header = records[1]
  if header == nil then return {}, info end
  info.header = header
  local rows, seen = {}, {}
  for i = 2, #records do
    local r, why = parse_row(header, records[i])
    if r == nil then
      info.dropped = info.dropped + 1
      info.problems[#info.problems + 1] = ("line %d: %s"):format(i, why)
    elseif seen[r.key] then
      info.duplicates = info.duplicates + 1
      local at = seen[r.key]
      if rows[at].status == "failed" and r.status == "finished" then rows[at] = r end
    else
      rows[#rows + 1] = r
      seen[r.key] = #rows
    end
  end
  return rows, info
end

local function rank_in(list, v)
  for i, x in ipairs(list) do if x == v then return i end end
  return #list + 1
end

--- experiment.sort_rows(rows): sorts in place by protocol, model, dataset,
-- seq_len, method (the paper's orders), max_epochs, seed, key (the last two
-- when rows have them: summaries have neither).
function M.sort_rows(rows)
  local O = M.ORDER
  table.sort(rows, function(a, b)
    local pa, pb = rank_in(O.protocol, a.protocol), rank_in(O.protocol, b.protocol)
    if pa ~= pb then return pa < pb end
    local ma, mb = rank_in(O.model, a.model), rank_in(O.model, b.model)
    if ma ~= mb then return ma < mb end
    local da, db = rank_in(O.dataset, a.dataset), rank_in(O.dataset, b.dataset)
    if da ~= db then return da < db end
    if a.dataset ~= b.dataset then return a.dataset < b.dataset end
    if a.seq_len ~= b.seq_len then return a.seq_len < b.seq_len end
    local ta, tb = rank_in(O.method, a.method), rank_in(O.method, b.method)
    if ta ~= tb then return ta < tb end
    if (a.max_epochs or 0) ~= (b.max_epochs or 0) then return (a.max_epochs or 0) < (b.max_epochs or 0) end
    if a.seed ~= b.seed then return (a.seed or 0) < (b.seed or 0) end
    return (a.key or "") < (b.key or "")
  end)
  return rows
end

--- experiment.write_results(path, rows): the whole file, atomically
-- (temporary + rename), in M.FIELDS order.
function M.write_results(path, rows)
  study.write_atomic(path, study.csv_text(rows, M.FIELDS))
end

-- The results file of a run, ready for appending: created with its header,
-- or repaired (torn or malformed rows dropped, old columns brought to
-- M.FIELDS) by an atomic rewrite, which also drops the failed rows when
-- retry_failed. Returns the rows it holds.
local function open_results(path, say, retry_failed)
  local rows, info = M.read_results(path)
  local same_header = info.header and table.concat(info.header, ",") == table.concat(M.FIELDS, ",")
  local kept = rows
  if retry_failed then
    kept = {}
    for _, r in ipairs(rows) do if r.status ~= "failed" then kept[#kept + 1] = r end end
    if #kept < #rows then say(("%s: %d failed trials run again (--retry-failed)"):format(path, #rows - #kept)) end
  end
  if info.missing or not same_header or info.dropped > 0 or info.duplicates > 0 or #kept < #rows then
    if info.dropped > 0 then
      say(("%s: dropped %d torn or malformed row%s (%s); those trials run again"):format(path, info.dropped,
        info.dropped == 1 and "" or "s", table.concat(info.problems, "; ")))
    end
    M.write_results(path, kept)
  end
  return kept
end

-- One grid process per results file: <results>.lock holds its pid, and a
-- lock whose process is gone (killed: no unlock) is taken over.
local function process_alive(pid)
  if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then return false end
  local f = io.open("/proc/" .. pid .. "/stat", "r")   -- a zombie (killed, not reaped) is gone too
  if f == nil then return true end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") ~= "Z"
end

-- Runs fn() holding the lock of the results file `path`.
local function with_lock(path, fn)
  local lockfile = path .. ".lock"
  local f = io.open(lockfile, "r")
  if f then
    local pid = f:read("l")
    f:close()
    if pid and pid:match("^%d+$") and process_alive(pid) then
      fail("another grid (process %s) is writing %s; wait for it to end or stop it", pid, path)
    end
  end
  local h = io.popen("echo $PPID")   -- the shell's parent: this process
  local me = h:read("l")
  h:close()
  study.write_atomic(lockfile, me .. "\n")
  local ok, res = pcall(fn)
  os.remove(lockfile)
  if not ok then error(res, 0) end
  return res
end

local Appender = {}
Appender.__index = Appender

local ROW_BUFFER = 1 << 16

local function appender(path)
  local f, err = io.open(path, "a")
  if f == nil then fail("cannot append to %s: %s", path, err) end
  f:setvbuf("full", ROW_BUFFER)
  return setmetatable({ f = f, path = path }, Appender)
end

-- One row, one write(2): the buffer holds the whole line until the flush.
function Appender:append(row)
  local line = csv_line(row, M.FIELDS)
  if #line >= ROW_BUFFER then fail("results row of %d bytes is too long to append at once", #line) end
  local ok, err = self.f:write(line)
  if ok then ok, err = self.f:flush() end
  if not ok then fail("cannot append to %s: %s", self.path, tostring(err)) end
end

function Appender:close() self.f:close() end

-- ------------------------------------------------------------ the grid

--- experiment.plan(o) -> trials: every trial of the grid in its fixed order
-- (dataset, protocol, seq_len, model, method, seed: the data of a dataset
-- and length is prepared once), each { key, model, dataset, protocol,
-- seq_len, method, trial, seed, max_epochs, mc_samples, leaky_leads, index }.
function M.plan(o)
  local out = {}
  local leads = leads_text(o.leaky_leads)
  for _, dataset in ipairs(o.datasets) do
    for _, protocol in ipairs(o.protocols) do
      for _, L in ipairs(o.seq_len) do
        for _, model in ipairs(o.archs) do
          for _, method in ipairs(o.methods) do
            local s = sy.train.method_settings(method, { protocol = protocol, arch = model })
            for t = 1, o.trials do
              local r = { model = model, dataset = dataset, protocol = protocol, seq_len = L, method = method,
                          trial = t, seed = o.seed + t - 1, max_epochs = o.epochs, leaky_leads = leads,
                          mc_samples = s.eval_mode == "mc" and (o.mc_samples or s.mc_samples) or nil,
                          dropout = s.dropout }
              r.key = M.key(r)
              r.index = #out + 1
              out[#out + 1] = r
            end
          end
        end
      end
    end
  end
  return out
end

--- experiment.slice(trials, i, n) -> the i-th of n disjoint slices (trial k
-- of the plan goes to slice (k - 1) % n + 1).
function M.slice(trials, i, n)
  local out = {}
  for _, t in ipairs(trials) do
    if (t.index - 1) % n + 1 == i then out[#out + 1] = t end
  end
  return out
end

local function results_path(o)
  if o.results then return o.results end
  if o.out == nil then return nil end
  if o.shard then return ("%s/trials.shard-%d-of-%d.csv"):format(o.out, o.shard[1], o.shard[2]) end
  return o.out .. "/trials.csv"
end
M.results_path = results_path

local function summary_path(results)
  local dir, base = results:match("^(.*/)([^/]*)$")
  if dir == nil then dir, base = "", results end
  local s, n = base:gsub("^trials", "summary")
  if n == 0 then s = base:gsub("%.csv$", "") .. "_summary.csv" end
  return dir .. s
end

-- ------------------------------------------------------------ flags

local GRID_FLAGS = {
  { "--arch", "A[,A...]", "architectures: rnn, lstm, patchtst", "archs" },
  { "--datasets", "D[,D...]", "datasets: sp500, bitcoin, airquality, household (etth1, etth2)", "datasets" },
  { "--protocol", "P[,P...]", "paper (the reference code's) and/or clean (corrected)", "protocols" },
  { "--jobs", "N", "worker processes on this machine", "jobs" },
  { "--shard", "I/N", "run only the I-th of N disjoint slices of the grid ('mpi': the rank's under mpirun)", "shard" },
  { "--merge", nil, "combine the result files given as arguments into --out (or --results)", "merge" },
  { "--grid", "FILE", "the grid as a Lua table (file returning {archs = ..., ...}); flags override it", "grid" },
  { "--report", "DIR", "write the report (tables, figures, index.html) there at the end", "report" },
  { "--results", "FILE", "the per-trial results CSV (default <out>/trials.csv)", "results" },
  { "--retry-failed", nil, "run again the trials recorded as failed (NaN/Inf loss; a rerun skips them otherwise)",
    "retry_failed" },
  { "--worker", nil, nil, "worker" },   -- internal: a --jobs child
}

-- The study flags that also apply to the grid (study.parse_args parses them).
local STUDY_FLAGS = {
  { "--method", "M[,M...]", "none, dropout, mc, prune" },
  { "--seq-len", "L[,L...]", "window lengths, e.g. 1,3,7,14,30,60" },
  { "--trials", "N", "trials per configuration, seeded S, S+1, ..." },
  { "--epochs", "N", "most epochs per trial" },
  { "--seed", "S", "seed of the first trial" },
  { "--data", "DIR", "dataset directory (else $SYNLUA_DATA, else datasets/)" },
  { "--out", "DIR", "results and summary CSV there" },
  { "--threads", "T", "threads of synlua and OpenBLAS (per process)" },
  { "--mc-samples", "T", "passes of MC dropout (default: 1 paper, 50 clean)" },
  { "--leaky-leads", "K[,K...]", "add target leads (future values; paper protocol only)" },
  { "--json", nil, "one JSON object per configuration per line on stdout" },
  { "--quiet", nil, "no progress on stderr" },
  { "--help", nil, "this text" },
}

local STUDY_TAKES_VALUE = { ["--save"] = true, ["--resume"] = true, ["--stop-after"] = true }
for _, f in ipairs(STUDY_FLAGS) do STUDY_TAKES_VALUE[f[1]] = f[2] ~= nil end

local function list_of(flag, v, allowed, what)
  local out = {}
  for item in (v .. ","):gmatch("([^,]*),") do
    if not member(allowed, item) then
      usage_error("%s: unknown %s '%s' (%ss: %s)", flag, what, item, what, table.concat(allowed, ", "))
    end
    if member(out, item) then usage_error("%s: %s '%s' is listed twice", flag, what, item) end
    out[#out + 1] = item
  end
  return out
end

local GRID_PARSE = {
  archs = function(flag, v) return list_of(flag, v, sy.train.ARCHS, "architecture") end,
  datasets = function(flag, v) return list_of(flag, v, sy.datasets.NAMES, "dataset") end,
  protocols = function(flag, v) return list_of(flag, v, sy.train.PROTOCOLS, "protocol") end,
  jobs = function(flag, v)
    local n = v:match("^%d+$") and math.tointeger(tonumber(v))
    if not n or n < 1 then usage_error("%s expects a positive integer, got '%s'", flag, v) end
    return n
  end,
  shard = function(flag, v)
    if v == "mpi" then
      -- under mpirun each rank runs its own slice (Open MPI's or MPICH's variables)
      local rank = os.getenv("OMPI_COMM_WORLD_RANK") or os.getenv("PMI_RANK")
      local size = os.getenv("OMPI_COMM_WORLD_SIZE") or os.getenv("PMI_SIZE")
      if not (rank and size and rank:match("^%d+$") and size:match("^%d+$")) then
        usage_error("%s mpi: no MPI rank in the environment (OMPI_COMM_WORLD_RANK/SIZE or PMI_RANK/SIZE); "
          .. "start it with mpirun", flag)
      end
      v = ("%d/%s"):format(tonumber(rank) + 1, size)
    end
    local i, n = v:match("^(%d+)/(%d+)$")
    i, n = math.tointeger(tonumber(i)), math.tointeger(tonumber(n))
    if not i or n < 1 or i < 1 or i > n then
      usage_error("%s expects I/N with 1 <= I <= N (e.g. 2/4), got '%s'", flag, v)
    end
    return { i, n }
  end,
}

-- The keys a --grid file may set, with a check for each.
local function check_list(name, v, check)
  if type(v) ~= "table" or #v == 0 then usage_error("grid file: %s must be a non-empty list, got %s", name, type(v)) end
  for i, x in ipairs(v) do check(("%s[%d]"):format(name, i), x) end
  return v
end

local function posint_value(name, v)
  if math.type(v) ~= "integer" or v < 1 then
    usage_error("grid file: %s must be a positive integer, got %s", name, tostring(v))
  end
  return v
end

local function one_of(allowed, what)
  return function(name, v)
    if not member(allowed, v) then
      usage_error("grid file: %s: unknown %s %s (%ss: %s)", name, what, tostring(v), what, table.concat(allowed, ", "))
    end
  end
end

local GRID_KEYS = {
  archs = function(k, v) return check_list(k, v, one_of(sy.train.ARCHS, "architecture")) end,
  datasets = function(k, v) return check_list(k, v, one_of(sy.datasets.NAMES, "dataset")) end,
  methods = function(k, v) return check_list(k, v, one_of(sy.train.METHODS, "method")) end,
  protocols = function(k, v) return check_list(k, v, one_of(sy.train.PROTOCOLS, "protocol")) end,
  seq_len = function(k, v) return check_list(k, v, posint_value) end,
  leaky_leads = function(k, v) return check_list(k, v, posint_value) end,
  trials = posint_value, epochs = posint_value, threads = posint_value, mc_samples = posint_value,
  seed = function(k, v)
    if math.type(v) ~= "integer" then usage_error("grid file: %s must be an integer, got %s", k, tostring(v)) end
    return v
  end,
  data = function(k, v)
    if type(v) ~= "string" then usage_error("grid file: %s must be a string, got %s", k, type(v)) end
    return v
  end,
}

--- experiment.load_grid(path) -> the table a grid file returns, checked:
-- keys archs, datasets, methods, protocols, seq_len, trials, epochs, seed,
-- threads, mc_samples, leaky_leads, data. Raises { usage = message }.
function M.load_grid(path)
  local chunk, err = loadfile(path, "t", setmetatable({}, { __index = _G }))
  if chunk == nil then usage_error("--grid: cannot load %s: %s", path, err) end
  local ok, t = pcall(chunk)
  if not ok then usage_error("--grid: %s failed: %s", path, tostring(t)) end
  if type(t) ~= "table" then usage_error("--grid: %s must return a table, got %s", path, type(t)) end
  local allowed = {}
  for k in pairs(GRID_KEYS) do allowed[#allowed + 1] = k end
  table.sort(allowed)
  local g = {}
  for k, v in pairs(t) do
    if GRID_KEYS[k] == nil then
      usage_error("--grid: %s: unknown key '%s' (keys: %s)", path, tostring(k), table.concat(allowed, ", "))
    end
    local okv, res = pcall(GRID_KEYS[k], k, v)
    if not okv then
      if type(res) == "table" and res.usage then usage_error("--grid: %s: %s", path, res.usage:gsub("^grid file: ", "")) end
      error(res, 0)
    end
    g[k] = res
  end
  return g
end

--- experiment.parse_args(argv) -> options: the grid's flags (see
-- experiment.help) over a --grid file over M.DEFAULTS; the study flags are
-- parsed by synlua.study. Raises { usage = message } on a bad flag.
function M.parse_args(argv)
  local rest, files = {}, {}
  local g = study.parse_flags(GRID_FLAGS, GRID_PARSE, argv, {}, function(a, name, inline, i)
    if a:sub(1, 1) ~= "-" or a == "-" then
      files[#files + 1] = a
    else
      rest[#rest + 1] = a
      -- a study flag's value goes with it (study.parse_args checks both)
      if not inline and STUDY_TAKES_VALUE[name] and argv[i + 1] then
        i = i + 1
        rest[#rest + 1] = argv[i]
      end
    end
    return i
  end)
  if #files > 0 and not g.merge then
    usage_error("unexpected argument '%s' (the grid takes flags; files only with --merge)", files[1])
  end
  if g.merge and #files == 0 then usage_error("--merge needs the result files to combine, e.g. --merge a.csv b.csv") end

  local defaults = {}
  for k, v in pairs(M.DEFAULTS) do defaults[k] = v end
  if g.grid then
    for k, v in pairs(M.load_grid(g.grid)) do defaults[k] = v end
  end
  local o = study.parse_args(rest, {
    methods = defaults.methods, seq_len = defaults.seq_len, trials = defaults.trials, epochs = defaults.epochs,
    seed = defaults.seed, threads = defaults.threads, mc_samples = defaults.mc_samples,
    leaky_leads = defaults.leaky_leads, data = defaults.data, protocol = "paper",
  })
  for _, name in ipairs({ "save", "resume", "stop_after" }) do
    if o[name] then
      usage_error("--%s is for the single study scripts; the grid resumes by running the same command again",
        (name:gsub("_", "-")))
    end
  end
  o.protocol = nil
  o.archs = g.archs or defaults.archs
  o.datasets = g.datasets or defaults.datasets
  o.protocols = g.protocols or defaults.protocols
  o.jobs = g.jobs or defaults.jobs
  o.shard, o.merge, o.report, o.results, o.worker, o.grid = g.shard, g.merge, g.report, g.results, g.worker, g.grid
  o.retry_failed = g.retry_failed
  o.files = files
  if o.leaky_leads and not (#o.protocols == 1 and o.protocols[1] == "paper") then
    usage_error("--leaky-leads puts future target values into the inputs; only --protocol paper allows it")
  end
  if not o.help and not o.out and not o.results then
    usage_error("--out DIR is needed (where the results go; rerunning with the same --out resumes)")
  end
  if o.merge and (o.shard or o.worker or g.jobs or g.retry_failed) then
    usage_error("--merge takes no --shard, --jobs or --retry-failed")
  end
  return o
end

--- experiment.help() -> the --help text of scripts/paper_grid.lua.
function M.help(script)
  local d = M.DEFAULTS
  local lines = {
    ("usage: synlua %s --out DIR [flags]"):format(script or "scripts/paper_grid.lua"),
    ("       synlua %s --merge FILE... --out DIR [--report DIR]"):format(script or "scripts/paper_grid.lua"),
    "",
    "The paper's whole study: every architecture, dataset, protocol, sequence length and method, over",
    "several seeds. Each finished trial is appended to the results CSV at once; running the same",
    "command again skips the finished trials, so an interrupted grid resumes where it stopped.",
    "",
    "flags:",
  }
  local defaults = {
    archs = table.concat(d.archs, ","), datasets = table.concat(d.datasets, ","),
    protocols = table.concat(d.protocols, ","), jobs = tostring(d.jobs),
  }
  for _, f in ipairs(GRID_FLAGS) do
    if f[3] then lines[#lines + 1] = study.flag_line(f, defaults[f[4]]) end
  end
  local study_defaults = {
    ["--method"] = table.concat(d.methods, ","), ["--seq-len"] = table.concat(d.seq_len, ","),
    ["--trials"] = tostring(d.trials), ["--epochs"] = tostring(d.epochs), ["--seed"] = tostring(d.seed),
    ["--threads"] = tostring(d.threads),
  }
  for _, f in ipairs(STUDY_FLAGS) do lines[#lines + 1] = study.flag_line(f, study_defaults[f[1]]) end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Progress goes to stderr; the summary table (or JSON lines) to stdout at the end."
  lines[#lines + 1] = "A trial whose loss turns NaN or infinite stops and is recorded as failed (status and error"
  lines[#lines + 1] = "columns); the grid goes on, leaves it out of the statistics, and exits with status 4. A rerun"
  lines[#lines + 1] = "skips recorded failures unless --retry-failed is given."
  return table.concat(lines, "\n")
end

-- ------------------------------------------------------------ running

-- The study flags a worker needs to plan the same grid.
local function worker_argv(o)
  local a = {
    "--arch", table.concat(o.archs, ","), "--datasets", table.concat(o.datasets, ","),
    "--protocol", table.concat(o.protocols, ","), "--method", table.concat(o.methods, ","),
    "--seq-len", table.concat(o.seq_len, ","), "--trials", tostring(o.trials), "--epochs", tostring(o.epochs),
    "--seed", tostring(o.seed), "--threads", tostring(o.threads),
  }
  local function add(...) for _, v in ipairs({ ... }) do a[#a + 1] = v end end
  if o.data then add("--data", o.data) end
  if o.out then add("--out", o.out) end
  if o.mc_samples then add("--mc-samples", tostring(o.mc_samples)) end
  if o.leaky_leads then add("--leaky-leads", table.concat(o.leaky_leads, ",")) end
  if o.quiet then add("--quiet") end
  return a
end

local function sparsity_by_epoch(res)
  if res.pruner == nil then return nil end
  local h, out, j, last = res.pruner.history, {}, 1, 0.0
  for e = 0, res.epochs - 1 do
    while h[j] and h[j].epoch ~= nil and h[j].epoch <= e do
      last = h[j].achieved
      j = j + 1
    end
    out[#out + 1] = ("%.6g"):format(last)
  end
  return table.concat(out, ";")
end

-- Runs the given trials in this process, appending each row as it ends.
-- heartbeat (workers): a stream that gets one byte per trial, so a worker
-- whose parent was killed dies at its next write (SIGPIPE) instead of
-- running on unseen.
local function run_here(o, todo, path, say, heartbeat)
  if o.threads then sy.set_num_threads(o.threads) end
  local out = appender(path)
  -- the study scripts' pipeline; the plan's order needs each dataset and
  -- length once
  local data = study.data_source(o)
  local progress = sy.train.progress({ mode = (o.quiet or o.worker) and "quiet" or "auto", stream = io.stderr })
  local started = sy._now()
  for n, t in ipairs(todo) do
    local d = data:windows(t.dataset, t.protocol, t.seq_len)
    local D = d.train.X:size(3)
    local label = ("%s%s %s %s L=%d %s seed %d [%d/%d]"):format(o.worker and ("[" .. o.shard[1] .. "/"
      .. o.shard[2] .. "] ") or "", t.model, t.dataset, t.protocol, t.seq_len, t.method, t.seed, n, #todo)
    local nbatches = (d.train.X:size(1) + 63) // 64
    progress:begin(label, (#todo - n + 1) * o.epochs * nbatches)
    collectgarbage("collect")
    sy.memory_reset_peak()
    local build = study.MODELS[t.model]
    local ok, res = pcall(sy.train.trial, {
      model = function(mo) return build(D, t.seq_len, mo.dropout) end,
      data = d, method = t.method, protocol = t.protocol, arch = t.model, seed = t.seed, epochs = o.epochs,
      mc_samples = t.method == "mc" and t.mc_samples or nil, progress = progress,
    })
    if not ok and not sy.train.nonfinite(res) then error(res, 0) end
    local _, peak = sy.memory()
    local row = {}
    for k, v in pairs(t) do row[k] = v end
    row.index = nil
    row.tensor_peak_mb = peak / (1 << 20)
    row.features, row.train_windows = D, d.train.X:size(1)
    row.eval_split = t.protocol == "paper" and "val" or "test"
    row.eval_windows = d[row.eval_split].X:size(1)
    row.threads = sy.get_num_threads()
    if ok then
      for _, k in ipairs({ "epochs", "best_epoch", "stopped_early", "mae", "mse", "rmse", "sparsity",
                           "sparsity_target", "mc_std", "seconds_per_epoch", "seconds", "peak_rss_mb", "dropout",
                           "eval_split" }) do
        row[k] = res[k]
      end
      row.sparsity_by_epoch = sparsity_by_epoch(res)
      row.status = "finished"
    else
      row.status, row.error = "failed", study.message(res)
    end
    out:append(row)
    if not ok then
      -- said even with --quiet and in workers: it is not progress
      local text = ("%s: failed: %s"):format(label, row.error)
      if o.quiet or o.worker then say(text) else progress:note(text) end
    elseif not o.quiet then
      say(("%s: MAE %.6g  %d epochs%s  %.3f s/epoch  (%.0f s so far)"):format(label, row.mae, row.epochs,
        t.method == "prune" and ("  sparsity %.1f%%"):format(100 * row.sparsity) or "", row.seconds_per_epoch,
        sy._now() - started))
    end
    if heartbeat and not (heartbeat:write("+") and heartbeat:flush()) then
      fail("the grid that started this worker is gone; stopping (the trials done so far are saved)")
    end
  end
  out:close()
end

-- Starts the workers of --jobs and waits for them. Each is this script with
-- --shard K/M (M = N * jobs, so that the workers of shard I/N split exactly
-- its slice) and --worker; they append to the same results file.
local function run_workers(o, path, say)
  local base_i, base_n = 1, 1
  if o.shard then base_i, base_n = o.shard[1], o.shard[2] end
  local n = base_n * o.jobs
  local cmd = o.command or { "synlua", "scripts/paper_grid.lua" }
  local handles = {}
  for j = 1, o.jobs do
    local argv = worker_argv(o)
    for _, v in ipairs({ "--shard", ("%d/%d"):format(base_i + base_n * (j - 1), n), "--results", path,
                         "--worker" }) do
      argv[#argv + 1] = v
    end
    local parts = {}
    for i, v in ipairs(cmd) do parts[i] = shell_quote(v) end
    for _, v in ipairs(argv) do parts[#parts + 1] = shell_quote(v) end
    local h, err = io.popen(table.concat(parts, " "), "r")
    if h == nil then fail("cannot start worker %d: %s", j, tostring(err)) end
    handles[j] = h
  end
  local failed = {}
  for j, h in ipairs(handles) do
    h:read("a")
    local ok, how, code = h:close()
    if not ok then failed[#failed + 1] = ("worker %d %s %s"):format(j, how == "signal" and "killed by signal" or
      "exited with status", tostring(code)) end
  end
  if #failed > 0 then
    fail("%s; the trials they finished are kept in %s: run the same command again to continue",
      table.concat(failed, ", "), path)
  end
  say(("%d workers done"):format(o.jobs))
end

-- ------------------------------------------------------------ summaries

-- The summary of each configuration of `trials` found in `rows` (fields of
-- study.SUMMARY_FIELDS, plus tensor_peak_mb and max_epochs), sorted as
-- rows are (experiment.sort_rows).
function M.summaries(trials, rows)
  local by_key = {}
  for _, r in ipairs(rows) do by_key[r.key] = r end
  local configs, order = {}, {}
  for _, t in ipairs(trials) do
    local ck = M.config_key(t)
    local c = configs[ck]
    if c == nil then
      c = { plan = t, rows = {} }
      configs[ck] = c
      order[#order + 1] = c
    end
    c.rows[#c.rows + 1] = by_key[t.key]
  end
  local out = {}
  for _, c in ipairs(order) do
    if #c.rows > 0 then
      local t, rs = c.plan, c.rows
      local r1 = rs[1]   -- a finished row when there is one (failed rows lack the trainer's fields)
      for _, r in ipairs(rs) do
        if not study.failed(r) then r1 = r; break end
      end
      out[#out + 1] = study.summarise({
        model = t.model, dataset = t.dataset, seq_len = t.seq_len, method = t.method, protocol = t.protocol,
        dropout = r1.dropout, mc_samples = t.mc_samples, eval_split = r1.eval_split,
        features = r1.features, train_windows = r1.train_windows, eval_windows = r1.eval_windows,
        seed = t.seed, threads = r1.threads, max_epochs = t.max_epochs,
      }, rs)
    end
  end
  return M.sort_rows(out)
end

-- study.SUMMARY_FIELDS, then the grid's own; the failure columns last, where
-- they were added.
M.SUMMARY_FIELDS = {}
for _, k in ipairs(study.SUMMARY_FIELDS) do
  if k ~= "trials_failed" and k ~= "error" then M.SUMMARY_FIELDS[#M.SUMMARY_FIELDS + 1] = k end
end
for _, k in ipairs({ "tensor_peak_mb", "max_epochs", "trials_failed", "error" }) do
  M.SUMMARY_FIELDS[#M.SUMMARY_FIELDS + 1] = k
end

local function fmt(x, pattern)
  if not finite(x) then return "-" end
  return (pattern or "%.4g"):format(x)
end

local function summary_table(sums)
  local lines = { ("%-8s %-10s %-6s %4s %-7s %3s  %10s  %-23s %6s %8s %8s %8s"):format("model", "dataset",
    "proto", "L", "method", "n", "MAE", "95% CI", "epochs", "sparsity", "s/epoch", "peak MB") }
  for _, s in ipairs(sums) do
    local ci = finite(s.mae_ci_low) and ("[%s, %s]"):format(fmt(s.mae_ci_low), fmt(s.mae_ci_high)) or "-"
    lines[#lines + 1] = ("%-8s %-10s %-6s %4d %-7s %3d  %10s  %-23s %6.1f %7.1f%% %8.3f %8.1f"):format(s.model,
      s.dataset, s.protocol, s.seq_len, s.method, s.trials, fmt(s.mae_mean), ci, s.epochs_mean or 0,
      100 * (s.sparsity_mean or 0), s.seconds_per_epoch or 0, s.tensor_peak_mb or 0)
      .. (s.trials_failed > 0 and ("  (%d failed)"):format(s.trials_failed) or "")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- ------------------------------------------------------------ merge

--- experiment.merge(files, dest, say) -> rows: the rows of every file (and
-- of dest when it exists), one per key (the first seen wins, but a finished
-- row replaces a failed one; a duplicate with another MAE is reported),
-- sorted, written to dest atomically.
function M.merge(files, dest, say)
  local rows, seen, conflicts, dups = {}, {}, 0, 0
  local sources = {}
  local f = io.open(dest, "r")
  if f then
    f:close()
    sources[1] = dest
  end
  for _, p in ipairs(files) do if p ~= dest then sources[#sources + 1] = p end end
  for _, p in ipairs(sources) do
    local rs, info = M.read_results(p, { must_exist = true })
    if info.dropped > 0 then
      say(("%s: skipped %d torn or malformed row%s (%s)"):format(p, info.dropped, info.dropped == 1 and "" or "s",
        table.concat(info.problems, "; ")))
    end
    for _, r in ipairs(rs) do
      local at = seen[r.key]
      local prev = at and rows[at]
      if prev == nil then
        rows[#rows + 1] = r
        seen[r.key] = #rows
      elseif study.failed(prev) or study.failed(r) then
        dups = dups + 1
        if study.failed(prev) and not study.failed(r) then rows[at] = r end   -- a finished run wins
      else
        dups = dups + 1
        if prev.mae ~= r.mae then
          conflicts = conflicts + 1
          say(("%s: %s has MAE %s here and %s before; keeping the first"):format(p, r.key, exact(r.mae),
            exact(prev.mae)))
        end
      end
    end
  end
  M.sort_rows(rows)
  M.write_results(dest, rows)
  say(("merged %d rows from %d file%s into %s (%d duplicate%s, %d with different results)"):format(#rows,
    #sources, #sources == 1 and "" or "s", dest, dups, dups == 1 and "" or "s", conflicts))
  return rows
end

-- ------------------------------------------------------------ main

local function mkdir(dir)
  local ok = os.execute("mkdir -p " .. shell_quote(dir))
  if not ok then fail("cannot create directory %s", dir) end
end

local function dirname(path) return path:match("^(.*)/[^/]*$") end

local function report_title(o)
  return ("synlua: the synaptic pruning study (%s)"):format(o.merge and "merged results"
    or ("%d trials per configuration, at most %d epochs"):format(o.trials, o.epochs))
end

local run_grid

--- experiment.run(o) -> { trials = plan, ran, skipped, rows, summaries, failed }:
-- the grid of o (experiment.parse_args's options, plus stdout, stderr and
-- command = {interpreter, script} for --jobs). Writes the results, the
-- summary CSV, the table or JSON lines, and the report when o.report.
function M.run(o)
  local stdout, stderr = o.stdout or io.stdout, o.stderr or io.stderr
  local function say(text)
    stderr:write(text, "\n")
    stderr:flush()
  end
  local path = results_path(o)
  if dirname(path) then mkdir(dirname(path)) end
  if o.merge then
    local rows = with_lock(path, function() return M.merge(o.files, path, say) end)
    if o.report then sy.report.write(rows, o.report, { title = report_title(o) }) end
    return { rows = rows }
  end
  if o.worker then return run_grid(o, path, say, stdout) end
  -- workers append to a file their parent locked and prepared
  return with_lock(path, function() return run_grid(o, path, say, stdout) end)
end

-- The grid of M.run, past the flags: plan, resume, run here or on workers,
-- then (not in a worker) the sorted results, summary, table and report.
function run_grid(o, path, say, stdout)
  local started = sy._now()
  local plan = M.plan(o)
  local mine = o.shard and M.slice(plan, o.shard[1], o.shard[2]) or plan
  if not o.worker then
    for _, dataset in ipairs(o.datasets) do sy.datasets.locate(dataset, { data = o.data }) end
  end
  local have = o.worker and M.read_results(path) or open_results(path, say, o.retry_failed)
  local done = {}
  for _, r in ipairs(have) do done[r.key] = true end
  local todo = {}
  for _, t in ipairs(mine) do
    if not done[t.key] then todo[#todo + 1] = t end
  end
  local skipped = #mine - #todo
  if not o.worker and not o.quiet then
    say(("grid: %d trials%s, %d already in %s, %d to run%s"):format(#mine,
      o.shard and (" in shard %d/%d (of %d)"):format(o.shard[1], o.shard[2], #plan) or "", skipped, path, #todo,
      o.jobs > 1 and #todo > 0 and (" on %d workers"):format(o.jobs) or ""))
  end

  if #todo > 0 then
    if o.jobs > 1 and not o.worker then
      run_workers(o, path, say)
    else
      run_here(o, todo, path, say, o.worker and stdout or nil)
    end
  end
  if o.worker then return { trials = mine, ran = #todo, skipped = skipped } end

  local rows = M.read_results(path)
  M.sort_rows(rows)
  M.write_results(path, rows)
  local present = {}
  for _, r in ipairs(rows) do present[r.key] = r end
  local missing, failed = 0, 0
  for _, t in ipairs(mine) do
    local r = present[t.key]
    if r == nil then missing = missing + 1 elseif study.failed(r) then failed = failed + 1 end
  end
  if missing > 0 then fail("%d trials of the grid are missing from %s after the run", missing, path) end

  local sums = M.summaries(mine, rows)
  local sp = summary_path(path)
  study.write_atomic(sp, study.csv_text(sums, M.SUMMARY_FIELDS))
  if o.json then
    for _, s in ipairs(sums) do stdout:write(study.json(s, M.SUMMARY_FIELDS), "\n") end
  else
    stdout:write(summary_table(sums))
  end
  stdout:flush()
  local seconds = sy._now() - started
  if not o.quiet then
    say(("grid: ran %d trials, skipped %d already done, %d in all; %.1f s; results %s, summary %s"):format(#todo,
      skipped, #mine, seconds, path, sp))
  end
  if failed > 0 then
    say(("grid: %d of the %d trials failed (non-finite loss; status failed in %s, left out of the statistics); "
      .. "--retry-failed runs them again"):format(failed, #mine, path))
  end
  if o.report then
    sy.report.write(rows, o.report, { title = report_title(o) })
    if not o.quiet then say(("report: %s/index.html"):format(o.report)) end
  end
  return { trials = mine, ran = #todo, skipped = skipped, rows = rows, summaries = sums, seconds = seconds,
           failed = failed }
end

--- experiment.main(argv): scripts/paper_grid.lua's body. Exit status 2 on a
-- bad flag, 1 on an error, 4 when the grid's results hold failed trials.
function M.main(argv)
  argv = argv or {}
  local script = (arg and arg[0]) or "scripts/paper_grid.lua"
  local list = {}
  for i = 1, #argv do list[i] = argv[i] end
  local o = study.parse_or_exit(script, M.parse_args, list)
  if o.help then
    io.stdout:write(M.help(script), "\n")
    return
  end
  -- the interpreter as this process was started (lowest index of arg)
  local lowest = 0
  while arg and arg[lowest - 1] do lowest = lowest - 1 end
  o.command = { arg and arg[lowest] or "synlua", script }
  local run_ok, res = pcall(M.run, o)
  io.stdout:flush()
  if not run_ok then
    io.stderr:write(("%s: %s\n"):format(script, study.message(res)))
    os.exit(1)
  end
  if (res.failed or 0) > 0 then os.exit(4) end
end

return M
