-- Interruption and determinism of a study script as a process (issue 9): a
-- study killed with kill -9 in the middle of a trial, after its checkpoint
-- of epoch 2, and continued with --resume ends with the numbers of an
-- uninterrupted run bit for bit; two runs with the same seed and one thread
-- agree bit for bit. (The grid's kill -9 and rerun is in experiment_spec.)
local util = require("testutil")

local BIN = assert(os.getenv("SYNLUA_BIN"), "SYNLUA_BIN is not set")
local SOURCE_DIR = os.getenv("SYNLUA_SOURCE_DIR") or "."
assert(os.getenv("SYNLUA_DATA"), "SYNLUA_DATA is not set")
local q = util.quote

-- The LSTM on the S&P 500 (~0.1 s an epoch here): one trial of up to 12
-- epochs per method, MC dropout (the generator's state) and pruning (masks,
-- pruner state). The kill must land between epochs 2 and 11: on a loaded machine
-- this poll once missed the 4 epochs that 6 left.
local SCRIPT = "scripts/lstm_sp500.lua"
local ARGS = "--epochs 12 --trials 1 --seq-len 7 --method mc,prune --threads 1 --json"

-- Fields that hold computed results (not timing or memory), per trial and
-- per configuration.
local TRIAL_RESULTS = { "seq_len", "method", "seed", "epochs", "best_epoch", "stopped_early", "mae", "mse", "rmse",
                        "sparsity", "sparsity_target", "mc_std", "status" }
local SUMMARY_RESULTS = { "seq_len", "method", "trials", "epochs_mean", "mae_mean", "mae_std", "mse_mean", "rmse_mean",
                          "sparsity_mean", "sparsity_target", "mc_std_mean", "trials_failed", "threads" }

local tmpdir = util.tmpdir

local slurp = util.read

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- A field's text in a JSON line of the scripts (numbers are written
-- exactly, so equal text is the same double).
local function json_field(line, k)
  return assert(line:match('"' .. k .. '":([^,}]*)'), k .. " missing in " .. line)
end

-- The per-trial CSV's rows as tables of cell texts (no quoted cells here).
local function csv_rows(text)
  local l = lines(text)
  local head, rows = {}, {}
  for name in l[1]:gmatch("[^,]+") do head[#head + 1] = name end
  for i = 2, #l do
    local r, j = {}, 0
    for cell in (l[i] .. ","):gmatch("([^,]*),") do
      j = j + 1
      r[head[j]] = cell
    end
    rows[#rows + 1] = r
  end
  return rows
end

-- Runs the study to the end (quiet unless `extra` says otherwise); returns
-- its stdout, per-trial CSV and stderr.
local function run(dir, extra)
  local cmd = ("cd %s && %s %s %s --out %s %s >%s/stdout 2>%s/stderr"):format(q(SOURCE_DIR), q(BIN), SCRIPT, ARGS,
    q(dir), extra or "--quiet", q(dir), q(dir))
  local _, _, status = os.execute(cmd)
  assert.are.equal(0, status, slurp(dir .. "/stderr"))
  return slurp(dir .. "/stdout"), slurp(dir .. "/lstm_sp500_paper_trials.csv"), slurp(dir .. "/stderr")
end

-- The metadata of a checkpoint (the safetensors header), or nil while there
-- is none. Checkpoints are replaced atomically, so a read sees a whole one.
local function checkpoint_meta(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local len = f:read(8)
  local header = len and #len == 8 and f:read(string.unpack("<I8", len))
  f:close()
  return header and header:match('"__metadata__":(%b{})')
end

local function same_results(expect, got)
  local a, b = lines(expect.stdout), lines(got.stdout)
  assert.are.equal(2, #a)
  assert.are.equal(#a, #b)
  for i = 1, #a do
    for _, k in ipairs(SUMMARY_RESULTS) do
      assert.are.equal(json_field(a[i], k), json_field(b[i], k), ("configuration %d: %s"):format(i, k))
    end
  end
  local ra, rb = csv_rows(expect.trials), csv_rows(got.trials)
  assert.are.equal(2, #ra)
  assert.are.equal(#ra, #rb)
  for i = 1, #ra do
    for _, k in ipairs(TRIAL_RESULTS) do
      assert.are.equal(ra[i][k], rb[i][k], ("trial %d: %s"):format(i, k))
    end
  end
end

describe("a study script", function()
  local dirs = {}
  local function scratch()
    local d = tmpdir()
    dirs[#dirs + 1] = d
    return d
  end
  teardown(function()
    for _, d in ipairs(dirs) do os.execute("rm -rf " .. q(d)) end
  end)

  local straight
  setup(function()
    local dir = scratch()
    local stdout, trials = run(dir)
    straight = { stdout = stdout, trials = trials }
  end)

  it("gives bitwise the same results in two runs with the same seed (one thread)", function()
    local stdout, trials = run(scratch())
    same_results(straight, { stdout = stdout, trials = trials })
    -- the trials are not trivially equal: the two methods differ
    local r = csv_rows(trials)
    assert.are_not.equal(r[1].mae, r[2].mae)
  end)

  it("killed with kill -9 mid-trial, continues with --resume to the uninterrupted run's results (bitwise)",
    function()
      local dir = scratch()
      local ck = dir .. "/study.ck"
      -- the shell records its pid and becomes synlua (exec), so the pid is the study's
      os.execute(("cd %s && sh -c 'echo $$ > %s; exec %s %s %s --quiet --out %s --save %s' >%s/killed.out "
        .. "2>%s/killed.err &")
        :format(q(SOURCE_DIR), q(dir .. "/pid"), q(BIN), SCRIPT, ARGS, q(dir), q(ck), q(dir), q(dir)))
      local meta
      for _ = 1, 3000 do
        meta = checkpoint_meta(ck)
        local epoch = meta and tonumber(meta:match('"train%.epoch":"(%d+)"'))
        if epoch and epoch >= 2 then break end
        os.execute("sleep 0.02")
      end
      local pid = assert(slurp(dir .. "/pid"), "the study did not start"):match("%d+")
      os.execute("kill -9 " .. pid .. " 2>/dev/null")
      for _ = 1, 500 do   -- until it is gone
        if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
        os.execute("sleep 0.01")
      end
      assert.is_not_nil(meta, "no checkpoint appeared: " .. tostring(slurp(dir .. "/killed.err")))
      -- killed mid-run: inside the first trial (MC), nothing printed yet
      meta = checkpoint_meta(ck)
      assert.are.equal("L=7 method=mc trial=1", meta:match('"study%.current":"([^"]*)"'), meta)
      local epoch = tonumber(meta:match('"train%.epoch":"(%d+)"'))
      assert.is_true(epoch >= 2 and epoch < 12, "killed at epoch " .. tostring(epoch))
      assert.are.equal("", slurp(dir .. "/killed.out"))
      local stdout, trials, progress = run(dir, "--resume " .. q(ck))
      -- it went on from the checkpoint rather than start again
      assert.matches(("^lstm sp500 L=7 mc %%[1/2%%] trial 1/1  epoch %d/12 "):format(epoch + 1), progress)
      same_results(straight, { stdout = stdout, trials = trials })
    end)
end)
