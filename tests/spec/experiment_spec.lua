-- sy.experiment and scripts/paper_grid.lua: flags and --grid files, the
-- plan and its slices, the results file (keys, torn and malformed rows),
-- and whole runs of tiny grids through the interpreter: results and summary,
-- JSON lines, resume after kill -9, repair of a torn last row, --jobs 2
-- giving the --jobs 1 results, disjoint --shard slices and --merge.
local sy = require("synlua")
local util = require("testutil")
local ex = sy.experiment

local BIN = assert(os.getenv("SYNLUA_BIN"), "SYNLUA_BIN is not set")
local SOURCE_DIR = os.getenv("SYNLUA_SOURCE_DIR") or "."
local q = util.quote

local tmpdir = util.tmpdir

local dirs = {}
local function scratch()
  local d = tmpdir()
  dirs[#dirs + 1] = d
  return d
end

local slurp = util.read

-- Runs scripts/paper_grid.lua (after the Lua text `pre`, run by the
-- interpreter's -e, when given); returns exit status, stdout, stderr.
local function grid(args, env, pre)
  local d = tmpdir()
  local cmd = ("cd %s && %s %s %sscripts/paper_grid.lua %s >%s/out 2>%s/err"):format(q(SOURCE_DIR), env or "", q(BIN),
    pre and ("-e " .. q(pre) .. " ") or "", args, q(d), q(d))
  local _, _, status = os.execute(cmd)
  local out, err = slurp(d .. "/out"), slurp(d .. "/err")
  os.execute("rm -rf " .. q(d))
  return status, out, err
end

local function usage_of(argv)
  local ok, e = pcall(ex.parse_args, argv)
  assert.is_false(ok, "accepted: " .. table.concat(argv, " "))
  assert.are.equal("table", type(e), tostring(e))
  return e.usage
end

local function has(s, needle)
  assert(s and s:find(needle, 1, true), ("%q not found in:\n%s"):format(needle, tostring(s)))
end

local function count_lines(s)
  local n = 0
  for _ in s:gmatch("[^\n]+") do n = n + 1 end
  return n
end

-- The rows of a results file by key, failing on a key seen twice.
local function by_key(path)
  local rows, info = ex.read_results(path, { must_exist = true })
  assert.are.equal(0, info.dropped)
  assert.are.equal(0, info.duplicates, "a trial appears twice in " .. path)
  local t = {}
  for _, r in ipairs(rows) do t[r.key] = r end
  return t, rows
end

local TINY = "--arch rnn --datasets bitcoin --seq-len 1 --method none,prune --trials 2 --epochs 1 --quiet"

-- Run before the grid: every RNN of sequence length 3 starts with output
-- weights of 1e30, so its loss overflows at the first batch (configurations
-- that diverge; the others train as usual).
local DIVERGE_L3 = [[
local study = require('synlua.study')
local build = study.MODELS.rnn
study.MODELS.rnn = function(D, L, p)
  local m = build(D, L, p)
  if L == 3 then
    local sd = m:state_dict()
    sd['fc.weight'] = sd['fc.weight']:clone():fill_(1e30)
    m:load_state_dict(sd)
  end
  return m
end]]

-- The columns of the results CSV before the status and error columns (the
-- format of result files written until then).
local OLD_FIELDS = "key,model,dataset,protocol,seq_len,method,trial,seed,max_epochs,mc_samples,leaky_leads,epochs,"
  .. "best_epoch,stopped_early,mae,mse,rmse,sparsity,sparsity_target,mc_std,seconds_per_epoch,seconds,peak_rss_mb,"
  .. "tensor_peak_mb,dropout,eval_split,features,train_windows,eval_windows,threads,sparsity_by_epoch"

describe("sy.experiment", function()
  teardown(function()
    for _, d in ipairs(dirs) do os.execute("rm -rf " .. q(d)) end
  end)

  describe("flags", function()
    it("default to the paper's grid", function()
      local o = ex.parse_args({ "--out", "/tmp/x" })
      assert.are.same({ "rnn", "lstm", "patchtst" }, o.archs)
      assert.are.same({ "sp500", "bitcoin", "airquality", "household" }, o.datasets)
      assert.are.same({ "none", "dropout", "mc", "prune" }, o.methods)
      assert.are.same({ 1, 3, 7, 14, 30, 60 }, o.seq_len)
      assert.are.same({ "paper" }, o.protocols)
      assert.are.equal(10, o.trials)
      assert.are.equal(20, o.epochs)
      assert.are.equal(42, o.seed)
      assert.are.equal(1, o.jobs)
      assert.are.equal(3 * 4 * 4 * 6 * 10, #ex.plan(o))
    end)

    it("take the grid's own flags and the study flags", function()
      local o = ex.parse_args({ "--arch", "lstm,rnn", "--datasets=sp500", "--protocol", "paper,clean",
        "--jobs", "3", "--shard", "2/5", "--seq-len", "3,14", "--method", "prune", "--trials", "2",
        "--epochs", "4", "--seed", "7", "--out", "/tmp/x", "--report", "/tmp/x/r", "--json", "--quiet" })
      assert.are.same({ "lstm", "rnn" }, o.archs)
      assert.are.same({ "sp500" }, o.datasets)
      assert.are.same({ "paper", "clean" }, o.protocols)
      assert.are.equal(3, o.jobs)
      assert.are.same({ 2, 5 }, o.shard)
      assert.are.same({ 3, 14 }, o.seq_len)
      assert.are.same({ "prune" }, o.methods)
      assert.are.equal(2, o.trials)
      assert.are.equal(4, o.epochs)
      assert.are.equal(7, o.seed)
      assert.are.equal("/tmp/x/r", o.report)
      assert.is_true(o.json and o.quiet)
      assert.are.equal("/tmp/x/trials.shard-2-of-5.csv", ex.results_path(o))
    end)

    it("read a --grid file under the flags", function()
      local path = util.tempfile([[
        return { archs = { "patchtst" }, datasets = { "household", "sp500" }, seq_len = { 30, 60 },
                 trials = 3, epochs = 7, protocols = { "clean" }, seed = 100, methods = { "none", "prune" } }
      ]])
      local o = ex.parse_args({ "--grid", path, "--trials", "5", "--out", "/tmp/x" })
      assert.are.same({ "patchtst" }, o.archs)
      assert.are.same({ "household", "sp500" }, o.datasets)
      assert.are.same({ 30, 60 }, o.seq_len)
      assert.are.same({ "clean" }, o.protocols)
      assert.are.same({ "none", "prune" }, o.methods)
      assert.are.equal(5, o.trials)   -- the flag wins
      assert.are.equal(7, o.epochs)
      assert.are.equal(100, o.seed)
      util.cleanup()
    end)

    it("reject bad values with messages that name the flag and the value", function()
      local out = { "--out", "/tmp/x" }
      local function with(...)
        local t = { ... }
        for _, v in ipairs(out) do t[#t + 1] = v end
        return t
      end
      has(usage_of(with("--jobs", "0")), "--jobs expects a positive integer, got '0'")
      has(usage_of(with("--jobs", "two")), "--jobs expects a positive integer, got 'two'")
      has(usage_of(with("--shard", "3/2")), "--shard expects I/N with 1 <= I <= N (e.g. 2/4), got '3/2'")
      has(usage_of(with("--shard", "0/2")), "got '0/2'")
      has(usage_of(with("--shard", "1")), "got '1'")
      has(usage_of(with("--arch", "gru")), "--arch: unknown architecture 'gru' (architectures: rnn, lstm, patchtst)")
      has(usage_of(with("--arch", "lstm,lstm")), "--arch: architecture 'lstm' is listed twice")
      has(usage_of(with("--datasets", "sp5OO")), "--datasets: unknown dataset 'sp5OO'")
      has(usage_of(with("--protocol", "paper,dirty")), "--protocol: unknown protocol 'dirty'")
      has(usage_of(with("--method", "prune,dropconnect")), "unknown method 'dropconnect'")
      has(usage_of(with("--seq-len", "3,x")), "--seq-len expects a positive integer, got 'x'")
      has(usage_of(with("--frobnicate")), "unknown flag --frobnicate")
      has(usage_of(with("--save", "ck.st")), "--save is for the single study scripts")
      has(usage_of(with("stray.csv")), "unexpected argument 'stray.csv'")
      has(usage_of(with("--merge")), "--merge needs the result files")
      has(usage_of({ "--arch", "rnn" }), "--out DIR is needed")
      has(usage_of(with("--protocol", "clean", "--leaky-leads", "1")), "only --protocol paper allows it")
      has(usage_of({ "--out", "/tmp/x", "--jobs" }), "--jobs needs a value (N)")
    end)

    it("reject bad --grid files", function()
      has(usage_of({ "--grid", "/nonexistent/g.lua", "--out", "/tmp/x" }), "--grid: cannot load /nonexistent/g.lua")
      local bad_key = util.tempfile("return { arches = { 'rnn' } }")
      has(usage_of({ "--grid", bad_key, "--out", "/tmp/x" }), "unknown key 'arches' (keys: archs, data, datasets")
      local bad_value = util.tempfile("return { trials = 0 }")
      has(usage_of({ "--grid", bad_value, "--out", "/tmp/x" }), "trials must be a positive integer, got 0")
      local bad_list = util.tempfile("return { datasets = { 'sp500', 'moon' } }")
      has(usage_of({ "--grid", bad_list, "--out", "/tmp/x" }), "datasets[2]: unknown dataset moon")
      local not_table = util.tempfile("return 42")
      has(usage_of({ "--grid", not_table, "--out", "/tmp/x" }), "must return a table, got number")
      util.cleanup()
    end)
  end)

  describe("plan", function()
    local o = ex.parse_args({ "--arch", "rnn,lstm", "--datasets", "sp500,bitcoin", "--seq-len", "1,7",
      "--method", "none,mc,prune", "--trials", "3", "--protocol", "paper,clean", "--out", "/tmp/x" })
    local plan = ex.plan(o)

    it("has every trial once, keyed by configuration and seed", function()
      assert.are.equal(2 * 2 * 2 * 3 * 3 * 2, #plan)
      local seen = {}
      for i, t in ipairs(plan) do
        assert.is_nil(seen[t.key], t.key)
        seen[t.key] = true
        assert.are.equal(i, t.index)
        assert.are.equal(42 + t.trial - 1, t.seed)
      end
      -- the data of a dataset, protocol and length is needed in one stretch
      assert.are.equal("sp500", plan[1].dataset)
      assert.are.equal("paper", plan[1].protocol)
      assert.are.equal("sp500/paper/1", ("%s/%s/%d"):format(plan[18].dataset, plan[18].protocol, plan[18].seq_len))
      assert.are.equal("sp500/paper/7", ("%s/%s/%d"):format(plan[19].dataset, plan[19].protocol, plan[19].seq_len))
      assert.are.equal("paper/rnn/sp500/L1/none/e20/s42", plan[1].key)
      assert.are.equal("paper/rnn/sp500/L1/mc/e20/s42/mc1", plan[4].key)  -- one MC pass in the paper protocol
      local clean_mc
      for _, t in ipairs(plan) do if t.protocol == "clean" and t.method == "mc" then clean_mc = t; break end end
      assert.are.equal(50, clean_mc.mc_samples)
    end)

    it("splits into disjoint slices that cover it, also inside a shard (--jobs with --shard)", function()
      for _, n in ipairs({ 1, 2, 5, 7 }) do
        local owner = {}
        for i = 1, n do
          for _, t in ipairs(ex.slice(plan, i, n)) do
            assert.is_nil(owner[t.key], ("%s in slices %s and %d of %d"):format(t.key, tostring(owner[t.key]), i, n))
            owner[t.key] = i
          end
        end
        for _, t in ipairs(plan) do assert.is_not_nil(owner[t.key]) end
      end
      -- the workers of shard 2/3 with 2 jobs are shards 2/6 and 5/6
      local shard, workers = {}, {}
      for _, t in ipairs(ex.slice(plan, 2, 3)) do shard[#shard + 1] = t.key end
      for _, k in ipairs({ 2, 5 }) do
        for _, t in ipairs(ex.slice(plan, k, 6)) do workers[#workers + 1] = t.key end
      end
      table.sort(shard)
      table.sort(workers)
      assert.are.same(shard, workers)
    end)
  end)

  describe("results file", function()
    local HEAD = table.concat(ex.FIELDS, ",")

    local function row_line(t)
      local cells = {}
      for i, k in ipairs(ex.FIELDS) do cells[i] = t[k] ~= nil and tostring(t[k]) or "" end
      return table.concat(cells, ",") .. "\n"
    end

    local base = { model = "lstm", dataset = "sp500", protocol = "paper", seq_len = 7, method = "prune", trial = 1,
                   seed = 42, max_epochs = 5, epochs = 5, mae = 1.25, sparsity_by_epoch = "0;0;0.7;0.7;0.7" }

    it("keeps whole rows and drops a torn last line, malformed rows and zero-filled lines", function()
      local r2 = {}
      for k, v in pairs(base) do r2[k] = v end
      r2.seed, r2.trial, r2.mae = 43, 2, 1.5
      local r3 = {}
      for k, v in pairs(base) do r3[k] = v end
      r3.seed, r3.mae = 44, "oops"
      local text = HEAD .. "\n" .. row_line(base) .. row_line(r3) .. ("\0"):rep(20) .. "\n" .. row_line(r2)
        .. row_line(base):sub(1, 40)
      local path = util.tempfile(text)
      local rows, info = ex.read_results(path)
      assert.are.equal(2, #rows)
      assert.are.equal(1.25, rows[1].mae)
      assert.are.equal(1.5, rows[2].mae)
      assert.are.equal("paper/lstm/sp500/L7/prune/e5/s42", rows[1].key)
      assert.are.equal("0;0;0.7;0.7;0.7", rows[1].sparsity_by_epoch)
      assert.are.equal(3, info.dropped)   -- the malformed row, the zeros, the torn line
      util.cleanup()
    end)

    it("keeps the first of two rows with one key and reads quoted cells", function()
      local dup = {}
      for k, v in pairs(base) do dup[k] = v end
      dup.mae = 9.0
      dup.leaky_leads = '"1,3"'
      local path = util.tempfile(HEAD .. "\n" .. row_line(base) .. row_line(dup))
      local rows, info = ex.read_results(path)
      assert.are.equal(2, #rows)   -- the leads make the second another configuration
      assert.are.equal("1,3", rows[2].leaky_leads)
      assert.are.equal("paper/lstm/sp500/L7/prune/e5/s42/leads1;3", rows[2].key)
      path = util.tempfile(HEAD .. "\n" .. row_line(base) .. row_line(base))
      rows, info = ex.read_results(path)
      assert.are.equal(1, #rows)
      assert.are.equal(1, info.duplicates)
      util.cleanup()
    end)

    it("reads failed rows (no metrics, a message), and a finished row of the same key wins", function()
      local failed = {}
      for k, v in pairs(base) do failed[k] = v end
      failed.mae, failed.epochs, failed.status, failed.error = nil, nil, "failed", '"sy.train: non-finite, x"'
      local fine = {}
      for k, v in pairs(base) do fine[k] = v end
      fine.status = "finished"
      local odd = {}
      for k, v in pairs(base) do odd[k] = v end
      odd.seed, odd.status = 50, "lost"
      local nomsg = {}
      for k, v in pairs(failed) do nomsg[k] = v end
      nomsg.seed, nomsg.error = 51, nil
      for _, text in ipairs({ row_line(failed) .. row_line(fine), row_line(fine) .. row_line(failed) }) do
        local rows, info = ex.read_results(util.tempfile(HEAD .. "\n" .. text .. row_line(odd) .. row_line(nomsg)))
        assert.are.equal(1, #rows)
        assert.are.equal("finished", rows[1].status)
        assert.are.equal(1.25, rows[1].mae)
        assert.are.equal(1, info.duplicates)
        assert.are.equal(2, info.dropped)
        has(table.concat(info.problems, "; "), "status 'lost' is not finished or failed")
        has(table.concat(info.problems, "; "), "no error")
      end
      local rows = ex.read_results(util.tempfile(HEAD .. "\n" .. row_line(failed)))
      assert.are.equal(1, #rows)
      assert.are.same({ "failed", "sy.train: non-finite, x" }, { rows[1].status, rows[1].error })
      assert.is_nil(rows[1].mae)
      util.cleanup()
    end)

    it("reads files written before the status column as finished trials", function()
      local cells = {}
      local i = 0
      for name in OLD_FIELDS:gmatch("[^,]+") do
        i = i + 1
        cells[i] = base[name] ~= nil and tostring(base[name]) or ""
      end
      local rows, info = ex.read_results(util.tempfile(OLD_FIELDS .. "\n" .. table.concat(cells, ",") .. "\n"))
      assert.are.equal(0, info.dropped)
      assert.are.equal(1, #rows)
      assert.are.same({ "finished", 1.25, "paper/lstm/sp500/L7/prune/e5/s42" }, { rows[1].status, rows[1].mae,
        rows[1].key })
      util.cleanup()
    end)

    it("reads a study script's per-trial CSV", function()
      local study = require("synlua.study")
      local header = table.concat(study.TRIAL_FIELDS, ",")
      local cells = {}
      local r = { model = "rnn", dataset = "bitcoin", seq_len = 3, method = "none", protocol = "paper", trial = 1,
                  seed = 42, epochs = 2, mae = 3.5 }
      for i, k in ipairs(study.TRIAL_FIELDS) do cells[i] = r[k] ~= nil and tostring(r[k]) or "" end
      local rows = ex.read_results(util.tempfile(header .. "\n" .. table.concat(cells, ",") .. "\n"))
      assert.are.equal(1, #rows)
      assert.are.equal(3.5, rows[1].mae)
      assert.are.equal("paper/rnn/bitcoin/L3/none/e?/s42", rows[1].key)
      util.cleanup()
    end)
  end)

  describe("runs", function()
    it("write one row per trial, the summary, JSON lines, and skip everything on a rerun", function()
      local out = scratch()
      local status, stdout, err = grid(TINY .. " --json --out " .. q(out))
      assert.are.equal(0, status, err)
      local rows = by_key(out .. "/trials.csv")
      local n = 0
      for _, r in pairs(rows) do
        n = n + 1
        assert.is_true(r.mae > 0)
        assert.are.equal(1, r.epochs)
        assert.is_true(r.tensor_peak_mb > 0 and r.tensor_peak_mb < 1024)
        assert.are.equal(r.method == "prune" and "0" or nil, r.sparsity_by_epoch)  -- one epoch, inside warm-up
      end
      assert.are.equal(4, n)
      assert.are.equal(3, count_lines(slurp(out .. "/summary.csv")))
      assert.are.equal(2, count_lines(stdout))
      for line in stdout:gmatch("[^\n]+") do
        for _, field in ipairs({ "model", "dataset", "seq_len", "method", "protocol", "trials", "epochs_mean",
                                 "mae_mean", "mae_ci_low", "mae_ci_high", "rmse_mean", "sparsity_mean",
                                 "seconds_per_epoch", "peak_rss_mb" }) do
          has(line, '"' .. field .. '":')
        end
        has(line, '"trials":2')
      end
      local before = slurp(out .. "/trials.csv")
      status, stdout, err = grid(TINY .. " --out " .. q(out))
      assert.are.equal(0, status, err)
      has(stdout, "rnn      bitcoin    paper     1 none      2")
      local again = grid(TINY:gsub("%-%-quiet", "") .. " --out " .. q(out))
      assert.are.equal(0, again)
      assert.are.equal(before, slurp(out .. "/trials.csv"))
    end)

    it("resume after kill -9 with every trial exactly once", function()
      local out = scratch()
      local args = "--arch lstm --datasets sp500 --seq-len 3,7 --trials 4 --epochs 3 --quiet --out " .. q(out)
      local total = 1 * 1 * 2 * 4 * 4
      -- the shell records its pid and becomes synlua (exec), so the pid is the grid's
      local pidfile = out .. "/pid"
      os.execute(("cd %s && sh -c 'echo $$ > %s; exec %s scripts/paper_grid.lua %s' >/dev/null 2>&1 &")
        :format(q(SOURCE_DIR), q(pidfile), q(BIN), (args:gsub("'", "'\\''"))))
      local done = 0
      for _ = 1, 1500 do
        local text = slurp(out .. "/trials.csv")
        done = text and count_lines(text) - 1 or 0
        if done >= 3 then break end
        os.execute("sleep 0.02")
      end
      local pid = slurp(pidfile):match("%d+")
      os.execute("kill -9 " .. pid .. " 2>/dev/null")
      os.execute("sleep 0.1")
      local rows_at_kill = select(2, by_key(out .. "/trials.csv"))
      assert.is_true(#rows_at_kill >= 3, "the grid was killed before it wrote 3 rows")
      assert.is_true(#rows_at_kill < total, "the grid finished before the kill; make it longer")
      local status, _, err = grid((args:gsub("%-%-quiet", "")))
      assert.are.equal(0, status, err)
      has(err, ("grid: ran %d trials, skipped %d already done, %d in all"):format(total - #rows_at_kill,
        #rows_at_kill, total))
      local rows, list = by_key(out .. "/trials.csv")
      assert.are.equal(total, #list)
      for _, t in ipairs(ex.plan(ex.parse_args({ "--arch", "lstm", "--datasets", "sp500", "--seq-len", "3,7",
        "--trials", "4", "--epochs", "3", "--out", out }))) do
        assert.is_not_nil(rows[t.key], t.key)
      end
      -- the rows written before the kill are kept as they were
      for _, r in ipairs(rows_at_kill) do assert.are.equal(r.mae, rows[r.key].mae) end
    end)

    it("drop a torn last row and run that trial again", function()
      local out = scratch()
      assert.are.equal(0, (grid(TINY .. " --out " .. q(out))))
      local path = out .. "/trials.csv"
      local text = slurp(path)
      local last_start = text:sub(1, -2):match(".*\n()")
      local torn = text:sub(1, last_start - 1) .. text:sub(last_start, last_start + 30)
      util.write_file(path, torn)
      local status, _, err = grid(TINY:gsub("%-%-quiet", "") .. " --out " .. q(out))
      assert.are.equal(0, status, err)
      has(err, "dropped 1 torn or malformed row (an incomplete last line); those trials run again")
      has(err, "grid: ran 1 trials, skipped 3 already done, 4 in all")
      local _, list = by_key(path)
      assert.are.equal(4, #list)
      local fresh = ex.read_results(path)
      local original = ex.read_results(util.tempfile(text))
      for i, r in ipairs(original) do assert.are.equal(r.mae, fresh[i].mae) end
      util.cleanup()
    end)

    it("record a diverging configuration as failed and complete the others; a rerun skips it, "
      .. "--retry-failed runs it again", function()
      local out, report = scratch(), scratch()
      local args = "--arch rnn --datasets bitcoin --seq-len 1,3 --method none,prune --trials 2 --epochs 1 --out "
        .. q(out)
      local status, stdout, err = grid(args .. " --quiet --json --report " .. q(report), nil, DIVERGE_L3)
      assert.are.equal(4, status, err)
      local rows, list = by_key(out .. "/trials.csv")
      assert.are.equal(8, #list)
      local loss = "sy.train: non-finite training loss (inf) at epoch 1, batch 1 of 5 (learning rate 0.001, "
        .. "batch size 64); the trial stops rather than train on it"
      for _, r in pairs(rows) do
        if r.seq_len == 3 then
          assert.are.same({ "failed", loss }, { r.status, r.error }, r.key)
          assert.is_nil(r.mae)
          assert.are.same({ 17, 289, "val", 1 }, { r.features, r.train_windows, r.eval_split, r.threads })
        else
          assert.are.equal("finished", r.status, r.key)
          assert.is_true(r.mae > 0, r.key)
        end
      end
      has(err, "L=3 none seed 43 [6/8]: failed: " .. loss)
      has(err, "grid: 4 of the 8 trials failed (non-finite loss; status failed in " .. out .. "/trials.csv")
      local json = {}
      for line in stdout:gmatch("[^\n]+") do json[#json + 1] = line end
      assert.are.equal(4, #json)
      has(json[1], '"seq_len":1,"method":"none","protocol":"paper","trials":2,')
      has(json[1], '"trials_failed":0,"error":null')
      has(json[3], '"seq_len":3,"method":"none","protocol":"paper","trials":0,"epochs_mean":null,"mae_mean":null,')
      has(json[3], '"trials_failed":2,"error":"' .. loss .. '"')
      has(slurp(out .. "/summary.csv"), ",trials_failed,error\n")
      -- the report leaves them out and counts them
      has(slurp(report .. "/tables.md"), "Failed trials: 4 (a NaN or infinite loss stopped them; no statistic "
        .. "includes them): paper/rnn/bitcoin/L3/none/e1/s42, ")
      has(slurp(report .. "/index.html"), '<p class="note">Failed trials: 4')
      local before = slurp(out .. "/trials.csv")
      -- the same command again: recorded failures are results too
      status, _, err = grid(args)
      assert.are.equal(4, status, err)
      has(err, "grid: ran 0 trials, skipped 8 already done, 8 in all")
      assert.are.equal(before, slurp(out .. "/trials.csv"))
      has(select(2, grid("--help")), "--retry-failed")
      -- the cause gone, --retry-failed runs them again and keeps the rest
      status, stdout, err = grid(args .. " --retry-failed")
      assert.are.equal(0, status, err)
      has(err, "4 failed trials run again (--retry-failed)")
      has(err, "grid: ran 4 trials, skipped 4 already done, 8 in all")
      assert.is_nil(err:find("failed (non-finite", 1, true))
      has(stdout, "rnn      bitcoin    paper     3 none      2")
      local again, list2 = by_key(out .. "/trials.csv")
      assert.are.equal(8, #list2)
      for k, r in pairs(again) do
        assert.are.equal("finished", r.status, k)
        if r.seq_len == 1 then assert.are.equal(rows[k].mae, r.mae, k) end
      end
    end)

    it("bring a results file of the format before the status column up to date, keeping its trials", function()
      local out = scratch()
      assert.are.equal(0, (grid(TINY .. " --out " .. q(out))))
      local path = out .. "/trials.csv"
      local rows = ex.read_results(path)
      local fields = {}
      for name in OLD_FIELDS:gmatch("[^,]+") do fields[#fields + 1] = name end
      util.write_file(path, require("synlua.study").csv_text(rows, fields))
      assert.are.equal(OLD_FIELDS, slurp(path):match("^[^\n]*"))
      local status, _, err = grid(TINY:gsub("%-%-quiet", "") .. " --out " .. q(out))
      assert.are.equal(0, status, err)
      has(err, "grid: ran 0 trials, skipped 4 already done, 4 in all")
      assert.are.equal(table.concat(ex.FIELDS, ","), slurp(path):match("^[^\n]*"))
      local now, list = by_key(path)
      assert.are.equal(4, #list)
      for _, r in ipairs(rows) do
        assert.are.equal(r.mae, now[r.key].mae)
        assert.are.equal("finished", now[r.key].status)
      end
    end)

    it("give the same results with --jobs 2 as with --jobs 1", function()
      local one, two = scratch(), scratch()
      local args = "--arch rnn,lstm --datasets bitcoin --seq-len 1,3 --method none,dropout,prune --trials 2 "
        .. "--epochs 3 --quiet"
      local s1, _, e1 = grid(args .. " --out " .. q(one))
      assert.are.equal(0, s1, e1)
      local s2, _, e2 = grid(args .. " --jobs 2 --out " .. q(two))
      assert.are.equal(0, s2, e2)
      has(e2, "2 workers done")
      local _, la = by_key(one .. "/trials.csv")
      local b, lb = by_key(two .. "/trials.csv")
      assert.are.equal(2 * 2 * 3 * 2, #la)
      assert.are.equal(#la, #lb)
      for i, r in ipairs(la) do
        assert.are.equal(r.key, lb[i].key)   -- the same order
        for _, f in ipairs({ "mae", "mse", "rmse", "epochs", "sparsity", "sparsity_by_epoch", "eval_windows" }) do
          assert.are.equal(r[f], b[r.key][f], r.key .. " " .. f)
        end
      end
    end)

    it("split the grid into disjoint --shard files that --merge combines", function()
      local out, merged, whole = scratch(), scratch(), scratch()
      local args = "--arch rnn --datasets bitcoin --seq-len 1,3 --method none,mc,prune --trials 2 --epochs 2 --quiet"
      for i = 1, 3 do
        local status, _, err = grid(args .. (" --shard %d/3 --out "):format(i) .. q(out))
        assert.are.equal(0, status, err)
      end
      local owner, n = {}, 0
      for i = 1, 3 do
        local rows = by_key(("%s/trials.shard-%d-of-3.csv"):format(out, i))
        for k in pairs(rows) do
          assert.is_nil(owner[k], k .. " is in two shards")
          owner[k] = i
          n = n + 1
        end
      end
      assert.are.equal(2 * 3 * 2, n)
      local status, _, err = grid(("--merge %s/trials.shard-1-of-3.csv %s/trials.shard-2-of-3.csv "
        .. "%s/trials.shard-3-of-3.csv --out %s"):format(q(out), q(out), q(out), q(merged)))
      assert.are.equal(0, status, err)
      has(err, "merged 12 rows from 3 files")
      assert.are.equal(0, (grid(args .. " --out " .. q(whole))))
      local m, lm = by_key(merged .. "/trials.csv")
      local _, lw = by_key(whole .. "/trials.csv")
      assert.are.equal(#lw, #lm)
      for i, r in ipairs(lw) do
        assert.are.equal(r.key, lm[i].key)
        assert.are.equal(r.mae, m[r.key].mae)
      end
      -- merging again changes nothing
      status = grid(("--merge %s/trials.shard-2-of-3.csv --out %s"):format(q(out), q(merged)))
      assert.are.equal(0, status)
      assert.are.equal(#lm, #select(2, by_key(merged .. "/trials.csv")))
    end)

    it("refuse a results file that another live grid holds, and take over a dead one's lock", function()
      local out = scratch()
      local h = io.popen("sleep 30 >/dev/null 2>&1 & echo $!")
      local live = h:read("l")
      h:close()
      util.write_file(out .. "/trials.csv.lock", live .. "\n")
      local status, _, err = grid(TINY .. " --out " .. q(out))
      assert.are.equal(1, status)
      has(err, ("another grid (process %s) is writing %s/trials.csv"):format(live, out))
      os.execute("kill " .. live)
      os.execute("sleep 0.1")
      status, _, err = grid(TINY .. " --out " .. q(out))
      assert.are.equal(0, status, err)
      assert.is_nil(io.open(out .. "/trials.csv.lock"))
    end)

    it("take the slice of an MPI rank with --shard mpi", function()
      local out = scratch()
      local status, _, err = grid(TINY .. " --shard mpi --out " .. q(out), "OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2")
      assert.are.equal(0, status, err)
      local rows = by_key(out .. "/trials.shard-2-of-2.csv")
      local plan = ex.plan(ex.parse_args({ "--arch", "rnn", "--datasets", "bitcoin", "--seq-len", "1", "--method",
        "none,prune", "--trials", "2", "--epochs", "1", "--out", out }))
      local n = 0
      for _, t in ipairs(ex.slice(plan, 2, 2)) do
        assert.is_not_nil(rows[t.key], t.key)
        n = n + 1
      end
      for _ in pairs(rows) do n = n - 1 end
      assert.are.equal(0, n)
      status, _, err = grid(TINY .. " --shard mpi --out " .. q(out), "PMI_RANK= OMPI_COMM_WORLD_RANK=")
      assert.are.equal(2, status)
      has(err, "--shard mpi: no MPI rank in the environment")
    end)

    it("exit with status 2 and a clear message on a bad flag", function()
      local status, _, err = grid("--jobs 0 --out /tmp/x")
      assert.are.equal(2, status)
      has(err, "scripts/paper_grid.lua: --jobs expects a positive integer, got '0'")
      has(err, "Try 'synlua scripts/paper_grid.lua --help'")
      status, _, err = grid("--arch rnn --datasets nowhere --out /tmp/x")
      assert.are.equal(2, status)
      has(err, "--datasets: unknown dataset 'nowhere'")
      local out
      status, out = grid("--help")
      assert.are.equal(0, status)
      has(out, "--shard I/N")
      has(out, "--merge")
    end)

    it("fail with a message naming the missing dataset file", function()
      local status, _, err = grid("--arch rnn --datasets bitcoin --data /nonexistent --out " .. q(scratch())
        .. " --trials 1 --epochs 1 --seq-len 1 --method none", "SYNLUA_DATA=/nonexistent")
      assert.are.equal(1, status)
      has(err, "bitcoin.csv not found")
    end)
  end)
end)
