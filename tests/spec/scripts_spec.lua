-- The study scripts (scripts/*.lua over synlua.study) as a user and another
-- program run them: JSON lines with every field of DESIGN.md §1.4, the
-- table, --help, clear errors for bad flags and missing data, CSV files,
-- progress on stderr, and --stop-after/--resume giving the uninterrupted
-- run's results. Tiny epochs, trials and windows keep it fast.
local BIN = assert(os.getenv("SYNLUA_BIN"), "SYNLUA_BIN is not set")
local SOURCE_DIR = os.getenv("SYNLUA_SOURCE_DIR") or "."
local DATA = assert(os.getenv("SYNLUA_DATA"), "SYNLUA_DATA is not set")

local util = require("testutil")
local q = util.quote

local tmpdir = util.tmpdir

local slurp = util.read

-- Runs a script (after the Lua text `pre`, run by the interpreter's -e,
-- when given); returns exit status, stdout, stderr.
local function run(script, args, env, pre)
  local dir = tmpdir()
  local cmd = ("cd %s && %s %s %s%s %s >%s/out 2>%s/err"):format(q(SOURCE_DIR), env or "", q(BIN),
    pre and ("-e " .. q(pre) .. " ") or "", q("scripts/" .. script .. ".lua"), args or "", q(dir), q(dir))
  local _, _, status = os.execute(cmd)
  local out, err = slurp(dir .. "/out"), slurp(dir .. "/err")
  os.execute("rm -rf " .. q(dir))
  return status, out, err
end

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- A strict parser for one flat JSON object (strings, numbers, true, false,
-- null): enough to check that the lines are valid JSON.
local NULL = setmetatable({}, { __tostring = function() return "null" end })
local function parse_json(s)
  local pos = 1
  local function fail(what) error(("bad JSON at %d (%s): %s"):format(pos, what, s), 0) end
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local function expect(c)
    ws()
    if s:sub(pos, pos) ~= c then fail("expected " .. c) end
    pos = pos + 1
  end
  local function str()
    expect('"')
    local out = {}
    while true do
      local c = s:sub(pos, pos)
      if c == "" then fail("unterminated string") end
      if c == '"' then pos = pos + 1; break end
      if c:byte() < 32 then fail("control character in string") end
      if c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        local simple = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
        if simple[e] then
          out[#out + 1], pos = simple[e], pos + 2
        elseif e == "u" and s:sub(pos + 2, pos + 5):match("^%x%x%x%x$") then
          out[#out + 1], pos = utf8.char(tonumber(s:sub(pos + 2, pos + 5), 16)), pos + 6
        else
          fail("bad escape")
        end
      else
        out[#out + 1], pos = c, pos + 1
      end
    end
    return table.concat(out)
  end
  local function number()
    local start = pos
    if s:sub(pos, pos) == "-" then pos = pos + 1 end
    if s:sub(pos, pos) == "0" then
      pos = pos + 1
    else
      local a, b = s:find("^[1-9]%d*", pos)
      if not a then fail("bad number") end
      pos = b + 1
    end
    local a, b = s:find("^%.%d+", pos)
    if a then pos = b + 1 end
    a, b = s:find("^[eE][-+]?%d+", pos)
    if a then pos = b + 1 end
    return tonumber(s:sub(start, pos - 1))
  end
  local function value()
    ws()
    local c = s:sub(pos, pos)
    if c == '"' then return str() end
    for word, v in pairs({ null = NULL, ["true"] = true, ["false"] = false }) do
      if s:sub(pos, pos + #word - 1) == word then
        pos = pos + #word
        return v
      end
    end
    if c:match("[-%d]") then return number() end
    fail("bad value")
  end
  local obj, order = {}, {}
  expect("{")
  ws()
  if s:sub(pos, pos) == "}" then
    pos = pos + 1
  else
    repeat
      local k = str()
      if obj[k] ~= nil then fail("duplicate key " .. k) end
      expect(":")
      obj[k] = value()
      order[#order + 1] = k
      ws()
      local c = s:sub(pos, pos)
      pos = pos + 1
      if c ~= "," and c ~= "}" then fail("expected , or }") end
    until c == "}"
  end
  ws()
  if pos <= #s then fail("trailing text") end
  return obj, order
end

local DESIGN_FIELDS = { "model", "dataset", "seq_len", "method", "protocol", "trials", "epochs_mean", "mae_mean",
  "mae_ci_low", "mae_ci_high", "rmse_mean", "sparsity_mean", "seconds_per_epoch", "peak_rss_mb" }

local SCRIPTS = {}
for _, a in ipairs({ "rnn", "lstm", "patchtst" }) do
  for _, d in ipairs({ "sp500", "bitcoin", "airquality", "household" }) do SCRIPTS[#SCRIPTS + 1] = a .. "_" .. d end
end

describe("scripts/patchtst_sp500.lua (the flagship)", function()
  it("prints one valid JSON line per method with every field (the issue's check)", function()
    local status, out, err = run("patchtst_sp500", "--epochs 2 --trials 1 --seq-len 7 --json")
    assert.equals(0, status, err)
    local rows = lines(out)
    assert.equals(4, #rows, out)
    for i, method in ipairs({ "none", "dropout", "mc", "prune" }) do
      local r = parse_json(rows[i])
      for _, f in ipairs(DESIGN_FIELDS) do assert.is_not_nil(r[f], f .. " missing in " .. rows[i]) end
      assert.same({ "patchtst", "sp500", 7, method, "paper", 1, 2 },
        { r.model, r.dataset, r.seq_len, r.method, r.protocol, r.trials, r.epochs_mean })
      assert.is_true(r.mae_mean > 0 and r.rmse_mean >= r.mae_mean)
      assert.equals(NULL, r.mae_ci_low)       -- one trial has no interval
      assert.is_true(r.seconds_per_epoch > 0 and r.peak_rss_mb > 1)
      -- the paper split of 1,259 - 7 windows: int(0.8 N) train, the rest evaluated
      assert.same({ 1001, 251, "val" }, { r.train_windows, r.eval_windows, r.eval_split })
      -- reference_patchtst warms up for 5 epochs: after 2 the schedule asks for nothing
      assert.equals(r.sparsity_target, r.sparsity_mean)
      assert.equals(0, r.sparsity_mean)
    end
    local dropout = {}
    for i, l in ipairs(rows) do dropout[i] = parse_json(l).dropout end
    assert.same({ 0, 0.3, 0.3, 0.3 }, dropout)
    -- with pruning still in warm-up and the pruning arm's dropout 0.3, it trains as the dropout arm
    assert.equals(parse_json(rows[2]).mae_mean, parse_json(rows[4]).mae_mean)
  end)
end)

describe("the study scripts", function()
  it("print the table of MAE (mean and 95% CI), sparsity and time per method", function()
    local status, out, err = run("rnn_sp500", "--epochs 1 --trials 2 --seq-len 3 --method none,prune --quiet")
    assert.equals(0, status, err)
    assert.equals("", err)
    local l = lines(out)
    assert.matches("^rnn on sp500: paper protocol, 2 trials %(seeds 42%-43%), at most 1 epoch, 1 thread$", l[1])
    assert.matches("seq_len  method +MAE  95%% CI +RMSE  epochs  sparsity  s/epoch  peak MB", l[3])
    assert.matches("^      3  none +%d+%.%d+  %[%-?%d+%.%d+, %d+%.%d+%] +%d+%.%d+ +1%.0 +0%.0%% +%d%.%d+ +%d+%.%d$",
      l[4])
    assert.matches("^      3  prune ", l[5])
    assert.matches("^finished in %d+%.%d s$", l[6])
    assert.equals(6, #l)
  end)

  it("all answer --help with every flag", function()
    for _, s in ipairs(SCRIPTS) do
      local status, out, err = run(s, "--help")
      assert.equals(0, status, s .. ": " .. err)
      assert.matches("^usage: synlua scripts/" .. s .. "%.lua %[flags%]", out)
      for _, flag in ipairs({ "--epochs", "--trials", "--seq-len", "--method", "--protocol", "--data", "--out",
                              "--seed", "--threads", "--json", "--quiet", "--save", "--resume", "--help" }) do
        assert.is_truthy(out:find("\n  " .. flag .. " ", 1, true), s .. " --help lacks " .. flag)
      end
    end
  end)

  it("run on every dataset (one epoch, one short window)", function()
    for _, s in ipairs({ "rnn_sp500", "lstm_bitcoin", "rnn_airquality", "rnn_household" }) do
      local status, out, err = run(s, "--epochs 1 --trials 1 --seq-len 1 --method none --json --quiet")
      assert.equals(0, status, s .. ": " .. err)
      local r = parse_json(out)
      assert.equals(s:match("_(.*)$"), r.dataset)
      assert.is_true(r.mae_mean > 0, s)
    end
  end)

  it("add the target's leads as features only when asked (--leaky-leads, paper protocol)", function()
    local args = "--epochs 1 --trials 1 --seq-len 3 --method none --json --quiet"
    local _, plain = run("rnn_sp500", args)
    local status, leaky, err = run("rnn_sp500", args .. " --leaky-leads 1,3")
    assert.equals(0, status, err)
    assert.equals(parse_json(plain).features + 2, parse_json(leaky).features)
  end)

  it("say clearly what is wrong with a flag (exit status 2, nothing on stdout)", function()
    local cases = {
      { "--epochs x", "--epochs expects a positive integer, got 'x'" },
      { "--epochs 0", "--epochs expects a positive integer, got '0'" },
      { "--trials=2.5", "--trials expects a positive integer, got '2.5'" },
      { "--seq-len 7,,30", "--seq-len expects a comma-separated list of positive integers, got '7,,30'" },
      { "--method none,l2", "--method: unknown method 'l2' (methods: none, dropout, mc, prune)" },
      { "--protocol test", "--protocol expects paper or clean, got 'test'" },
      { "--bogus", "unknown flag --bogus" },
      { "--epochs", "--epochs needs a value (N)" },
      { "--json=1", "--json takes no value" },
      { "extra", "unexpected argument 'extra' (the scripts take only flags)" },
      { "--stop-after 2", "--stop-after needs --save PATH (or --resume PATH) to keep the work done" },
      { "--protocol clean --leaky-leads 1",
        "--leaky-leads puts future target values into the inputs; only --protocol paper allows it" },
    }
    for _, c in ipairs(cases) do
      local status, out, err = run("rnn_bitcoin", c[1])
      assert.equals(2, status, c[1])
      assert.equals("", out)
      assert.equals(("scripts/rnn_bitcoin.lua: %s\nTry 'synlua scripts/rnn_bitcoin.lua --help' for the flags.\n")
        :format(c[2]), err)
    end
  end)

  it("name the missing data file, the directories searched and how to get it", function()
    local status, out, err = run("rnn_bitcoin", "--data /nonexistent/dir --epochs 1", "env -u SYNLUA_DATA")
    assert.equals(1, status)
    assert.equals("", out)
    assert.matches("^scripts/rnn_bitcoin%.lua: sy%.datasets: bitcoin: bitcoin%.csv not found", err)
    assert.matches("/nonexistent/dir %(%-%-data%)", err)
    assert.matches("get it with: synlua .*fetch%.lua bitcoin", err)
  end)

  it("write per-trial and summary CSV files under --out, and progress lines on stderr", function()
    local dir = tmpdir()
    local status, out, err = run("rnn_bitcoin",
      "--epochs 2 --trials 2 --seq-len 3,5 --method dropout,prune --protocol clean --json --out " .. q(dir))
    assert.equals(0, status, err)
    assert.equals(4, #lines(out))
    local trials = lines(slurp(dir .. "/rnn_bitcoin_clean_trials.csv"))
    local summary = lines(slurp(dir .. "/rnn_bitcoin_clean_summary.csv"))
    assert.equals(1 + 8, #trials)
    assert.equals(1 + 4, #summary)
    assert.matches("^model,dataset,seq_len,method,protocol,trial,seed,epochs,", trials[1])
    assert.matches("^rnn,bitcoin,5,prune,clean,2,43,", trials[9])
    assert.matches("^model,dataset,seq_len,method,protocol,trials,epochs_mean,mae_mean,mae_ci_low,", summary[1])
    assert.matches("^rnn,bitcoin,3,dropout,clean,2,", summary[2])
    local p = io.popen("ls " .. q(dir))
    local listing = p:read("a")
    p:close()
    assert.equals("rnn_bitcoin_clean_summary.csv\nrnn_bitcoin_clean_trials.csv\n", listing)  -- no temp files
    os.execute("rm -rf " .. q(dir))
    -- not a terminal: one line per epoch and one per trial
    local l = lines(err)
    assert.equals(8 * 2 + 8, #l)
    assert.matches("^rnn bitcoin L=3 dropout %[1/4%] trial 1/2  epoch 1/2  loss %d", l[1])
    assert.matches("^rnn bitcoin L=3 dropout %[1/4%] trial 1/2: MAE %d+%.%d+  RMSE", l[3])
    assert.matches("sparsity", l[#l])
  end)

  it("prune rows show what the schedule asked for (exact mechanics in the clean protocol)", function()
    local status, out, err = run("rnn_bitcoin", "--epochs 4 --trials 2 --seq-len 3 --method prune "
      .. "--protocol clean --json --quiet")
    assert.equals(0, status, err)
    local r = parse_json(out)
    -- the RNN's prunable weights: weight_ih [64, D], weight_hh [64, 64], fc.weight [1, 64]
    local N = 64 * r.features + 64 * 64 + 64
    assert.is_true(r.sparsity_target > 0)
    -- each trial prunes floor(s * N) weights of the evaluated (best) epoch
    assert.is_true(math.abs(r.sparsity_mean * N - math.floor(r.sparsity_target * N)) <= 1, out)
  end)

  it("resume after --stop-after with the results of an uninterrupted run", function()
    local dir = tmpdir()
    local ck = q(dir .. "/study.ck")
    local args = "--epochs 4 --trials 2 --seq-len 3 --method mc,prune --json --quiet --threads 1"
    local status, straight = run("rnn_bitcoin", args)
    assert.equals(0, status)
    -- three sittings: 3 epochs (mid-trial), then 6 more, then the rest
    local s1, out1, err1 = run("rnn_bitcoin", args .. " --save " .. ck .. " --stop-after 3")
    assert.equals(3, s1, err1)
    assert.equals("", out1)
    local s2, out2 = run("rnn_bitcoin", args .. " --resume " .. ck .. " --stop-after 6")
    assert.equals(3, s2)
    local s3, out3, err3 = run("rnn_bitcoin", args .. " --resume " .. ck)
    assert.equals(0, s3, err3)
    -- each sitting prints every configuration finished so far: the last one has them all
    assert.equals(1, #lines(out2))
    assert.equals(out2, lines(out3)[1] .. "\n")
    local resumed = lines(out3)
    local expect = lines(straight)
    assert.equals(2, #expect)
    assert.equals(2, #resumed)
    for i = 1, 2 do
      local a, b = parse_json(expect[i]), parse_json(resumed[i])
      for _, f in ipairs({ "mae_mean", "mae_ci_low", "mae_ci_high", "rmse_mean", "mse_mean", "epochs_mean",
                           "sparsity_mean", "mc_std_mean", "method", "seq_len" }) do
        assert.equals(a[f], b[f], f)
      end
    end
    -- a finished study's checkpoint reprints its results; other flags are refused
    local s4, out4 = run("rnn_bitcoin", args .. " --resume " .. ck)
    assert.equals(0, s4)
    assert.equals(out3, out4)
    local s5, _, err5 = run("rnn_bitcoin", "--epochs 5 --trials 2 --seq-len 3 --method mc,prune --resume " .. ck)
    assert.equals(1, s5)
    assert.matches("cannot resume from .*study%.ck: it was written by another study", err5)
    os.execute("rm -rf " .. q(dir))
  end)
end)

-- Run before a study script: the RNN of the `nth` trial at sequence length 3
-- starts with output weights of 1e30, so its loss overflows at the first
-- batch (a trial that diverges; the others train as usual).
local function diverge_l3(nth)
  return ([[
local study = require('synlua.study')
local build, seen = study.MODELS.rnn, 0
study.MODELS.rnn = function(D, L, p)
  local m = build(D, L, p)
  if L == 3 then
    seen = seen + 1
    if seen == %d then
      local sd = m:state_dict()
      sd['fc.weight'] = sd['fc.weight']:clone():fill_(1e30)
      m:load_state_dict(sd)
    end
  end
  return m
end]]):format(nth)
end

describe("a study script with a trial that diverges", function()
  local LOSS = "sy.train: non-finite training loss (inf) at epoch 1, batch 1 of 5 (learning rate 0.001, batch size 64); "
    .. "the trial stops rather than train on it"

  it("reports it, goes on with the others and exits with status 4; --resume keeps the failure", function()
    local dir = tmpdir()
    local args = "--epochs 1 --trials 2 --seq-len 1,3 --method none --json --quiet --out " .. q(dir)
    local status, out, err = run("rnn_bitcoin", args .. " --save " .. q(dir .. "/ck"), nil, diverge_l3(2))
    assert.equals(4, status, err)
    assert.equals("rnn bitcoin L=3 none [2/2] trial 2/2: failed: " .. LOSS .. "\n"
      .. "scripts/rnn_bitcoin.lua: 1 trial failed (non-finite loss); see the messages above\n", err)
    local rows = lines(out)
    assert.equals(2, #rows)
    local fine, partly = parse_json(rows[1]), parse_json(rows[2])
    assert.same({ 1, 2, 0, NULL }, { fine.seq_len, fine.trials, fine.trials_failed, fine.error })
    assert.same({ 3, 1, 1, LOSS }, { partly.seq_len, partly.trials, partly.trials_failed, partly.error })
    assert.is_true(partly.mae_mean > 0)            -- the finished trial's
    assert.equals(NULL, partly.mae_ci_low)
    local trials = lines(slurp(dir .. "/rnn_bitcoin_paper_trials.csv"))
    assert.equals(5, #trials)
    assert.matches(",status,error$", trials[1])
    assert.matches(",finished,$", trials[4])
    assert.equals('rnn,bitcoin,3,none,paper,2,43,,,,,,,,,,,,,failed,"' .. LOSS .. '"', trials[5])
    -- the checkpoint holds the failure (its message has ',' and ';'): a resume reprints it
    local s2, out2, err2 = run("rnn_bitcoin", args .. " --resume " .. q(dir .. "/ck"))
    assert.equals(4, s2, err2)
    assert.equals(out, out2)
    os.execute("rm -rf " .. q(dir))
  end)

  it("says so in the table when every trial of a configuration failed", function()
    local status, out = run("rnn_bitcoin", "--epochs 1 --trials 1 --seq-len 3 --method none --quiet", nil,
      diverge_l3(1))
    assert.equals(4, status)
    local l = lines(out)
    assert.equals("      3  none     the trial failed (non-finite loss; the messages are on stderr)", l[4])
    assert.equals("1 of 1 trials failed (non-finite loss); the statistics leave them out", l[5])
  end)
end)

describe("README's own study", function()
  it("runs as written: a line per seed within the schedule, then the interval", function()
    local readme = slurp(SOURCE_DIR .. "/README.md")
    local section = assert(readme:match("\n## Your own study\n(.-)\n## "), "no 'Your own study' section")
    local script = assert(section:match("```lua\n(.-)```"), "no Lua block")
    local dir = tmpdir()
    local f = assert(io.open(dir .. "/mystudy.lua", "w"))
    f:write(script)
    f:close()
    local p = assert(io.popen(("cd %s && %s mystudy.lua 2>&1"):format(q(dir), q(BIN))))
    local out = p:read("a")
    assert.is_true(p:close(), out)
    os.execute("rm -rf " .. q(dir))
    local l = lines(out)
    assert.equals(6, #l, out)
    for i = 1, 5 do
      local seed, mae, sparsity, best, epochs = l[i]:match("^seed (%d+): MAE ([%d.]+)  sparsity (%d+)%%  "
        .. "best epoch (%d+) of (%d+)$")
      assert.equals(tostring(41 + i), seed, l[i])
      assert.is_true(tonumber(mae) > 0)
      -- the ramp's value at the best epoch (0-based epoch best - 1), at most 60%
      assert.equals(math.floor(100 * math.min(0.6, 0.15 * (tonumber(best) - 1)) + 0.5), tonumber(sparsity), l[i])
      assert.is_true(tonumber(best) <= tonumber(epochs) and tonumber(epochs) <= 20)
    end
    assert.matches("^MAE [%d.]+, 95%% CI %[[%d.]+, [%d.]+%]$", l[6])
  end)
end)
