-- sy.optim against PyTorch (tests/fixtures/optim.safetensors, written by
-- tests/fixtures/gen_optim.py): 10-step trajectories of SGD, Adam and AdamW
-- in their variants (some with a scheduler stepped after each step, some in
-- float64), LR scheduler sequences and gradient-norm clipping. Then the Lua
-- face: parameter collections and groups, zero_grad, masks re-applied after
-- every step, hooks, state_dict and checkpoint round trips, and the errors a
-- script can cause.
local sy = require("synlua")

local fixture_path = (os.getenv("SYNLUA_SOURCE_DIR") or ".") .. "/tests/fixtures/optim.safetensors"
local fx = sy.load(fixture_path)
local STEPS = 10

local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

local function has(msg, phrase)
  assert.is_truthy(msg:find(phrase, 1, true), ("expected %q in %q"):format(phrase, msg))
end

-- Elementwise |got - want| <= atol + rtol * |want|; the failure names the
-- tensor and reports its max abs and rel errors.
local function compare(label, got, want, rtol, atol)
  got, want = got:double(), want:double()
  assert.same(want:size(), got:size(), label .. ": shape")
  local diff = (got - want):abs()
  local excess = (diff - (want:abs() * rtol + atol)):max():item()
  if excess > 0 then
    local max_abs = diff:max():item()
    local max_rel = (diff / (want:abs() + 1e-30)):max():item()
    error(("%s: max abs error %.3g, max rel error %.3g (rtol %g, atol %g)")
      :format(label, max_abs, max_rel, rtol, atol), 2)
  end
end

local function close(a, b, rtol)
  return math.abs(a - b) <= rtol * math.max(math.abs(a), math.abs(b), 1e-300)
end

-- The generator's configurations (CONFIGS in gen_optim.py).
local lr_scheduler = sy.optim.lr_scheduler
local configs = {
  sgd = function(p) return sy.optim.SGD(p, { lr = 0.1 }) end,
  sgd_nesterov = function(p)
    return sy.optim.SGD(p, { lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 0.01 })
  end,
  sgd_dampening = function(p)
    return sy.optim.SGD(p, { lr = 0.05, momentum = 0.8, dampening = 0.3, weight_decay = 0.1 })
  end,
  adam = function(p) return sy.optim.Adam(p, { lr = 0.01 }) end,
  adam_amsgrad_wd = function(p)
    return sy.optim.Adam(p, { lr = 0.02, betas = { 0.8, 0.99 }, eps = 1e-6, weight_decay = 0.1, amsgrad = true })
  end,
  adamw = function(p) return sy.optim.AdamW(p, { lr = 0.01 }) end,
  adamw_amsgrad = function(p)
    return sy.optim.AdamW(p, { lr = 0.02, betas = { 0.85, 0.95 }, weight_decay = 0.3, amsgrad = true })
  end,
  sgd_onecycle = function(p)
    local opt = sy.optim.SGD(p, { lr = 0.01, momentum = 0.9 })
    return opt, lr_scheduler.OneCycleLR(opt, { max_lr = 0.2, total_steps = STEPS })
  end,
  adam_cosine = function(p)
    local opt = sy.optim.Adam(p, { lr = 0.05 })
    return opt, lr_scheduler.CosineAnnealingLR(opt, { T_max = 4, eta_min = 0.001 })
  end,
  adamw_onecycle = function(p)
    local opt = sy.optim.AdamW(p, { lr = 0.01 })
    return opt, lr_scheduler.OneCycleLR(opt, { max_lr = 0.05, total_steps = STEPS, anneal_strategy = "linear",
                                               three_phase = true })
  end,
}

local skip = fx["skip.b"]:totable()

-- Replays the fixture's gradients through a synlua optimizer and compares
-- the parameters after every step.
local function replay(name, dtype, suffix, rtol, atol)
  local w = fx.w0:to(dtype):clone():requires_grad(true)
  local b = fx.b0:to(dtype):clone():requires_grad(true)
  local opt, sched = configs[name]({ w = w, b = b })
  for t = 1, STEPS do
    opt:zero_grad()
    w.grad = fx["grads.w"]:select(1, t):to(dtype)
    if skip[t] == 0 then b.grad = fx["grads.b"]:select(1, t):to(dtype) end
    opt:step()
    if sched then sched:step() end
    compare(("%s%s step %d: w"):format(name, suffix, t), w, fx[name .. suffix .. ".w"]:select(1, t), rtol, atol)
    compare(("%s%s step %d: b"):format(name, suffix, t), b, fx[name .. suffix .. ".b"]:select(1, t), rtol, atol)
  end
  return opt
