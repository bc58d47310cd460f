-- sy.train: methods, protocols (split used, early-stopping rules, restore of
-- the best weights), MC averaging, pruning inside training, checkpoints
-- (resume gives the uninterrupted run's numbers bitwise) and progress output.
-- Small synthetic data and models keep it fast.
local sy = require("synlua")
local train = sy.train

sy.set_num_threads(1)

-- A learnable synthetic task: y = a weighted sum of the last step's
-- features plus noise; windows [N, L, D], targets [N, 1], split 200/60/60.
local function synthetic(L, D)
  L, D = L or 4, D or 3
  sy.manual_seed(7)
  local n = 320
  local X = sy.randn(n, L, D)
  local w = sy.tensor({ 0.5, -1.0, 0.25 }):narrow(1, 1, D)
  local y = (X:select(2, L) * w):sum(2, true) + sy.randn(n, 1) * 0.1
  local ys = sy.data.scaler("standard"):fit(y:view(n))
  local function part(first, count)
    return { X = X:narrow(1, first, count), y = ys:transform(y:narrow(1, first, count)) }
  end
  return { train = part(1, 200), val = part(201, 60), test = part(261, 60), y_scaler = ys }
end

local function rnn(D)
  return function(o) return sy.models.RNN({ input_dim = D or 3, hidden = 8, dropout = o.dropout }) end
end

local function tmpfile(suffix)
  local p = os.tmpname()
  os.remove(p)
  return p .. (suffix or "")
end

-- A stream that keeps what is written to it.
local function sink()
  local s = { text = "" }
  function s:write(...)
    for _, v in ipairs({ ... }) do self.text = self.text .. v end
  end
  function s:flush() end
  return s
end

-- Bitwise equality of two tensors (shape and every value).
local function equal(a, b)
  if table.concat(a:size(), ",") ~= table.concat(b:size(), ",") then return false end
  return a:double():eq(b:double()):sum():item() == a:numel()
end

local function same_tensors(a, b)
  for name, t in pairs(a) do
    assert.is_not_nil(b[name], name)
    assert.is_true(equal(t, b[name]), name .. " differs")
  end
end

describe("sy.train.method_settings", function()
  it("gives the paper's dropout, MC passes and pruning presets", function()
    local s = train.method_settings("dropout", { protocol = "paper" })
    assert.equals(0.3, s.dropout)
    assert.equals("deterministic", s.eval_mode)
    s = train.method_settings("mc", { protocol = "paper" })
    assert.same({ 0.3, 1, "mc" }, { s.dropout, s.mc_samples, s.eval_mode })
    assert.equals(50, train.method_settings("mc", { protocol = "clean" }).mc_samples)
    assert.equals(0, train.method_settings("none").dropout)
  end)

  it("uses the reference code's per-architecture pruning arm in the paper protocol", function()
    local expect = { rnn = 0.0, lstm = 0.0, patchtst = 0.3 }
    for arch, p in pairs(expect) do
      local s = train.method_settings("prune", { protocol = "paper", arch = arch })
      assert.equals("reference_" .. arch, s.prune.preset)
      assert.equals(p, s.dropout)
    end
    local s = train.method_settings("prune", { protocol = "clean", arch = "patchtst" })
    assert.equals("paper", s.prune.preset)
    assert.equals(0, s.dropout)
    assert.equals("paper", train.method_settings("prune", { protocol = "paper" }).prune.preset)
  end)

  it("names what is wrong", function()
    assert.has_error(function() train.method_settings("l1") end,
      "sy.train: method must be one of none, dropout, mc, prune, got \"l1\"")
    assert.has_error(function() train.method_settings("none", { protocol = "test" }) end,
      "sy.train: protocol must be \"paper\" or \"clean\", got \"test\"")
    assert.has_error(function() train.method_settings("prune", { arch = "gru" }) end,
      "sy.train: arch must be one of rnn, lstm, patchtst (or nil), got \"gru\"")
  end)
end)

describe("sy.train.early_stopping", function()
  local function stop_epoch(protocol, losses, patience)
    local s = train.early_stopping(protocol, patience)
    for i, v in ipairs(losses) do
      local _, stop = s:update(v)
      if stop then return i, s end
    end
    return nil, s
  end

  it("paper: stops once each of the last three losses failed to improve on the one before", function()
    assert.equals(5, (stop_epoch("paper", { 1, 0.9, 0.95, 0.96, 0.97, 0.1 })))
    assert.equals(4, (stop_epoch("paper", { 1, 1, 1, 1, 1 })))           -- ties do not improve
    assert.equals(7, (stop_epoch("paper", { 1, 0.5, 0.6, 0.4, 0.45, 0.5, 0.55 })))
    assert.is_nil((stop_epoch("paper", { 1, 0.5, 0.6, 0.55, 0.58, 0.57 })))  -- never three in a row
    assert.equals(3, (stop_epoch("paper", { 1, 1, 2, 3 }, 2)))
  end)

  it("clean: stops after `patience` epochs without a new best", function()
    local e, s = stop_epoch("clean", { 1, 0.5, 0.6, 0.55, 0.58, 0.57 })
    assert.equals(5, e)
    assert.same({ 0.5, 2 }, { s.best, s.best_epoch })
    assert.equals(7, (stop_epoch("clean", { 1, 0.5, 0.6, 0.4, 0.45, 0.5, 0.55 })))
    assert.is_nil((stop_epoch("clean", { 3, 2, 1, 0.5 })))
  end)

  it("reports improvements", function()
    local s = train.early_stopping("clean")
    assert.same({ true, false }, { s:update(2) })
    assert.same({ false, false }, { s:update(2) })
    assert.same({ true, false }, { s:update(1) })
  end)

  it("checks its arguments", function()
    assert.has_error(function() train.early_stopping("val") end,
      "sy.train.early_stopping: protocol must be \"paper\" or \"clean\", got \"val\"")
    assert.has_error(function() train.early_stopping("paper", 0) end,
      "sy.train.early_stopping: patience must be a positive integer, got 0")
  end)
end)

describe("sy.train.predict", function()
  local X = sy.randn(10, 4, 2)
  local function model()
    sy.manual_seed(3)
    return sy.models.PaperPatchTST({ input_dim = 2, seq_len = 4, d_model = 8, heads = 2, layers = 1, d_ff = 16,
                                     dropout = 0.3 })
  end

  it("averages MC passes: the mean and std of the single passes, in order", function()
    local m = model()
    sy.manual_seed(11)
    local passes = {}
    for i = 1, 3 do passes[i] = train.predict(m, X, { mode = "mc", batch_size = 4 }) end
    sy.manual_seed(11)
    local mean, std = train.predict(m, X, { mode = "mc", samples = 3, batch_size = 4 })
    local sum = passes[1] + passes[2] + passes[3]
    local sq = passes[1] * passes[1] + passes[2] * passes[2] + passes[3] * passes[3]
    assert.is_true(equal(mean, sum / 3))
    assert.is_true(equal(std, (sq / 3 - (sum / 3) * (sum / 3)):clamp(0, math.huge):sqrt()))
    assert.is_true(std:min():item() > 0)            -- the passes differ
    assert.is_false(equal(passes[1], passes[2]))
    assert.equals("float64", mean:dtype())
    assert.same({ 10, 1 }, mean:size())
  end)

  it("runs MC passes with every dropout site live, the attention's too (training mode)", function()
    local m = model()
    sy.manual_seed(5)
    local mc = train.predict(m, X, { mode = "mc", batch_size = 10 })
    assert.is_false(m.training)                       -- left in eval mode
    sy.manual_seed(5)
    m:train()
    local manual = sy.no_grad(function() return m(X):double() end)
    assert.is_true(equal(mc, manual))
  end)

  it("is deterministic without MC and ignores samples there", function()
    local m = model()
    local a, sa = train.predict(m, X)
    local b = train.predict(m, X, { samples = 5, batch_size = 3 })
    assert.is_nil(sa)
    assert.is_true(equal(a, b))
  end)

  it("computes MAE, MSE, RMSE in the target's units", function()
    local sc = sy.data.scaler("standard"):fit(sy.tensor({ 0, 10 }, "float64"))  -- shift 5, scale 5
    local mae, mse, rmse = train.metrics(sy.tensor({ { 0 }, { 1 } }), sy.tensor({ { 0.2 }, { 0.6 } }), sc)
    assert.near(0.5 * (1 + 2), mae, 1e-6)
    assert.near(0.5 * (1 + 4), mse, 1e-5)
    assert.near(math.sqrt(2.5), rmse, 1e-6)
  end)
end)

describe("sy.train.trial", function()
  local data = synthetic()

  it("learns, and evaluates the paper protocol on the validation windows", function()
    local r = train.trial({ model = rnn(), data = data, method = "none", protocol = "paper", epochs = 6,
                            patience = 10 })
    assert.equals("val", r.eval_split)
    assert.equals(6, r.epochs)
    assert.is_true(r.val_losses[6] < r.val_losses[1])
    assert.is_true(r.train_losses[6] < r.train_losses[1])
    assert.is_true(equal(r.target, data.y_scaler:inverse(data.val.y:double())))
    local mae = (r.prediction - r.target):abs():mean():item()
    assert.near(mae, r.mae, 1e-12)
    assert.near(r.mse, r.rmse ^ 2, 1e-12)
    assert.is_true(r.seconds_per_epoch > 0)
    assert.is_true(r.peak_rss_mb > 1)
  end)

  it("paper protocol: stops early without restoring, the last weights are evaluated", function()
    -- lr 0.3 makes the validation loss wander, so the rule fires
    local r = train.trial({ model = rnn(), data = data, protocol = "paper", epochs = 20, lr = 0.3 })
    assert.is_true(r.stopped_early)
    local v, n = r.val_losses, #r.val_losses
    assert.equals(n, r.epochs)
    assert.is_true(n < 20)
    assert.is_true(v[n] >= v[n - 1] and v[n - 1] >= v[n - 2] and v[n - 2] >= v[n - 3])
    local p = train.predict(r.model, data.val.X)
    local d = p - data.val.y:double()
    assert.equals(v[n], (d * d):mean():item())   -- the weights of the last epoch
  end)

  it("clean protocol: patience against the best epoch, best weights restored, test windows", function()
    local r = train.trial({ model = rnn(), data = data, protocol = "clean", epochs = 20, lr = 0.3 })
    local v = r.val_losses
    local best = 1
    for i = 2, #v do if v[i] < v[best] then best = i end end
    assert.equals("test", r.eval_split)
    assert.equals(best, r.best_epoch)
    assert.is_true(best < r.epochs)
    assert.equals(r.epochs, best + 3)
    local p = train.predict(r.model, data.val.X)
    local d = p - data.val.y:double()
    assert.equals(v[best], (d * d):mean():item())   -- the best epoch's weights are back
    assert.is_true(equal(r.target, data.y_scaler:inverse(data.test.y:double())))
  end)

  it("seeds initialisation, shuffling and dropout: same seed, same result; another seed, another", function()
    local o = { model = rnn(), data = data, method = "dropout", protocol = "paper", epochs = 3, patience = 10 }
    local a = train.trial(o)
    local b = train.trial(o)
    o.seed = 43
    local c = train.trial(o)
    assert.equals(a.mae, b.mae)
    assert.same(a.val_losses, b.val_losses)
    assert.are_not.equal(a.mae, c.mae)
  end)

  it("MC dropout: one pass in the paper protocol, the mean of T passes with their std otherwise", function()
    local p = train.trial({ model = rnn(), data = data, method = "mc", protocol = "paper", epochs = 2 })
    assert.equals(1, p.mc_samples)
    assert.is_nil(p.mc_std)
    local c = train.trial({ model = rnn(), data = data, method = "mc", protocol = "clean", epochs = 2,
                            mc_samples = 20 })
    assert.equals(20, c.mc_samples)
    assert.is_true(c.mc_std > 0)
    local d = train.trial({ model = rnn(), data = data, method = "dropout", protocol = "clean", epochs = 2 })
    assert.is_nil(d.mc_samples)
  end)

  it("prunes to exactly the sparsity a Lua schedule function asks for", function()
    local asked = {}
    local r = train.trial({
      model = rnn(), data = data, method = "prune", protocol = "paper", epochs = 4, patience = 10,
      prune = { preset = false, schedule = function(epoch, step)
        asked[#asked + 1] = { epoch, step }
        return 0.2 * epoch
      end, warmup = 1, every = "epoch" },
    })
    local pr = r.pruner
    assert.is_false(pr.compat)
    -- the first batch of epochs 1, 2, 3 (4 batches an epoch; the counter runs over all epochs)
    assert.same({ { 1, 5 }, { 2, 9 }, { 3, 13 } }, asked)
    local target = 0.2 * 3
    assert.equals(target, r.sparsity_target)
    assert.equals(math.floor(target * pr.total) / pr.total, r.sparsity)
    -- the pruned weights are zero in the trained model
    local st = pr:stats()
    assert.equals(math.floor(target * pr.total), st.pruned)
    for name, mask in pairs(pr.masks) do
      local w = r.model:named_parameters()[name]
      assert.equals(0, (w:detach() * mask:eq(0):float()):abs():sum():item())
    end
  end)

  it("uses the reference presets in the paper protocol and the paper preset in the clean one", function()
    local lstm = function(o) return sy.models.LSTM({ input_dim = 3, hidden = 8, dropout = o.dropout }) end
    local r = train.trial({ model = lstm, data = data, method = "prune", protocol = "paper", arch = "lstm",
                            epochs = 3, patience = 10 })
    assert.is_true(r.pruner.compat)
    assert.equals(2, r.pruner.every)
    assert.equals(0.7, r.sparsity_target)                 -- s_min at the warm-up's end (epoch 2)
    assert.near(0.7, r.sparsity, 0.03)   -- compat: k - 1 weights, a fully pruned tensor leaves N
    local c = train.trial({ model = lstm, data = data, method = "prune", protocol = "clean", arch = "lstm",
                            epochs = 3 })
    assert.is_false(c.pruner.compat)
    assert.equals(5, c.pruner.every)
  end)

  local function resume_case(o, k)
    sy.set_num_threads(1)
    local straight = train.trial(o)
    local path = tmpfile(".safetensors")
    local first = {}
    for key, v in pairs(o) do first[key] = v end
    first.save, first.stop_after = path, k
    local part = train.trial(first)
    assert.is_true(part.interrupted)
    assert.equals(k, part.epochs)
    local second = {}
    for key, v in pairs(o) do second[key] = v end
    second.resume, second.save = path, path
    local resumed = train.trial(second)
    os.remove(path)
    assert.equals(straight.mae, resumed.mae)
    assert.equals(straight.rmse, resumed.rmse)
    assert.same(straight.val_losses, resumed.val_losses)
    assert.same(straight.train_losses, resumed.train_losses)
    assert.equals(straight.epochs, resumed.epochs)
    assert.equals(straight.sparsity, resumed.sparsity)
    same_tensors(straight.model:state_dict(), resumed.model:state_dict())
    return straight, resumed
  end

  it("resumes a pruning trial with the uninterrupted run's weights, masks and metrics (bitwise)", function()
    local lstm = function(o) return sy.models.LSTM({ input_dim = 3, hidden = 8, dropout = o.dropout }) end
    local a, b = resume_case({ model = lstm, data = data, method = "prune", protocol = "paper", arch = "lstm",
                               epochs = 5, patience = 10 }, 3)
    same_tensors(a.pruner.masks, b.pruner.masks)
    assert.equals(#a.pruner.history, #b.pruner.history)
    assert.equals(a.pruner.batch, b.pruner.batch)
  end)

  it("resumes an MC-dropout trial of the clean protocol (RNG, best snapshot) bitwise", function()
    local _, b = resume_case({ model = rnn(), data = data, method = "mc", protocol = "clean", epochs = 6,
                               mc_samples = 3, lr = 0.05 }, 2)
    assert.is_true(b.mc_std > 0)
  end)

  it("writes checkpoints with weights, masks, optimizer and pruner state and the RNG state", function()
    local path = tmpfile(".safetensors")
    train.trial({ model = rnn(), data = data, method = "prune", protocol = "clean", epochs = 3, save = path,
                  prune = { warmup = 1, every = "epoch" }, meta = { ["study.note"] = "x" } })
    local t, meta = sy.load(path)
    os.remove(path)
    for _, name in ipairs({ "rnn.weight_ih_l0", "fc.bias", "rnn.weight_ih_l0.mask", "fc.weight.mask",
                            "optim.rnn.weight_ih_l0.exp_avg", "optim.fc.bias.exp_avg_sq",
                            "best.rnn.weight_hh_l0", "best.fc.weight.mask" }) do
      assert.is_not_nil(t[name], name)
    end
    assert.equals("3", meta["train.epoch"])
    assert.equals("Adam", meta["optim.type"])
    assert.is_not_nil(meta["prune.history"])
    assert.is_not_nil(tonumber(meta["train.rng_offset"]))
    assert.equals("x", meta["study.note"])
    local losses = 0
    for _ in meta["train.val_losses"]:gmatch("[^,]+") do losses = losses + 1 end
    assert.equals(3, losses)
  end)

  it("refuses a checkpoint of another trial, naming both", function()
    local path = tmpfile(".safetensors")
    train.trial({ model = rnn(), data = data, epochs = 1, save = path })
    local ok, err = pcall(train.trial, { model = rnn(), data = data, epochs = 2, resume = path })
    os.remove(path)
    assert.is_false(ok)
    assert.matches("belongs to another trial", err)
    assert.matches("epochs=1", err)
    assert.matches("epochs=2", err)
    assert.has_error(function() train.trial({ model = rnn(), data = data, resume = "/nonexistent/ck" }) end)
  end)

  it("checks its options", function()
    assert.has_error(function() train.trial({ model = rnn(), data = data, epoch = 3 }) end)
    local ok, err = pcall(train.trial, { model = rnn(), data = data, epoch = 3 })
    assert.is_false(ok)
    assert.matches("unknown option 'epoch'", err)
    assert.has_error(function() train.trial({ data = data }) end, "sy.train.trial: option 'model' is required")
    assert.has_error(function() train.trial({ model = rnn(), data = data, epochs = 0 }) end,
      "sy.train.trial: option 'epochs' must be >= 1, got 0")
    assert.has_error(function() train.trial({ model = rnn(), data = data, prune = {} }) end,
      "sy.train.trial: option 'prune' is for method \"prune\", not \"none\"")
    assert.has_error(function() train.trial({ model = rnn(), data = { train = data.train } }) end,
      "sy.train.trial: data.val must be {X = tensor, y = tensor} (as sy.data.prepare returns)")
    assert.has_error(function() train.trial({ model = function() return 1 end, data = data }) end,
      "sy.train.trial: the model function returned number, expected an sy.nn module")
  end)
end)

describe("sy.train.trial on numerical trouble", function()
  -- data whose split `name` has an infinite target in window `at`
  local function with_inf(name, at)
    local d = synthetic()
    local y = d[name].y:clone()
    y:narrow(1, at, 1):fill_(math.huge)
    d[name] = { X = d[name].X, y = y }
    return d
  end

  local function failure(o)
    local ok, err = pcall(train.trial, o)
    assert.is_false(ok, "the trial did not stop")
    assert.is_true(train.nonfinite(err), tostring(err))
    return err
  end

  it("stops at the batch whose loss overflows (learning rate 1e30), naming epoch and batch", function()
    local path = tmpfile(".safetensors")
    local err = failure({ model = rnn(), data = synthetic(), lr = 1e30, epochs = 3, save = path })
    assert.equals("sy.train: non-finite training loss (inf) at epoch 1, batch 2 of 4 (learning rate 1e+30, "
      .. "batch size 64); the trial stops rather than train on it", err)
    assert.is_nil(io.open(path, "rb"), "a checkpoint of the broken weights was written")
    -- the same trial at the default rate trains on
    assert.equals(3, train.trial({ model = rnn(), data = synthetic(), epochs = 3, patience = 10 }).epochs)
  end)

  it("stops on an infinite training target before any step is taken on it", function()
    local err = failure({ model = rnn(), data = with_inf("train", 150), batch_size = 200, epochs = 2 })
    assert.equals("sy.train: non-finite training loss (inf) at epoch 1, batch 1 of 1 (learning rate 0.001, "
      .. "batch size 200); the trial stops rather than train on it", err)
  end)

  it("stops on a non-finite validation loss after the epoch, naming it", function()
    local err = failure({ model = rnn(), data = with_inf("val", 7), epochs = 2 })
    assert.equals("sy.train: non-finite validation loss (inf) after epoch 1 (its 4 training batches had finite "
      .. "losses; learning rate 0.001); the trial stops", err)
  end)

  it("stops on a non-finite evaluation error (test windows of the clean protocol)", function()
    local err = failure({ model = rnn(), data = with_inf("test", 1), protocol = "clean", epochs = 2, patience = 5 })
    assert.equals("sy.train: non-finite evaluation error (MSE inf) on the test windows with the weights of epoch 2; "
      .. "the trial stops", err)
  end)

  it("tells its errors from the others", function()
    assert.is_false(train.nonfinite("sy.train.trial: option 'model' is required"))
    assert.is_false(train.nonfinite({ usage = "x" }))
    assert.is_false(train.nonfinite(nil))
  end)
end)

describe("sy.train.progress", function()
  local data = synthetic()

  it("writes one line per epoch when not on a terminal", function()
    local out = sink()
    local p = train.progress({ mode = "lines", stream = out })
    p:begin("rnn demo", 100)
    train.trial({ model = rnn(), data = data, method = "prune", protocol = "clean", epochs = 2, progress = p,
                  prune = { warmup = 1, every = "epoch" } })
    local lines = {}
    for l in out.text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equals(2, #lines)
    assert.matches("^rnn demo  epoch 1/2  loss %d%.%d+  val %d%.%d+  sparsity   0%.0%%", lines[1])
    -- the paper preset's s_min, 0.3, at epoch 1: floor(0.3 * 96) of the RNN's 96 weights
    assert.matches("^rnn demo  epoch 2/2 .* sparsity  29%.2%%", lines[2])
    assert.is_nil(out.text:find("\r", 1, true))
  end)

  it("redraws one bar line with epoch, batch, loss, sparsity and ETA on a terminal", function()
    local out = sink()
    local p = train.progress({ mode = "bar", stream = out })
    p:begin("bar demo", 50)
    train.trial({ model = rnn(), data = data, method = "prune", epochs = 1, progress = p })
    assert.matches("\rbar demo  epoch 1/1 %[#+%] 4/4  loss %d%.%d+  sparsity   0%.0%%  ETA %d+:%d%d", out.text)
    p:note("done")
    assert.matches("\r\27%[Kdone\n$", out.text)
  end)

  it("is silent when quiet", function()
    local out = sink()
    local p = train.progress({ mode = "quiet", stream = out })
    train.trial({ model = rnn(), data = data, epochs = 1, progress = p })
    p:note("x")
    assert.equals("", out.text)
    assert.has_error(function() train.progress({ mode = "fancy" }) end,
      "sy.train.progress: mode must be \"auto\", \"bar\", \"lines\" or \"quiet\", got \"fancy\"")
  end)
end)
