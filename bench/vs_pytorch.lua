-- synlua against PyTorch, side by side, on the paper's training jobs (issue 8):
--
--   build/synlua bench/vs_pytorch.lua [flags]        (--help lists them)
--
-- For each model (RNN, LSTM, PaperPatchTST with the study scripts' sizes) x
-- method (none; prune: the reference preset of the paper protocol, its
-- schedule, cadence and pruning-arm dropout) x window length (7, 30, 60) x
-- threads (1, 2) both sides train the same job: the AAPL_data.csv training
-- windows of the paper protocol (features and scaling as sy.study builds
-- them), batch 64, Adam lr 1e-3, shuffled batches, 5 epochs, no early
-- stopping and no evaluation in the timed part. synlua writes the series
-- rows the training windows cover (S [N + L - 1, D]), their targets y and L
-- once to a temporary safetensors file that both sides read; each side
-- builds the N windows [N, L, D] as a view of S with its own library's
-- unfold (no N x L x D copy, as each tool would window a long series), so
-- they train on identical values and the peak RSS shows what each does with
-- the series. Every run is its own process (this script with
-- --child for synlua, bench/torch_twin.py for PyTorch), so peak RSS (VmHWM
-- at the end of the run) is per job; the sides alternate within each round
-- (which goes first flips every round) and each figure is the median over
-- the rounds. PyTorch runs at 1 and 2 threads (OMP_NUM_THREADS = threads,
-- OPENBLAS_NUM_THREADS=1, its best setting here); synlua at T threads is
-- compared with PyTorch at T and with PyTorch's best thread count.
--
-- Also: a large job (LSTM + prune, length 60, 200,000 generated rows: a
-- seeded random walk with 4 features, 2 epochs) with the share of the
-- GEMM-bound floor (3 x the forward GEMM FLOPs of one step, timed raw on
-- the same shapes inside the synlua run by cblas_sgemm, the issue's measure,
-- and, where synlua's layers use it, by its own AVX-512 kernel: the stricter
-- floor, printed beside it); single-window
-- inference latency (batch 1, eval mode, no grad, median of many calls,
-- after training); process start-up (synlua -e '' against python3 -c
-- 'import torch'); pruning overhead (time inside pruner:step, measured in
-- the run; the fused mask re-application inside Adam's step is not
-- separable, so the prune - none difference is printed beside it); and a
-- verdict per target of the issue.
--
-- Output: a Markdown report on stdout (--out DIR also writes it to
-- DIR/vs_pytorch.md) and JSON (--json PATH, else DIR/vs_pytorch.json with
-- --out). Without PyTorch (Debian's python3-torch at /usr/bin/python3) or
-- with --no-torch only synlua's numbers are printed.
local sy = require("synlua")
local study = require("synlua.study")

local MODELS, METHODS = { "rnn", "lstm", "patchtst" }, { "none", "prune" }
local PYTHON = "/usr/bin/python3"
local BATCH, LR, SEED = 64, 1e-3, 42

local function q(s) return study.shell_quote(s) end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function peak_rss_mb()
  local kb = (slurp("/proc/self/status") or ""):match("VmHWM:%s*(%d+)")
  return kb and tonumber(kb) / 1024 or nil
end

local function median(xs)
  local s = {}
  for _, x in ipairs(xs or {}) do if x == x then s[#s + 1] = x end end
  if #s == 0 then return nil end
  table.sort(s)
  local m = (#s + 1) // 2
  return #s % 2 == 1 and s[m] or (s[m] + s[m + 1]) / 2
end

-- ------------------------------------------------------------------ JSON

local function json_string(s)
  return '"' .. tostring(s):gsub('[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
    return named[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

-- Objects with sorted keys; a table with [1], or marked by array(), is an
-- array (so an empty list is [] and not {}).
local ARRAY = {}
local function array(t) return setmetatable(t, ARRAY) end

local function json(v)
  local t = type(v)
  if t == "number" then return study.finite(v) and study.exact(v) or "null" end
  if t == "string" then return json_string(v) end
  if t == "boolean" then return tostring(v) end
  if t ~= "table" then return "null" end
  local parts = {}
  if v[1] ~= nil or getmetatable(v) == ARRAY then
    for i, x in ipairs(v) do parts[i] = json(x) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = json_string(k) .. ":" .. json(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- One flat JSON object (what the children print): strings, numbers, true,
-- false, null.
local function parse_flat(s)
  local out, pos = {}, 1
  local function ws() pos = s:find("[^%s]", pos) or #s + 1 end
  local function str()
    local buf = {}
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == "" then error("unterminated string", 0) end
      pos = pos + 1
      if c == '"' then break end
      if c == "\\" then
        c = s:sub(pos, pos)
        pos = pos + 1
        c = ({ n = "\n", t = "\t", r = "\r", b = "\b", f = "\f" })[c] or c
      end
      buf[#buf + 1] = c
    end
    return table.concat(buf)
  end
  ws()
  if s:sub(pos, pos) ~= "{" then error("not a JSON object", 0) end
  pos = pos + 1
  ws()
  if s:sub(pos, pos) == "}" then return out end
  while true do
    ws()
    if s:sub(pos, pos) ~= '"' then error("expected a key", 0) end
    local k = str()
    ws()
    if s:sub(pos, pos) ~= ":" then error("expected ':'", 0) end
    pos = pos + 1
    ws()
    local c = s:sub(pos, pos)
    if c == '"' then
      out[k] = str()
    else
      local word = s:match("^[^,}%s]+", pos)
      if not word then error("expected a value", 0) end
      pos = pos + #word
      if word == "true" then out[k] = true
      elseif word == "false" then out[k] = false
      elseif word == "null" or word == "NaN" or word == "Infinity" then out[k] = nil
      else out[k] = tonumber(word) or error("bad number " .. word, 0) end
    end
    ws()
    c = s:sub(pos, pos)
    pos = pos + 1
    if c == "}" then return out end
    if c ~= "," then error("expected ',' or '}'", 0) end
  end
end

-- ------------------------------------------------------------ the child

-- Forward GEMMs of one LSTM training step at the raw speed of a float32
-- kernel ("blas": cblas_sgemm, or "avx512": synlua's own), times 3
-- (backward is about twice the forward: the dX/dH and dW products): the
-- input projection of all steps as one product and the recurrence step by
-- step. The fc layer (B x 1 x H) is negligible. Returns seconds and FLOPs.
local function lstm_floor_seconds(B, T, D, H, kernel)
  local function gemm(m, n, k, reps) return sy._sgemm_seconds(m, n, k, reps, kernel) / reps end
  local flops = 3 * (2 * B * T * D * 4 * H + 2 * B * T * H * 4 * H)
  return 3 * (gemm(B * T, 4 * H, D, 20) + T * gemm(B, 4 * H, H, 400)), flops
end

-- build/synlua bench/vs_pytorch.lua --child FILE MODEL METHOD THREADS
-- EPOCHS INFER_CALLS FLOOR(0|1): trains one job, prints one JSON object.
local function child(argv)
  local file, model_name, method = argv[2], argv[3], argv[4]
  local threads, epochs = math.tointeger(tonumber(argv[5])), math.tointeger(tonumber(argv[6]))
  local calls, want_floor = math.tointeger(tonumber(argv[7])), argv[8] == "1"
  sy.set_num_threads(threads)
  local data = sy.load(file)
  local S, y, L = data.S, data.y, data.L:item()
  -- the windows as a view of the series, as sy.data.windows builds them
  -- (which itself needs the target rows after the last window, not in the
  -- file): window i is rows i .. i+L-1, strides (D, D, 1)
  local X = S:unfold(1, L, 1):transpose(2, 3)
  local N, D = X:size(1), X:size(3)
  assert(N == y:size(1), "the file's series and targets disagree")
  local floor, flops, floor_own
  if want_floor then
    floor, flops = lstm_floor_seconds(BATCH, L, D, 64, "blas")
    if sy._gemm_kernel() ~= "blas" then floor_own = lstm_floor_seconds(BATCH, L, D, 64, sy._gemm_kernel()) end
  end

  local settings = sy.train.method_settings(method, { protocol = "paper", arch = model_name })
  sy.manual_seed(SEED)
  local model = study.MODELS[model_name](D, L, settings.dropout)
  local opt = sy.optim.Adam(model, { lr = LR })
  local pruner
  if settings.prune then
    pruner = sy.prune.Pruner(model, settings.prune)
    pruner:attach(opt)
  end
  local loader = sy.data.loader(X, y, { batch_size = BATCH, shuffle = true })
  local steps, wall, cpu, prune_s, events = 0, 0.0, 0.0, 0.0, 0
  local loss_sum, seen = 0.0, 0
  local now = sy._now
  for e = 0, epochs - 1 do
    model:train()
    local t0, c0 = now(), os.clock()
    loss_sum, seen = 0.0, 0
    -- the inner loop of sy.train.trial
    for xb, yb in loader:iter() do
      opt:zero_grad()
      local loss = sy.mse_loss(model(xb), yb)
      loss:backward()
      if pruner then
        local p0 = now()
        if pruner:step(e) then events = events + 1 end
        prune_s = prune_s + (now() - p0)
      end
      opt:step()
      local n = xb:size(1)
      loss_sum, seen = loss_sum + loss:item() * n, seen + n
      steps = steps + 1
    end
    wall, cpu = wall + (now() - t0), cpu + (os.clock() - c0)
  end

  model:eval()
  local x1 = X:narrow(1, 1, 1):clone()
  local lat = {}
  sy.no_grad(function()
    for _ = 1, 20 do model(x1) end
    for i = 1, calls do
      local t0 = now()
      model(x1)
      lat[i] = now() - t0
    end
  end)
  local params = 0
  for _, p in ipairs(model:parameters()) do params = params + p[2]:numel() end
  io.write(json({
    side = "synlua", version = sy.version, model = model_name, method = method, seq_len = L, features = D,
    windows = N, threads = sy.get_num_threads(), epochs = epochs, steps = steps, seconds = wall,
    cpu_seconds = cpu, seconds_per_epoch = wall / epochs, steps_per_second = steps / wall,
    prune_seconds = prune_s, prune_events = events, sparsity = pruner and pruner:sparsity() or 0.0,
    prunable = pruner and pruner.total or nil, params = params, final_loss = loss_sum / math.max(seen, 1),
    infer_seconds = median(lat), floor_step_seconds = floor, step_flops = flops,
    floor_own_step_seconds = floor_own, peak_rss_mb = peak_rss_mb(),
  }), "\n")
end

if arg and arg[1] == "--child" then
  child(arg)
  return
end

-- ------------------------------------------------------------------ flags

local FLAGS = {
  { "--rounds", "N", "runs per cell; each figure is their median", "rounds" },
  { "--models", "M[,M...]", "rnn, lstm, patchtst", "models" },
  { "--methods", "M[,M...]", "none, prune", "methods" },
  { "--lengths", "L[,L...]", "window lengths", "lengths" },
  { "--threads", "T[,T...]", "synlua's thread counts (PyTorch also runs at 1 and 2)", "threads" },
  { "--epochs", "N", "epochs per training job", "epochs" },
  { "--large-rows", "N", "rows of the generated series of the large job", "large_rows" },
  { "--large-epochs", "N", "epochs of the large job", "large_epochs" },
  { "--large-rounds", "N", "runs of the large job per side and thread count (default: --rounds)", "large_rounds" },
  { "--skip-large", nil, "no large job", "skip_large" },
  { "--windows", "N", "train on the first N windows only (tests of this script)", "windows" },
  { "--startup-runs", "N", "start-ups timed per side", "startup_runs" },
  { "--infer-calls", "N", "inference calls timed per job", "infer_calls" },
  { "--data", "DIR", "dataset directory (else $SYNLUA_DATA, ../shared/datasets, datasets/)", "data" },
  { "--json", "PATH", "write the results as JSON", "json" },
  { "--out", "DIR", "write vs_pytorch.md (and vs_pytorch.json) there", "out" },
  { "--no-torch", nil, "synlua's numbers only", "no_torch" },
  { "--quick", nil, "test the script: 1 round, 1 epoch, length 7, 20,000 large rows, 1 large epoch", "quick" },
  { "--help", nil, "this text", "help" },
}

local function posint(flag, v)
  local n = math.tointeger(tonumber(v))
  if n == nil or n < 1 or not v:match("^%s*%d+%s*$") then
    study.usage_error("%s expects a positive integer, got '%s'", flag, v)
  end
  return n
end

local function list_of(allowed)
  return function(flag, v)
    local out = {}
    for item in (v .. ","):gmatch("([^,]*),") do
      if allowed then
        if not study.member(allowed, item) then
          study.usage_error("%s: unknown value '%s' (one of %s)", flag, item, table.concat(allowed, ", "))
        end
        out[#out + 1] = item
      else
        out[#out + 1] = posint(flag, item)
      end
    end
    return out
  end
end

local PARSE = {
  rounds = posint, epochs = posint, large_rows = posint, large_epochs = posint, large_rounds = posint,
  windows = posint,
  startup_runs = posint, infer_calls = posint,
  models = list_of(MODELS), methods = list_of(METHODS), lengths = list_of(nil), threads = list_of(nil),
}

local function parse(argv)
  local o = study.parse_flags(FLAGS, PARSE, argv, {})
  local d = o.quick and { rounds = 1, epochs = 1, lengths = { 7 }, large_rows = 20000, large_epochs = 1,
                          startup_runs = 3, infer_calls = 50 }
    or { rounds = 3, epochs = 5, lengths = { 7, 30, 60 }, large_rows = 200000, large_epochs = 2,
         startup_runs = 10, infer_calls = 500 }
  d.models, d.methods, d.threads = MODELS, METHODS, { 1, 2 }
  for k, v in pairs(d) do if o[k] == nil then o[k] = v end end
  o.large_rounds = o.large_rounds or o.rounds
  if o.large_rows < 1000 then study.usage_error("--large-rows must be at least 1000, got %d", o.large_rows) end
  return o
end

local SCRIPT = arg and arg[0] or "bench/vs_pytorch.lua"
local argv = {}
for i = 1, #(arg or {}) do argv[i] = arg[i] end
local o = study.parse_or_exit(SCRIPT, parse, argv)
if o.help then
  print("usage: synlua bench/vs_pytorch.lua [flags]\n\nsynlua against PyTorch on the paper's training jobs "
    .. "(issue 8); see the top of the script.\n\nflags:")
  local defaults = { rounds = "3", models = "rnn,lstm,patchtst", methods = "none,prune", lengths = "7,30,60",
                     threads = "1,2", epochs = "5", large_rows = "200000", large_epochs = "2",
                     startup_runs = "10", infer_calls = "500" }
  for _, f in ipairs(FLAGS) do print(study.flag_line(f, defaults[f[4]])) end
  return
end

-- ------------------------------------------------------------ the parent

-- The synlua interpreter running this script, and the repository root.
local BIN = "synlua"
for i = -1, -10, -1 do
  if arg[i] == nil then break end
  BIN = arg[i]
end
local BENCH_DIR = SCRIPT:match("^(.*)/[^/]*$") or "."
local ROOT = BENCH_DIR:match("^(.*)/bench$") or (BENCH_DIR == "bench" and ".") or BENCH_DIR .. "/.."

local function loadavg() return (slurp("/proc/loadavg") or ""):match("^(%S+ %S+ %S+)") or "?" end

local function machine()
  local info = slurp("/proc/cpuinfo") or ""
  local cores = 0
  for _ in info:gmatch("processor%s*:") do cores = cores + 1 end
  return (info:match("model name%s*:%s*([^\n]+)") or "?"), cores
end

local function data_dir()
  if o.data then return o.data end
  local env = os.getenv("SYNLUA_DATA")
  if env and env ~= "" then return env end
  local shared = ROOT .. "/../shared/datasets"
  if slurp(shared .. "/AAPL_data.csv") then return shared end
  return ROOT .. "/datasets"
end

local TMP = os.tmpname()
os.remove(TMP)
assert(os.execute("mkdir -p " .. q(TMP)), "cannot make a temporary directory")
local function cleanup() os.execute("rm -rf " .. q(TMP)) end

-- The training windows X [N, L, D] of a prepared split (the first
-- `o.windows` of them when asked), written once for both sides as the series
-- rows they cover, S [N + L - 1, D]: the first window's L rows, then the last
-- row of each later window (whether X is a view of the series or a copy).
-- Re-windowing S must give X back exactly: the children train on that.
local function write_windows(path, X, y)
  if o.windows and o.windows < X:size(1) then X, y = X:narrow(1, 1, o.windows), y:narrow(1, 1, o.windows) end
  local N, L = X:size(1), X:size(2)
  local S = sy.cat({ X:select(1, 1), X:narrow(1, 2, N - 1):select(2, L) }, 1):contiguous()
  if S:unfold(1, L, 1):transpose(2, 3):ne(X):sum():item() ~= 0 then
    error("write_windows: the windows are not consecutive rows of one series")
  end
  sy.save(path, { S = S, y = y:contiguous(), L = sy.tensor({ L }):long() })
  return N
end

-- A seeded random walk of `rows` days with open/high/low/volume beside the
-- close (the target), through the paper protocol's pipeline (scalers on
-- all rows, 80% of the windows for training).
local function large_file(path, rows, L)
  math.randomseed(SEED)
  local function normal()
    return math.sqrt(-2 * math.log(1 - math.random())) * math.cos(2 * math.pi * math.random())
  end
  local close, open, high, low, volume = {}, {}, {}, {}, {}
  local c = 100.0
  for i = 1, rows do
    local o_ = c * (1 + 0.002 * normal())
    c = c * math.exp(0.01 * normal())
    open[i], close[i] = o_, c
    high[i] = math.max(o_, c) * (1 + 0.003 * math.abs(normal()))
    low[i] = math.min(o_, c) * (1 - 0.003 * math.abs(normal()))
    volume[i] = 1e6 * math.exp(0.3 * normal())
  end
  local frame = sy.data.frame({ { "open", open }, { "high", high }, { "low", low }, { "volume", volume },
                                { "close", close } })
  local d = sy.data.prepare(frame, { seq_len = L, protocol = "paper", target = "close",
                                     features = { "open", "high", "low", "volume" } })
  return write_windows(path, d.train.X, d.train.y), d.train.X:size(3)
end

local torch_ok = not o.no_torch and slurp(PYTHON) ~= nil
  and os.execute(PYTHON .. " -c 'import torch' >/dev/null 2>&1") == true
local TORCH_THREADS = {}
if torch_ok then
  for _, t in ipairs({ 1, 2 }) do TORCH_THREADS[#TORCH_THREADS + 1] = t end
  for _, t in ipairs(o.threads) do
    if not study.member(TORCH_THREADS, t) then TORCH_THREADS[#TORCH_THREADS + 1] = t end
  end
end

local failures = {}

-- Runs one child; returns its JSON object or nil (the failure is noted).
local function run_child(cmd, what)
  local err = TMP .. "/stderr"
  local p = io.popen(cmd .. " 2>" .. q(err))
  local out = p:read("a")
  local ok = p:close()
  local line = out:match("(%b{})%s*$")
  if ok and line then
    local parsed, r = pcall(parse_flat, line)
    if parsed then return r end
  end
  local tail = (slurp(err) or ""):sub(-400)
  failures[#failures + 1] = ("%s failed: %s"):format(what, tail ~= "" and tail or out:sub(-400))
  io.stderr:write("vs_pytorch: ", failures[#failures], "\n")
  return nil
end

local function run_synlua(file, model, method, threads, epochs, floor)
  return run_child(("%s %s --child %s %s %s %d %d %d %d"):format(q(BIN), q(SCRIPT), q(file), model, method,
    threads, epochs, o.infer_calls, floor and 1 or 0), ("synlua %s %s T=%d"):format(model, method, threads))
end

local prune_args = {}
local function run_torch(file, model, method, threads, epochs)
  local s = sy.train.method_settings(method, { protocol = "paper", arch = model })
  local args = ("--dropout %s"):format(study.exact(s.dropout))
  if s.prune then
    local p = prune_args[model]
    if p == nil then
      local pr = sy.prune.presets[s.prune.preset]
      p = ("%s,%s,%s,%s,%s"):format(study.exact(pr.s_min), study.exact(pr.s_max), study.exact(pr.warmup),
        study.exact(pr.total), tostring(pr.every))
      prune_args[model] = p
    end
    args = args .. " --prune " .. p
  end
  return run_child(("OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 %s %s --data %s --model %s "
    .. "--method %s --threads %d --epochs %d --infer-calls %d %s"):format(threads, PYTHON,
    q(BENCH_DIR .. "/torch_twin.py"), q(file), model, method, threads, epochs, o.infer_calls, args),
    ("PyTorch %s %s T=%d"):format(model, method, threads))
end

-- runs[key][side][threads] = list of child results
local runs = {}
local function record(key, side, t, r)
  runs[key] = runs[key] or { synlua = {}, pytorch = {} }
  local l = runs[key][side]
  l[t] = l[t] or {}
  if r then l[t][#l[t] + 1] = r end
end

-- One cell of one round: synlua at its thread counts and PyTorch at its
-- own, the side that goes first flipping every round.
local function run_cell(round, key, file, model, method, epochs, floor)
  local sides = { "synlua", "pytorch" }
  if round % 2 == 0 then sides = { "pytorch", "synlua" } end
  local all = {}
  for _, t in ipairs(o.threads) do all[#all + 1] = t end
  for _, t in ipairs(TORCH_THREADS) do if not study.member(all, t) then all[#all + 1] = t end end
  for _, t in ipairs(all) do
    for _, side in ipairs(sides) do
      if side == "synlua" and study.member(o.threads, t) then
        record(key, side, t, run_synlua(file, model, method, t, epochs, floor))
      elseif side == "pytorch" and study.member(TORCH_THREADS, t) then
        record(key, side, t, run_torch(file, model, method, t, epochs))
      end
    end
  end
end

local started = sy._now()
local date, load_start = os.date("!%Y-%m-%d %H:%M UTC"), loadavg()
local cpu_model, cores = machine()

-- Stops with a message (no traceback) after removing the temporary files.
local function guarded(f, ...)
  local ok, a, b = pcall(f, ...)
  if ok then return a, b end
  cleanup()
  io.stderr:write(("%s: %s\n"):format(SCRIPT, study.message(a)))
  os.exit(1)
end

-- The data, once per length.
local DATA = data_dir()
local files, windows_of, features = {}, {}, nil
guarded(function()
  local source = study.data_source({ data = DATA })
  for _, L in ipairs(o.lengths) do
    local d = source:windows("sp500", "paper", L)
    files[L] = ("%s/aapl_L%d.safetensors"):format(TMP, L)
    windows_of[L] = write_windows(files[L], d.train.X, d.train.y)
    features = d.train.X:size(3)
  end
end)

-- Process start-up, alternating.
local startup = { synlua = {}, pytorch = {} }
local function time_cmd(cmd)
  local t0 = sy._now()
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok and sy._now() - t0 or nil
end
for _ = 1, o.startup_runs do
  startup.synlua[#startup.synlua + 1] = time_cmd(q(BIN) .. " -e ''")
  if torch_ok then startup.pytorch[#startup.pytorch + 1] = time_cmd(PYTHON .. " -c 'import torch'") end
end

local function key_of(model, method, L) return ("%s|%s|%d"):format(model, method, L) end

for round = 1, o.rounds do
  for _, model in ipairs(o.models) do
    for _, method in ipairs(o.methods) do
      for _, L in ipairs(o.lengths) do
        io.stderr:write(("vs_pytorch: [%4.0f s] round %d/%d  %s %s L=%d\n"):format(sy._now() - started, round,
          o.rounds, model, method, L))
        run_cell(round, key_of(model, method, L), files[L], model, method, o.epochs, false)
      end
    end
  end
end

local LARGE_KEY, LARGE_L = "lstm|prune|large", 60
local large_windows, large_features
if not o.skip_large then
  local path = TMP .. "/large.safetensors"
  large_windows, large_features = guarded(large_file, path, o.large_rows, LARGE_L)
  for round = 1, o.large_rounds do
    io.stderr:write(("vs_pytorch: [%4.0f s] round %d/%d  large LSTM prune L=60, %d windows\n"):format(
      sy._now() - started, round, o.large_rounds, large_windows))
    run_cell(round, LARGE_KEY, path, "lstm", "prune", o.large_epochs, true)
  end
end
cleanup()
local load_end = loadavg()

-- ------------------------------------------------------------- the report

local function field(list, name)
  local xs = {}
  for _, r in ipairs(list or {}) do xs[#xs + 1] = r[name] end
  return median(xs)
end

-- Medians of a cell: s[side][t] = { spe, sps, rss, cpu, infer, prune_pct, ... }
local function summary(key)
  local r = runs[key]
  if not r then return nil end
  local s = { synlua = {}, pytorch = {} }
  for side, by_t in pairs(r) do
    for t, list in pairs(by_t) do
      if #list > 0 then
        local pct = {}
        for i, x in ipairs(list) do pct[i] = 100 * (x.prune_seconds or 0) / x.seconds end
        local floor_pct, floor_own_pct = {}, {}
        for i, x in ipairs(list) do
          if x.floor_step_seconds then
            floor_pct[i] = 100 * x.floor_step_seconds / t / (x.seconds / x.steps)
          end
          if x.floor_own_step_seconds then
            floor_own_pct[i] = 100 * x.floor_own_step_seconds / t / (x.seconds / x.steps)
          end
        end
        s[side][t] = {
          runs = #list, seconds_per_epoch = field(list, "seconds_per_epoch"),
          cpu_seconds_per_epoch = field(list, "cpu_seconds") and field(list, "cpu_seconds") / list[1].epochs,
          steps_per_second = field(list, "steps_per_second"), peak_rss_mb = field(list, "peak_rss_mb"),
          infer_seconds = field(list, "infer_seconds"), prune_pct = median(pct),
          prune_events = field(list, "prune_events"), sparsity = field(list, "sparsity"),
          prunable = list[1].prunable, params = list[1].params, steps = list[1].steps,
          floor_step_seconds = field(list, "floor_step_seconds"), step_flops = list[1].step_flops,
          floor_own_step_seconds = field(list, "floor_own_step_seconds"), floor_own_pct = median(floor_own_pct),
          floor_pct = median(floor_pct), final_loss = field(list, "final_loss"), version = list[1].version,
          windows = list[1].windows,
        }
      end
    end
  end
  -- PyTorch's best thread count
  local best, best_t
  for t, v in pairs(s.pytorch) do
    if best == nil or v.seconds_per_epoch < best then best, best_t = v.seconds_per_epoch, t end
  end
  s.best_pytorch, s.best_pytorch_threads = best, best_t
  return s
end

local torch_version
for _, r in pairs(runs) do
  for _, list in pairs(r.pytorch) do
    if list[1] then torch_version = list[1].version end
  end
end

local out = {}
local function emit(line) out[#out + 1] = line or "" end
local function num(x, fmt) return x and (fmt or "%.4g"):format(x) or "-" end
local function ratio(a, b) return a and b and ("%.2fx"):format(a / b) or "-" end
local function ms(x) return x and ("%.3g"):format(x * 1e3) or "-" end

local verdicts, cells_json = {}, {}
local windows_list = {}
for i, L in ipairs(o.lengths) do windows_list[i] = tostring(windows_of[L]) end
local function verdict(ok, text) verdicts[#verdicts + 1] = ("- %s: %s"):format(text, ok and "met" or "NOT met") end

emit(("## synlua %s vs PyTorch %s: training the paper's models on CPU"):format(sy.version,
  torch_version or (torch_ok and "(no run succeeded)" or "(not run)")))
emit()
emit(("%s; %s, %d logical CPUs; load average %s at start, %s at end; %.0f s in all."):format(date, cpu_model, cores,
  load_start, load_end, sy._now() - started))
emit(("Data: AAPL_data.csv (paper protocol features: %s per step; %s training windows at L = %s), "
  .. "batch %d, Adam lr %g, shuffled, %d epoch%s, no early stopping; median of %d run%s per cell, "
  .. "each its own process, the sides alternating.")
  :format(features or "?", table.concat(windows_list, "/"), table.concat(o.lengths, "/"), BATCH, LR, o.epochs, o.epochs == 1 and "" or "s", o.rounds,
  o.rounds == 1 and "" or "s"))
emit("prune = the paper protocol's pruning arm: the reference preset of the model (schedule, cadence, "
  .. "compat mechanics; PatchTST's preset first prunes in epoch 5, counted from 0, so never within 5 epochs) and its dropout "
  .. "(0.3 for PatchTST). PyTorch runs with OMP_NUM_THREADS = T, OPENBLAS_NUM_THREADS=1.")
emit("PT/sy = PyTorch time / synlua time at the same T; best PT/sy = PyTorch at its faster thread count / "
  .. "synlua; PT/sy CPU = the same ratio of process CPU time (all threads; less disturbed by other load); "
  .. "RSS = peak resident set (VmHWM) of the job's process.")
emit()
emit("| model | method | L | T | synlua s/epoch | synlua steps/s | synlua MB | PyTorch s/epoch | PyTorch steps/s "
  .. "| PyTorch MB | best PT s/epoch (T) | PT/sy | best PT/sy | PT/sy CPU | RSS PT/sy |")
emit("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

-- {[t] = v} with the thread counts as JSON keys ("1", "2")
local function by_threads(m)
  local out = {}
  for t, v in pairs(m) do out[tostring(t)] = v end
  return out
end

local function cell_rows(model, method, L, key, label)
  local s = summary(key)
  if not s then return end
  for _, t in ipairs(o.threads) do
    local a, b = s.synlua[t] or {}, s.pytorch[t] or {}
    emit(("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"):format(model, method,
      label or tostring(L), t, num(a.seconds_per_epoch), num(a.steps_per_second, "%.1f"),
      num(a.peak_rss_mb, "%.1f"), num(b.seconds_per_epoch), num(b.steps_per_second, "%.1f"),
      num(b.peak_rss_mb, "%.1f"),
      s.best_pytorch and ("%s (%d)"):format(num(s.best_pytorch), s.best_pytorch_threads) or "-",
      ratio(b.seconds_per_epoch, a.seconds_per_epoch), ratio(s.best_pytorch, a.seconds_per_epoch),
      ratio(b.cpu_seconds_per_epoch, a.cpu_seconds_per_epoch), ratio(b.peak_rss_mb, a.peak_rss_mb)))
    local name = ("%s %s L=%s, %d thread%s"):format(model, method, label or tostring(L), t, t == 1 and "" or "s")
    if a.seconds_per_epoch and (t == 1 and b.seconds_per_epoch or t ~= 1 and s.best_pytorch) then
      local got = (t == 1 and b.seconds_per_epoch or s.best_pytorch) / a.seconds_per_epoch
      local want = t == 1 and 2.5 or 3
      verdict(got >= want, ("%s: %.2fx faster than %s (target >= %gx)"):format(name, got,
        t == 1 and "PyTorch at 1 thread" or "PyTorch's best", want))
    end
    if a.peak_rss_mb and b.peak_rss_mb then
      verdict(b.peak_rss_mb / a.peak_rss_mb >= 8, ("%s: peak RSS %.1f MB, 1/%.1f of PyTorch's %.1f MB "
        .. "(target <= 1/8)"):format(name, a.peak_rss_mb, b.peak_rss_mb / a.peak_rss_mb, b.peak_rss_mb))
    end
  end
  cells_json[#cells_json + 1] = { model = model, method = method, seq_len = L, key = key,
    synlua = by_threads(s.synlua), pytorch = by_threads(s.pytorch), best_pytorch_seconds_per_epoch = s.best_pytorch,
    best_pytorch_threads = s.best_pytorch_threads }
  return s
end

local sums = {}
for _, model in ipairs(o.models) do
  for _, method in ipairs(o.methods) do
    for _, L in ipairs(o.lengths) do
      local key = key_of(model, method, L)
      sums[key] = cell_rows(model, method, L, key)
    end
  end
end

-- prunable weights must agree, or the twin does not prune the same tensors
for key, s in pairs(sums) do
  local a, b = next(s.synlua), next(s.pytorch)
  a, b = a and s.synlua[a], b and s.pytorch[b]
  if a and b and a.prunable and b.prunable and a.prunable ~= b.prunable then
    failures[#failures + 1] = ("%s: synlua prunes %d weights, the twin %d"):format(key, a.prunable, b.prunable)
  end
  if a and b and a.params ~= b.params then
    failures[#failures + 1] = ("%s: synlua's model has %d parameters, the twin's %d"):format(key, a.params, b.params)
  end
end

local large
if not o.skip_large then
  emit()
  emit(("### Large job: LSTM + prune, L = 60, %d generated rows (%d features, %d training windows), %d epoch%s, "
    .. "median of %d run%s"):format(o.large_rows, large_features, large_windows, o.large_epochs,
    o.large_epochs == 1 and "" or "s", o.large_rounds, o.large_rounds == 1 and "" or "s"))
  emit()
  emit("| model | method | L | T | synlua s/epoch | synlua steps/s | synlua MB | PyTorch s/epoch | PyTorch steps/s "
    .. "| PyTorch MB | best PT s/epoch (T) | PT/sy | best PT/sy | PT/sy CPU | RSS PT/sy |")
  emit("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  large = cell_rows("lstm", "prune", LARGE_L, LARGE_KEY, "60 (large)")
  emit()
  local s1 = large and large.synlua[1]
  local any = s1 or (large and select(2, next(large.synlua)))
  if any and any.floor_step_seconds then
    emit(("GEMM-bound floor of one step (3 x the forward GEMM FLOPs at raw cblas_sgemm speed on the same "
      .. "shapes, 1 thread, in the synlua runs): %s ms = %.1f GFLOP/s."):format(ms(any.floor_step_seconds),
      any.step_flops / any.floor_step_seconds / 1e9))
    if any.floor_own_step_seconds then
      emit(("The stricter floor, at the raw speed of synlua's own AVX-512 kernel, which its layers use: %s ms = %.1f GFLOP/s.")
        :format(ms(any.floor_own_step_seconds), any.step_flops / any.floor_own_step_seconds / 1e9))
    end
    for _, t in ipairs(o.threads) do
      local a = large.synlua[t]
      if a then
        emit(("- synlua at %d thread%s: %s ms per step, %.0f%% of the floor%s%s."):format(t, t == 1 and "" or "s",
          ms(a.seconds_per_epoch * o.large_epochs / a.steps), a.floor_pct,
          a.floor_own_pct and (", %.0f%% of the stricter one"):format(a.floor_own_pct) or "",
          t == 1 and "" or (" (the ideal %d-thread floors: floor / %d)"):format(t, t)))
        if t == 1 then
          verdict(a.floor_pct >= 60, ("large LSTM, 1 thread: %.0f%% of the GEMM-bound floor (target >= 60%%)")
            :format(a.floor_pct))
        end
      end
    end
  end
end

-- Inference latency.
emit()
emit("### Single-window inference (batch 1, eval mode, no grad; median of " .. o.infer_calls
  .. " calls after training, method none)")
emit()
emit("| model | L | T | synlua us | PyTorch us | PT/sy |")
emit("|---|---:|---:|---:|---:|---:|")
local infer_json = {}
for _, model in ipairs(o.models) do
  for _, L in ipairs(o.lengths) do
    local s = sums[key_of(model, "none", L)] or sums[key_of(model, o.methods[1], L)]
    for _, t in ipairs(o.threads) do
      local a, b = s and s.synlua[t] or {}, s and s.pytorch[t] or {}
      emit(("| %s | %d | %d | %s | %s | %s |"):format(model, L, t, num(a.infer_seconds and a.infer_seconds * 1e6,
        "%.1f"), num(b.infer_seconds and b.infer_seconds * 1e6, "%.1f"), ratio(b.infer_seconds, a.infer_seconds)))
      infer_json[#infer_json + 1] = { model = model, seq_len = L, threads = t, synlua_seconds = a.infer_seconds,
                                      pytorch_seconds = b.infer_seconds }
    end
  end
end

-- Start-up.
local su, pu = median(startup.synlua), median(startup.pytorch)
emit()
emit(("### Process start-up (median of %d, alternating)"):format(o.startup_runs))
emit()
emit(("`synlua -e ''`: %s ms; `python3 -c 'import torch'`: %s ms; ratio %s."):format(ms(su), ms(pu), ratio(pu, su)))
if su and pu then
  verdict(pu / su >= 50, ("start-up: synlua %.0fx faster than importing torch (target >= 50x)"):format(pu / su))
end

-- Pruning overhead.
local prune_json = {}
if study.member(o.methods, "prune") then
  emit()
  emit("### Pruning overhead")
  emit()
  emit("pruner % = time inside pruner:step (the mask updates) / training time, measured in the synlua run; "
    .. "the re-application of the masks is fused into Adam's step and counted only by prune - none "
    .. "(which for PatchTST also includes the arm's dropout 0.3). PyTorch % = its prune and mask-multiply calls.")
  emit()
  emit("| model | L | T | prune events | sparsity synlua / PyTorch | pruner % | prune - none % | PyTorch pruner % |")
  emit("|---|---:|---:|---:|---:|---:|---:|---:|")
  for _, model in ipairs(o.models) do
    for _, L in ipairs(o.lengths) do
      local sp, sn = sums[key_of(model, "prune", L)], sums[key_of(model, "none", L)]
      for _, t in ipairs(o.threads) do
        local a = sp and sp.synlua[t] or {}
        local n = sn and sn.synlua[t] or {}
        local b = sp and sp.pytorch[t] or {}
        local diff = a.seconds_per_epoch and n.seconds_per_epoch
          and 100 * (a.seconds_per_epoch - n.seconds_per_epoch) / n.seconds_per_epoch
        emit(("| %s | %d | %d | %s | %s | %s | %s | %s |"):format(model, L, t, num(a.prune_events, "%d"),
          ("%s / %s"):format(num(a.sparsity and 100 * a.sparsity, "%.1f%%"), num(b.sparsity and 100 * b.sparsity,
            "%.1f%%")), num(a.prune_pct, "%.2f"),
          num(diff, "%+.1f"), num(b.prune_pct, "%.2f")))
        if a.prune_pct then
          verdict(a.prune_pct <= 2, ("pruning overhead %s L=%d, %d thread%s: %.2f%% of the epoch (target <= 2%%)")
            :format(model, L, t, t == 1 and "" or "s", a.prune_pct))
        end
        prune_json[#prune_json + 1] = { model = model, seq_len = L, threads = t, pruner_pct = a.prune_pct,
                                        prune_minus_none_pct = diff, pytorch_pruner_pct = b.prune_pct,
                                        events = a.prune_events }
      end
    end
  end
end

emit()
emit("### Targets (issue 8)")
emit()
if #verdicts == 0 then emit("- (no PyTorch numbers: nothing to compare)") end
for _, v in ipairs(verdicts) do emit(v) end
if #failures > 0 then
  emit()
  emit("### Failures")
  emit()
  for _, f in ipairs(failures) do emit("- " .. f:gsub("\n", " ")) end
end

local text = table.concat(out, "\n") .. "\n"
io.write(text)

local report = {
  date = date, machine = { cpu = cpu_model, logical_cpus = cores }, synlua = sy.version, pytorch = torch_version,
  load_average = { start = load_start, ["end"] = load_end }, rounds = o.rounds, epochs = o.epochs,
  batch = BATCH, lr = LR, lengths = o.lengths, threads = o.threads, pytorch_threads = array(TORCH_THREADS),
  data = DATA, cells = array(cells_json), inference = array(infer_json), pruning = array(prune_json),
  startup = { synlua_seconds = su, pytorch_seconds = pu, runs = o.startup_runs },
  large = large and { rows = o.large_rows, windows = large_windows, features = large_features,
                      epochs = o.large_epochs, rounds = o.large_rounds, synlua = by_threads(large.synlua),
                      pytorch = by_threads(large.pytorch) } or nil,
  targets = array(verdicts), failures = array(failures), seconds = sy._now() - started,
}
local json_path = o.json or (o.out and o.out .. "/vs_pytorch.json")
if o.out then
  os.execute("mkdir -p " .. q(o.out))
  study.write_atomic(o.out .. "/vs_pytorch.md", text)
end
if json_path then study.write_atomic(json_path, json(report) .. "\n") end
if #failures > 0 then os.exit(1) end