end

describe("optimizers match PyTorch", function()
  for _, name in ipairs({ "sgd", "sgd_nesterov", "sgd_dampening", "adam", "adam_amsgrad_wd", "adamw",
                          "adamw_amsgrad", "sgd_onecycle", "adam_cosine", "adamw_onecycle" }) do
    it(name .. " (float32, every step)", function()
      replay(name, "float32", "", 1e-6, 1e-8)
    end)
  end

  for _, name in ipairs({ "sgd_nesterov", "adam_amsgrad_wd", "adamw" }) do
    it(name .. " (float64, every step)", function()
      replay(name, "float64", ".f64", 1e-12, 1e-14)
    end)
  end

  it("skips a parameter without a gradient: no update, no step count", function()
    local opt = replay("adam", "float32", "", 1e-6, 1e-8)
    -- state is indexed in parameter order: b (1) then w (2), names sorted
    assert.same({ "b", "w" }, opt.param_groups[1].names)
    assert.equals(STEPS - 2, opt.state[1].step)
    assert.equals(STEPS, opt.state[2].step)
  end)
end)

describe("LR schedulers match PyTorch", function()
  local function sequence(make, steps)
    local p = sy.zeros(1)
    local opt, sched = make({ p })
    local function momentum()
      local g = opt.param_groups[1]
      return g.betas and g.betas[1] or g.momentum
    end
    local lrs, moms = { sched:get_last_lr()[1] }, { momentum() }
    for _ = 1, steps do
      p.grad = sy.zeros(1)
      opt:step()
      sched:step()
      lrs[#lrs + 1] = sched:get_last_lr()[1]
      moms[#moms + 1] = momentum()
      assert.equals(opt.param_groups[1].lr, lrs[#lrs])
    end
    return lrs, moms
  end

  local schedules = {
    steplr = { function(p)
      local o = sy.optim.SGD(p, { lr = 0.1 })
      return o, lr_scheduler.StepLR(o, { step_size = 3, gamma = 0.5 })
    end, 12 },
    cosine = { function(p)
      local o = sy.optim.Adam(p, { lr = 0.1 })
      return o, lr_scheduler.CosineAnnealingLR(o, { T_max = 5, eta_min = 0.01 })
    end, 15 },
    onecycle_cos = { function(p)
      local o = sy.optim.Adam(p, { lr = 0.1 })
      return o, lr_scheduler.OneCycleLR(o, { max_lr = 0.1, total_steps = 20 })
    end, 20 },
    onecycle_linear_3phase = { function(p)
      local o = sy.optim.SGD(p, { lr = 0.1, momentum = 0.9 })
      return o, lr_scheduler.OneCycleLR(o, { max_lr = { 0.1 }, total_steps = 16, anneal_strategy = "linear",
                                             three_phase = true, pct_start = 0.25, div_factor = 10,
                                             final_div_factor = 100 })
    end, 16 },
    onecycle_epochs = { function(p)
      local o = sy.optim.SGD(p, { lr = 0.1, momentum = 0.5 })
      return o, lr_scheduler.OneCycleLR(o, { max_lr = 0.3, epochs = 3, steps_per_epoch = 4,
                                             cycle_momentum = false })
    end, 12 },
  }

  for _, name in ipairs({ "steplr", "cosine", "onecycle_cos", "onecycle_linear_3phase", "onecycle_epochs" }) do
    it(name, function()
      local lrs, moms = sequence(schedules[name][1], schedules[name][2])
      local want_lr, want_mom = fx["lr." .. name]:totable(), fx["momentum." .. name]:totable()
      assert.equals(#want_lr, #lrs)
      for i = 1, #lrs do
        assert.is_true(close(lrs[i], want_lr[i], 1e-12), ("%s lr %d: %.17g vs %.17g"):format(name, i, lrs[i], want_lr[i]))
        assert.is_true(close(moms[i], want_mom[i], 1e-12), ("%s momentum %d: %.17g vs %.17g")
          :format(name, i, moms[i], want_mom[i]))
      end
    end)
  end

  it("OneCycleLR refuses to step past total_steps", function()
    local opt = sy.optim.SGD({ sy.zeros(1) }, { lr = 0.1 })
    local sched = lr_scheduler.OneCycleLR(opt, { max_lr = 0.1, total_steps = 3 })
    for _ = 1, 3 do sched:step() end
    has(errmsg(sched.step, sched), "OneCycleLR: tried to step 5 times; total_steps is 3")
  end)

  it("state_dict round trip resumes the schedule", function()
    local o1 = sy.optim.SGD({ sy.zeros(1) }, { lr = 0.1 })
    local s1 = lr_scheduler.StepLR(o1, { step_size = 2, gamma = 0.5 })
    for _ = 1, 3 do s1:step() end
    local o2 = sy.optim.SGD({ sy.zeros(1) }, { lr = 0.1 })
    local s2 = lr_scheduler.StepLR(o2, { step_size = 2, gamma = 0.5 })
    s2:load_state_dict(s1:state_dict())
    o2:load_state_dict(o1:state_dict())
    s1:step(); s2:step()
    assert.equals(s1:get_last_lr()[1], s2:get_last_lr()[1])
    assert.equals(0.025, s2:get_last_lr()[1])
  end)

  it("rejects bad options", function()
    local opt = sy.optim.Adam({ sy.zeros(1) })
    has(errmsg(lr_scheduler.StepLR, opt, {}), "StepLR: option 'step_size' must be a positive integer, got nil")
    has(errmsg(lr_scheduler.StepLR, opt, { step_size = 1.5 }), "option 'step_size' must be a positive integer")
    has(errmsg(lr_scheduler.StepLR, opt, { step_size = 2, gama = 0.1 }), "StepLR: unknown option 'gama'")
    has(errmsg(lr_scheduler.StepLR, opt, { step_size = 2, gamma = "x" }), "option 'gamma' must be a number")
    has(errmsg(lr_scheduler.StepLR, {}, { step_size = 2 }), "StepLR: the first argument must be an optimizer")
    has(errmsg(lr_scheduler.CosineAnnealingLR, opt, { T_max = 0 }), "option 'T_max' must be a positive integer")
    has(errmsg(lr_scheduler.OneCycleLR, opt, { max_lr = 0.1 }), "give total_steps, or epochs and steps_per_epoch")
    has(errmsg(lr_scheduler.OneCycleLR, opt, { total_steps = 10 }), "option 'max_lr' must be a number or 1 numbers")
    has(errmsg(lr_scheduler.OneCycleLR, opt, { max_lr = 0.1, total_steps = 10, anneal_strategy = "exp" }),
      "option 'anneal_strategy' must be 'cos' or 'linear'")
    has(errmsg(lr_scheduler.OneCycleLR, opt, { max_lr = 0.1, total_steps = 10, pct_start = 1.5 }),
      "option 'pct_start' must be in [0, 1]")
    has(errmsg(lr_scheduler.OneCycleLR, opt, { max_lr = 0.1, epochs = 2 }), "option 'steps_per_epoch' must be")
  end)
end)

describe("clip_grad_norm matches PyTorch", function()
  for _, label in ipairs({ "2", "1", "3.5", "inf" }) do
    it("norm_type " .. label, function()
      local p1, p2, p3 = sy.zeros(3, 4), sy.zeros(5), sy.zeros(2)   -- p3 has no gradient
      p1.grad, p2.grad = fx["clip.g1"]:clone(), fx["clip.g2"]:clone()
      local norm_type = label == "inf" and "inf" or tonumber(label)
      local total = sy.optim.clip_grad_norm({ p1, p2, p3 }, 1.0, norm_type)
      assert.is_true(close(total, fx["clip." .. label .. ".total"]:item(), 1e-6),
        ("total %.9g vs %.9g"):format(total, fx["clip." .. label .. ".total"]:item()))
      compare("clip " .. label .. " g1", p1.grad, fx["clip." .. label .. ".g1"], 2e-6, 1e-8)
      compare("clip " .. label .. " g2", p2.grad, fx["clip." .. label .. ".g2"], 2e-6, 1e-8)
      assert.is_nil(p3.grad)
    end)
  end

  it("leaves gradients under the limit alone and accepts named parameters", function()
    local p1 = sy.zeros(3, 4)
    p1.grad = fx["clip.g1"]:clone()
    local total = sy.optim.clip_grad_norm({ weight = p1 }, 1e6)
    assert.is_true(close(total, math.sqrt((fx["clip.g1"]:double() ^ 2):sum():item()), 1e-12))
    assert.same(fx["clip.g1"]:totable(), p1.grad:totable())
    assert.equals(0, sy.optim.clip_grad_norm({ sy.zeros(2) }, 1))
  end)

  it("rejects bad arguments", function()
    local p = sy.zeros(2)
    p.grad = sy.ones(2)
    has(errmsg(sy.optim.clip_grad_norm, { p }, -1), "clip_grad_norm: max_norm must be >= 0, got -1")
    has(errmsg(sy.optim.clip_grad_norm, { p }, 1, 0), "norm_type must be > 0 (or inf), got 0")
    has(errmsg(sy.optim.clip_grad_norm, { p }, 1, "two"), "norm_type must be a number or 'inf'")
    has(errmsg(sy.optim.clip_grad_norm, { p }, "1"), "max_norm must be a number")
    has(errmsg(sy.optim.clip_grad_norm, 5, 1), "clip_grad_norm: parameters must be a tensor or a table")
  end)
end)

describe("optimizer Lua face", function()
  local function params2()
    return sy.tensor({ 1, 2, 3 }):requires_grad(true), sy.tensor({ { 1, -1 } }):requires_grad(true)
  end

  it("accepts a tensor, an array, {name, tensor} pairs, a map, a module and groups", function()
    local a, b = params2()
    local forms = {
      { a, { "1" } },
      { { a, b }, { "1", "2" } },
      { { { "x.weight", a }, { "x.bias", b } }, { "x.weight", "x.bias" } },
      { { zeta = a, alpha = b }, { "alpha", "zeta" } },
      { { parameters = function() return { w = a } end }, { "w" } },
    }
    for _, f in ipairs(forms) do
      local opt = sy.optim.SGD(f[1], { lr = 0.1 })
      assert.same(f[2], opt.param_groups[1].names)
    end
    local opt = sy.optim.SGD({ { params = { a } }, { params = { b }, lr = 0.01, momentum = 0.5 } }, { lr = 0.1 })
    assert.equals(2, #opt.param_groups)
    assert.equals(0.1, opt.param_groups[1].lr)
    assert.equals(0.01, opt.param_groups[2].lr)
    assert.equals(0, opt.param_groups[1].momentum)
    a.grad, b.grad = sy.ones(3), sy.ones(1, 2)
    opt:step()
    compare("group 1", a, sy.tensor({ 0.9, 1.9, 2.9 }), 1e-6, 0)
    compare("group 2", b, sy.tensor({ { 0.99, -1.01 } }), 1e-6, 0)
    assert.is_truthy(opt.state[2].momentum_buffer)
    assert.is_nil(opt.state[1].momentum_buffer)
    has(tostring(opt), "group 2: 1 parameters")
  end)

  it("zero_grad drops gradients, or zeroes them with zero_grad(false)", function()
    local a, b = params2()
    local opt = sy.optim.Adam({ a, b })
    a.grad, b.grad = sy.ones(3), sy.ones(1, 2)
    local g = a.grad
    opt:zero_grad(false)
    assert.same({ 0, 0, 0 }, g:totable())
    opt:zero_grad()
    assert.is_nil(a.grad)
    assert.is_nil(b.grad)
    has(errmsg(opt.zero_grad, opt, "yes"), "zero_grad: set_to_none must be a boolean")
  end)

  it("step(closure) returns the closure's loss with grad mode on", function()
    local a = sy.tensor({ 1.0 }):requires_grad(true)
    local opt = sy.optim.SGD({ a }, { lr = 0.5 })
    local loss = sy.no_grad(function()
      return opt:step(function()
        assert.is_true(sy.is_grad_enabled())
        a.grad = sy.tensor({ 2.0 })
        return 42
      end)
    end)
    assert.equals(42, loss)
    assert.same({ 0 }, a:totable())
  end)

  it("keeps masked weights exactly 0 across 100 Adam steps with non-zero gradients", function()
    sy.manual_seed(3)
    local w = sy.randn(4, 5):requires_grad(true)
    local b = sy.randn(5):requires_grad(true)
    local mask = sy.rand(4, 5):gt(0.5)
    local opt = sy.optim.Adam({ ["fc.weight"] = w, ["fc.bias"] = b }, { lr = 0.05, weight_decay = 0.01 })
    opt:set_masks({ ["fc.weight"] = mask })
    local pruned = mask:logical_not()
    local start_kept = w:clone()
    for step = 1, 100 do
      w.grad = sy.randn(4, 5) + 0.5
      b.grad = sy.randn(5)
      opt:step()
      local leaked = (w * pruned):abs():sum():item()
      assert.equals(0, leaked, "step " .. step)
    end
    -- the kept weights moved
    assert.is_true(((w - start_kept) * mask):abs():sum():item() > 1)
    -- by index and as uint8; set_masks(nil) stops the re-zeroing
    opt:set_masks({ [1] = sy.tensor({ 0, 1, 1, 1, 1 }, "uint8") })
    opt:step()
    assert.equals(0, b:totable()[1])
    assert.is_true((w * pruned):abs():sum():item() > 0)   -- w's mask was replaced
    opt:set_masks(nil)
    opt:step()
    assert.is_true(b:totable()[1] ~= 0)
  end)

  it("rejects bad masks, naming the parameter", function()
    local a, b = params2()
    local opt = sy.optim.Adam({ a = a, b = b })
    has(errmsg(opt.set_masks, opt, { a = sy.ones(2, "uint8") }),
      "Adam: set_masks: parameter 'a': its mask has shape [2], the parameter [3]")
    has(errmsg(opt.set_masks, opt, { a = sy.ones(3) }), "its mask is float32; masks are uint8 or bool")
    has(errmsg(opt.set_masks, opt, { c = sy.ones(3, "uint8") }), "Adam: set_masks: no parameter 'c' (parameters: a, b)")
    has(errmsg(opt.set_masks, opt, { a = 1 }), "the mask for 'a' is not a tensor")
    has(errmsg(opt.set_masks, opt, 3), "set_masks: expected a table")
  end)

  it("runs post-step hooks until they are removed", function()
    local a = sy.zeros(2)
    local opt = sy.optim.SGD({ a }, { lr = 1 })
    local calls = 0
    local handle = opt:register_step_post_hook(function(o)
      assert.equals(opt, o)
      calls = calls + 1
    end)
    opt:step(); opt:step()
    handle.remove()
    opt:step()
    assert.equals(2, calls)
    has(errmsg(opt.register_step_post_hook, opt, 1), "expected a function")
  end)

  local function train(opt, ps, steps, seed)
    sy.manual_seed(seed)
    for _ = 1, steps do
      for _, p in ipairs(ps) do p.grad = sy.randn(p:size()) end
      opt:step()
    end
  end

  it("state_dict / load_state_dict resume training exactly", function()
    local a, b = params2()
    local opt = sy.optim.Adam({ a = a, b = b }, { lr = 0.01, amsgrad = true })
    train(opt, { a, b }, 5, 1)
    local sd = opt:state_dict()
    assert.equals(5, sd.state[1].step)
    assert.same({ 1, 2 }, sd.param_groups[1].params)
    assert.same({ "a", "b" }, sd.param_groups[1].names)
    local a2, b2 = a:detach():clone():requires_grad(true), b:detach():clone():requires_grad(true)
    local opt2 = sy.optim.Adam({ a = a2, b = b2 })
    opt2:load_state_dict(sd)
    assert.equals(0.01, opt2.param_groups[1].lr)
    assert.is_true(opt2.param_groups[1].amsgrad)
    assert.are_not.equal(sd.state[1].exp_avg, opt2.state[1].exp_avg)   -- copies
    train(opt, { a, b }, 5, 2)
    train(opt2, { a2, b2 }, 5, 2)
    assert.same(a:totable(), a2:totable())
    assert.same(b:totable(), b2:totable())
  end)

  it("load_state_dict checks groups, names, shapes and options before changing anything", function()
    local a, b = params2()
    local opt = sy.optim.Adam({ a = a, b = b })
    train(opt, { a, b }, 1, 1)
    local sd = opt:state_dict()
    local other = sy.optim.Adam({ a = a })
    has(errmsg(other.load_state_dict, other, sd), "parameter group 1 has 2 parameters in the state dict, 1 here")
    local renamed = sy.optim.Adam({ a = a, c = b })
    has(errmsg(renamed.load_state_dict, renamed, sd), "parameter names differ in group 1 (2: 'c' here, 'b' in the state dict)")
    local wrong = sy.optim.Adam({ a = sy.zeros(4), b = b })
    has(errmsg(wrong.load_state_dict, wrong, sd), "Adam: load_state_dict: parameter 'a': its state 'exp_avg' has shape [3], the parameter [4]")
    assert.is_nil(wrong.state[1].exp_avg)
    sd.param_groups[1].lr = -1
    has(errmsg(opt.load_state_dict, opt, sd), "Adam: lr must be a finite number >= 0, got -1")
    sd.param_groups[1].lr = 0.5
    sd.param_groups[1].momentum = 0.9
    has(errmsg(opt.load_state_dict, opt, sd), "unknown option 'momentum'")
    assert.equals(1e-3, opt.param_groups[1].lr)
    has(errmsg(opt.load_state_dict, opt, {}), "expected a table with 'param_groups'")
    has(errmsg(opt.load_state_dict, opt, { param_groups = {}, state = {} }), "the state dict has 0 parameter groups, the optimizer 1")
  end)

  it("state_tensors round-trips through sy.save / sy.load with the model", function()
    local a, b = params2()
    local opt = sy.optim.SGD({ a = a, b = b }, { lr = 0.1, momentum = 0.9, nesterov = true })
    local sched = lr_scheduler.StepLR(opt, { step_size = 1, gamma = 0.5 })
    train(opt, { a, b }, 3, 4)
    sched:step()
    local tensors, meta = opt:state_tensors()
    assert.is_truthy(tensors["optim.a.momentum_buffer"])
    assert.equals("SGD", meta["optim.type"])
    assert.equals("3", meta["optim.a.step"])
    tensors["model.a"], tensors["model.b"] = a, b
    local path = os.tmpname()
    sy.save(path, tensors, meta)
    local t2, m2 = sy.load(path)
    os.remove(path)
    local a2, b2 = t2["model.a"], t2["model.b"]
    local opt2 = sy.optim.SGD({ a = a2, b = b2 }, { lr = 1 })
    opt2:load_state_tensors(t2, m2)
    assert.equals(opt.param_groups[1].lr, opt2.param_groups[1].lr)
    assert.equals(0.1, opt2.param_groups[1].initial_lr)
    assert.is_true(opt2.param_groups[1].nesterov)
    train(opt, { a, b }, 2, 5)
    train(opt2, { a2, b2 }, 2, 5)
    assert.same(a:totable(), a2:totable())
    local adam = sy.optim.Adam({ a = a2, b = b2 })
    has(errmsg(adam.load_state_tensors, adam, t2, m2), "the checkpoint holds SGD state, this optimizer is Adam")
    has(errmsg(opt2.load_state_tensors, opt2, t2, m2, "other."), "no optimizer state under prefix 'other.'")
    t2["optim.c.momentum_buffer"] = sy.zeros(1)
    has(errmsg(opt2.load_state_tensors, opt2, t2, m2), "unexpected entry 'optim.c.momentum_buffer'")
    has(errmsg(opt2.state_tensors, opt2, ""), "prefix must be a non-empty string")
    t2["optim.c.momentum_buffer"] = nil
    m2["optim.a.step"] = "many"
    has(errmsg(opt2.load_state_tensors, opt2, t2, m2), "parameter 'a': step must be an integer >= 0, got many")
  end)
end)

describe("optimizer errors", function()
  local p = sy.zeros(3)

  it("name unknown options and bad values", function()
    has(errmsg(sy.optim.Adam, { p }, { lrr = 1 }),
      "Adam: unknown option 'lrr' (expected one of: amsgrad, betas, eps, lr, weight_decay)")
    has(errmsg(sy.optim.SGD, { p }, { lr = 0.1, nesterov = true }), "SGD: nesterov needs momentum > 0 and dampening = 0")
    has(errmsg(sy.optim.SGD, { p }, { momentum = 0.9 }), "SGD: option 'lr' is required")
    has(errmsg(sy.optim.SGD, { p }, { lr = -0.1 }), "SGD: lr must be a finite number >= 0, got -0.1")
    has(errmsg(sy.optim.SGD, { p }, { lr = 0.1, momentum = -1 }), "SGD: momentum must be a finite number >= 0")
    has(errmsg(sy.optim.Adam, { p }, { lr = -1 }), "Adam: lr must be a finite number >= 0, got -1")
    has(errmsg(sy.optim.Adam, { p }, { betas = { 1, 0.999 } }), "Adam: beta1 (betas[1]) must be in [0, 1), got 1")
    has(errmsg(sy.optim.AdamW, { p }, { betas = { 0.9, -0.1 } }), "AdamW: beta2 (betas[2]) must be in [0, 1), got -0.1")
    has(errmsg(sy.optim.Adam, { p }, { betas = { 0.9 } }), "option 'betas' must be a table of two numbers")
    has(errmsg(sy.optim.Adam, { p }, { eps = -1e-8 }), "Adam: eps must be a finite number >= 0")
    has(errmsg(sy.optim.AdamW, { p }, { weight_decay = -0.1 }), "AdamW: weight_decay must be a finite number >= 0")
    has(errmsg(sy.optim.Adam, { p }, { amsgrad = 1 }), "option 'amsgrad' must be a boolean, got number")
    has(errmsg(sy.optim.Adam, { p }, { lr = "big" }), "option 'lr' must be a number, got string")
    has(errmsg(sy.optim.Adam, { p }, 5), "Adam: options must be a table")
    has(errmsg(sy.optim.Adam, { { params = { p }, lr = -2 } }), "Adam: lr must be a finite number >= 0, got -2")
    has(errmsg(sy.optim.Adam, { { params = { p }, foo = 1 } }), "Adam: parameter group 1: unknown option 'foo'")
  end)

  it("name bad parameter lists", function()
    has(errmsg(sy.optim.Adam, {}), "Adam: got an empty parameter list")
    has(errmsg(sy.optim.Adam, { p, p }), "Adam: parameter '2' shares memory with parameter '1'")
    has(errmsg(sy.optim.Adam, { a = p, b = p:view(3) }), "Adam: parameter 'b' shares memory with parameter 'a'")
    local flat = sy.zeros(10)   -- an arena: disjoint views are fine, overlapping ones are not
    sy.optim.Adam({ a = flat:narrow(1, 1, 4), b = flat:narrow(1, 5, 6) })
    has(errmsg(sy.optim.Adam, { a = flat:narrow(1, 1, 5), b = flat:narrow(1, 5, 6) }),
      "Adam: parameter 'b' shares memory with parameter 'a'")
    has(errmsg(sy.optim.Adam, { p, 3 }), "Adam: parameter 2 is not a tensor or a {name, tensor} pair")
    has(errmsg(sy.optim.Adam, { w = "x" }), "Adam: parameter 'w' is not a tensor (got string)")
    has(errmsg(sy.optim.Adam, { sy.zeros(2, "int64") }), "Adam: parameter '1' is int64; optimizers update float32 or float64 tensors")
    has(errmsg(sy.optim.Adam, { sy.zeros(2, 3):t() }), "Adam: parameter '1' is not contiguous (shape [3,2], strides [1,3])")
    local leaf = sy.ones(3):requires_grad(true)
    has(errmsg(sy.optim.Adam, { leaf * 2 }), "Adam: parameter '1' is not a leaf tensor (it was computed by MulBackward)")
    has(errmsg(sy.optim.Adam, "w"), "Adam: parameters must be a tensor or a table of tensors, got string")
    has(errmsg(sy.optim.Adam, { p, x = p }), "Adam: parameter list mixes an array with key \"x\"")
    has(errmsg(sy.optim.Adam, { { params = { p } }, 5 }), "Adam: parameter group 2 must be a table with a 'params' field")
  end)

  it("report bad group options and gradients at step time", function()
    local a = sy.zeros(3)
    local opt = sy.optim.Adam({ w = a })
    a.grad = sy.ones(3)
    opt.param_groups[1].lr = "fast"
    has(errmsg(opt.step, opt), "Adam: param_groups[1].lr must be a number, got fast")
    opt.param_groups[1].lr = -1
    has(errmsg(opt.step, opt), "Adam: lr must be a finite number >= 0, got -1")
    opt.param_groups[1].lr = 0.1
    opt.param_groups[1].betas = 0.9
    has(errmsg(opt.step, opt), "Adam: param_groups[1].betas must be a table of two numbers")
    opt.param_groups[1].betas = { 0.9, 0.999 }
    opt.state[1].exp_avg = sy.zeros(2)
    has(errmsg(opt.step, opt), "Adam: parameter 0: its state 'exp_avg' has shape [2], the parameter [3]")
    assert.same({ 0, 0, 0 }, a:totable())
    has(errmsg(opt.step, opt, 5), "Adam: step: closure must be a function")
  end)

  -- Every error of the public API is one of ours, naming the function: never
  -- a Lua runtime error ("attempt to index a nil value") from inside.
  it("public functions and methods give their own messages for bad arguments", function()
    local function pool()
      local w = sy.zeros(2)
      w.grad = sy.ones(2)
      return { nil, true, "bad", {}, { {} }, { w }, { a = w }, { { "a", w } }, { params = { w } },
               1.5, -1, 0, 0 / 0, math.huge, sy.ones(2, 3), sy.zeros(2), sy.zeros(2, "int64"),
               { lr = -1 }, { lr = 0.1, foo = 1 }, { step_size = 0 }, { total_steps = 2 },
               { state = 1, param_groups = { 1 } }, function() end }
    end
    local n = 23
    local function check(label, prefix, f, ...)
      local ok, err = pcall(f, ...)
      if not ok then
        err = tostring(err)
        assert(err:sub(1, #prefix) == prefix and not err:find("attempt to", 1, true),
          label .. ": " .. err)
      end
    end
    local funcs = {
      { "SGD", sy.optim.SGD }, { "Adam", sy.optim.Adam }, { "AdamW", sy.optim.AdamW },
      { "clip_grad_norm", sy.optim.clip_grad_norm },
      { "StepLR", lr_scheduler.StepLR }, { "CosineAnnealingLR", lr_scheduler.CosineAnnealingLR },
      { "OneCycleLR", lr_scheduler.OneCycleLR },
    }
    for _, f in ipairs(funcs) do
      local values = pool()
      for i = 1, n do
        for j = 1, n do check(f[1], f[1] .. ":", f[2], values[i], values[j]) end
      end
    end
    for _, method in ipairs({ "step", "zero_grad", "set_masks", "load_state_dict", "state_tensors",
                              "load_state_tensors", "register_step_post_hook" }) do
      for i = 1, n do
        for j = 1, n do
          local values = pool()
          local opt = sy.optim.Adam({ a = sy.zeros(2) })
          if method == "step" and type(values[i]) == "function" then values[i] = nil end
          check(method, "Adam:", opt[method], opt, values[i], values[j])
        end
      end
    end
  end)

  it("the private C functions never crash on bad arguments", function()
    local pool = { nil, true, "bad", {}, { {} }, { sy.zeros(2) }, 1.5, -1, 0, 0 / 0, sy.ones(2, 3), sy.zeros(2),
                   sy.zeros(2, "int64"), function() end }
    local n = 14
    local calls = 0
    for name, f in pairs(sy._optim) do
      for i = 1, n do
        for j = 1, n do
          for k = 1, n do
            local ok, err = pcall(f, pool[i], pool[j], pool[k], 0.1, 0.9, 0.99, 1e-8, 0, false, false)
            if not ok then assert.is_true(type(err) == "string" and #err > 0, name) end
            calls = calls + 1
          end
        end
      end
    end
    assert.is_true(calls > 10000)
  end)
end)
