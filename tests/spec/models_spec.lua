-- sy.models: the paper's RNN, LSTM and PatchTST with the parameter names and
-- shapes of DESIGN.md §1.3, and the original PatchTST (REFERENCE.md §8).
-- Each model is compared with an independent PyTorch 1.13 twin
-- (tests/fixtures/gen_models.py): the twin's state dict loads, the eval-mode
-- predictions agree in float32 and so do the train-mode gradients of an MSE
-- loss for every parameter and the input. Also: safetensors round trips,
-- the patching rule and padding, RevIN, channel independence, gradient flow
-- and the error messages.
local sy = require("synlua")
local models = sy.models

local fixture = sy.load((os.getenv("SYNLUA_SOURCE_DIR") or ".") .. "/tests/fixtures/models.safetensors")

local function shape(t) return table.concat(t:size(), ",") end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err)
end

-- Max abs error of got against want, within tol * max(1, max |want|).
local function check_close(what, got, want, tol)
  assert(shape(got) == shape(want), ("%s: shape [%s], expected [%s]"):format(what, shape(got), shape(want)))
  local got64, want64 = got:double(), want:double()
  local err = (got64 - want64):abs():max():item()
  local scale = math.max(1, want64:abs():max():item())
  assert(err <= tol * scale, ("%s: max abs error %.3g (%.3g relative to max |x| %.3g), tolerance %.3g")
    :format(what, err, err / scale, scale, tol))
end

-- Entries "<case>.<part>.<name>" of the fixture as { name = tensor }.
local function fixture_dict(case, part)
  local out, prefix = {}, case .. "." .. part .. "."
  for k, v in pairs(fixture) do
    if type(k) == "string" and k:sub(1, #prefix) == prefix then out[k:sub(#prefix + 1)] = v end
  end
  return out
end

-- Loads the PyTorch state dict of `case` into `model`, then checks the eval
-- predictions and the train-mode loss, gradients (every parameter and the
-- input) and running statistics against PyTorch.
local function check_against_torch(case, model, convert)
  local sd = fixture_dict(case, "sd")
  model:load_state_dict(convert and convert(sd) or sd)
  local x, y = fixture[case .. ".x"], fixture[case .. ".y"]
  model:eval()
  check_close(case .. " eval prediction", sy.no_grad(function() return model(x) end), fixture[case .. ".eval"], 1e-5)

  model:train()
  local xg = x:clone():requires_grad(true)
  local loss = sy.mse_loss(model(xg), y)
  loss:backward()
  check_close(case .. " loss", loss:reshape(1), fixture[case .. ".loss"], 1e-5)
  check_close(case .. " grad of x", xg.grad, fixture[case .. ".grad.x"], 1e-4)
  local grads = fixture_dict(case, "grad")
  grads.x = nil
  if convert then grads = convert(grads) end
  local n = 0
  for name, p in pairs(model:named_parameters()) do
    assert(grads[name], case .. ": the fixture has no gradient for " .. name)
    assert(p.grad, case .. ": no gradient reached " .. name)
    check_close(case .. " grad of " .. name, p.grad, grads[name], 1e-4)
    n = n + 1
  end
  local m = 0
  for _ in pairs(grads) do m = m + 1 end
  assert.equal(m, n)
  local post = fixture_dict(case, "post")
  if convert then post = convert(post) end
  local buffers = model:named_buffers()
  for name, want in pairs(post) do check_close(case .. " " .. name .. " after a step", buffers[name], want, 1e-5) end
end

local function expected_names(list)
  local set = {}
  for _, entry in ipairs(list) do set[entry[1]] = entry[2] end
  return set
end

local function assert_state_dict(model, expected)
  local sd = model:state_dict()
  for name, size in pairs(expected) do
    assert(sd[name], "missing " .. name)
    assert.equal(size, shape(sd[name]), name)
  end
  for name in pairs(sd) do assert(expected[name], "unexpected " .. name) end
end

-- Saves the state dict, loads it into a model built with another seed and
-- checks that the eval predictions are identical.
local function check_round_trip(make, x)
  sy.manual_seed(1)
  local a = make()
  local path = os.tmpname()
  sy.save(path, a:state_dict())
  sy.manual_seed(2)
  local b = make()
  a:eval(); b:eval()
  local ya = sy.no_grad(function() return a(x) end)
  assert(sy.no_grad(function() return (b(x) - ya):abs():max():item() end) > 0, "the two inits should differ")
  b:load_state_dict(sy.load(path))
  os.remove(path)
  assert.equal(0, sy.no_grad(function() return (b(x) - ya):abs():max():item() end))
end

describe("sy.models.RNN and LSTM", function()
  it("have the names and shapes of DESIGN.md 1.3 and map [B, L, D] to [B, 1]", function()
    for _, case in ipairs({ { "RNN", "rnn", 64 }, { "LSTM", "lstm", 256 } }) do
      local model = models[case[1]]({ input_dim = 5 })
      local p = case[2] .. "."
      assert_state_dict(model, expected_names({
        { p .. "weight_ih_l0", case[3] .. ",5" }, { p .. "weight_hh_l0", case[3] .. ",64" },
        { p .. "bias_ih_l0", tostring(case[3]) }, { p .. "bias_hh_l0", tostring(case[3]) },
        { "fc.weight", "1,64" }, { "fc.bias", "1" },
      }))
      assert.equal("6,1", shape(model(sy.randn(6, 11, 5))))
    end
  end)

  it("match PyTorch: predictions and gradients", function()
    check_against_torch("rnn", models.RNN({ input_dim = 3, hidden = 8 }))
    check_against_torch("lstm", models.LSTM({ input_dim = 3, hidden = 8 }))
  end)

  it("round-trip through safetensors", function()
    local x = sy.randn(3, 5, 4)
    check_round_trip(function() return models.RNN({ input_dim = 4, hidden = 16, dropout = 0.3 }) end, x)
    check_round_trip(function() return models.LSTM({ input_dim = 4, hidden = 16, dropout = 0.3 }) end, x)
  end)

  it("apply dropout to the last hidden state while training only", function()
    sy.manual_seed(3)
    local model = models.LSTM({ input_dim = 2, hidden = 32, dropout = 0.5 })
    local x = sy.randn(8, 4, 2)
    local a, b = model(x), model(x)
    assert((a - b):abs():max():item() > 0)
    model:eval()
    assert.equal(0, (model(x) - model(x)):abs():max():item())
  end)

  it("name the model and the expected shape in input errors", function()
    local model = models.LSTM({ input_dim = 5 })
    assert.equal("LSTM: input has 7 features, model expects 5", error_of(model, sy.randn(2, 3, 7)))
    assert.matches("LSTM: input must be %[batch, length, features%] %(3 dims%), got shape %[3,5%]",
                   error_of(model, sy.randn(3, 5)))
    assert.matches("RNN: input must be a tensor", error_of(models.RNN({ input_dim = 5 }), "x"))
    assert.matches("option 'input_dim' is required", error_of(models.RNN, {}))
    assert.matches("option 'dropout' must be a probability", error_of(models.RNN, { input_dim = 2, dropout = 2 }))
  end)
end)

describe("sy.models.PaperPatchTST", function()
  it("uses patch lengths 1, 1, 1, 2, 3, 4 for L = 1, 3, 7, 14, 30, 60", function()
    local got = {}
    for i, L in ipairs({ 1, 3, 7, 14, 30, 60 }) do got[i] = models.paper_patch_len(L) end
    assert.same({ 1, 1, 1, 2, 3, 4 }, got)
    assert.same({ 2, 3, 4 }, { models.paper_patch_len(8), models.paper_patch_len(15), models.paper_patch_len(31) })
  end)

  it("has the names and shapes of DESIGN.md 1.3 and maps [B, L, D] to [B, 1]", function()
    for _, case in ipairs({ { 1, 1, 1 }, { 7, 1, 7 }, { 13, 2, 7 }, { 30, 3, 10 }, { 60, 4, 15 } }) do
      local L, P, n = case[1], case[2], case[3]
      local model = models.PaperPatchTST({ input_dim = 5, seq_len = L })
      local list = {
        { "patch_embed.weight", "64," .. 5 * P }, { "patch_embed.bias", "64" }, { "pos_embed", "1," .. n .. ",64" },
        { "norm.weight", "64" }, { "norm.bias", "64" }, { "head.weight", "1,64" }, { "head.bias", "1" },
      }
      for i = 0, 1 do
        local b = "blocks." .. i .. "."
        for _, lin in ipairs({ "q", "k", "v", "out" }) do
          list[#list + 1] = { b .. "attn." .. lin .. ".weight", "64,64" }
          list[#list + 1] = { b .. "attn." .. lin .. ".bias", "64" }
        end
        for _, entry in ipairs({ { "ln1.weight", "64" }, { "ln1.bias", "64" }, { "ff1.weight", "256,64" },
                                 { "ff1.bias", "256" }, { "ff2.weight", "64,256" }, { "ff2.bias", "64" },
                                 { "ln2.weight", "64" }, { "ln2.bias", "64" } }) do
          list[#list + 1] = { b .. entry[1], entry[2] }
        end
      end
      assert_state_dict(model, expected_names(list))
      assert.equal("2,1", shape(model(sy.randn(2, L, 5))))
    end
  end)

  it("initialises pos_embed standard normal", function()
    sy.manual_seed(5)
    local pos = models.PaperPatchTST({ input_dim = 1, seq_len = 60, d_model = 256 }).pos_embed
    assert(math.abs(pos:mean():item()) < 0.05)
    assert(math.abs(pos:std():item() - 1) < 0.05)
  end)

  it("cuts non-overlapping time-major patches and replicate-pads the end", function()
    local model = models.PaperPatchTST({ input_dim = 2, seq_len = 13 })
    local x = sy.arange(1, 27):float():reshape(1, 13, 2)   -- x[t] = {2t - 1, 2t}
    local p = model:patches(x)
    assert.equal("1,7,4", shape(p))
    assert.same({ 1, 2, 3, 4 }, p[1][1]:totable())
    assert.same({ 21, 22, 23, 24 }, p[1][6]:totable())
    assert.same({ 25, 26, 25, 26 }, p[1][7]:totable())
  end)

  it("matches PyTorch at L = 7 (P = 1), 13 (P = 2, padded) and 30 (P = 3)", function()
    for _, L in ipairs({ 7, 13, 30 }) do
      check_against_torch("paper_L" .. L,
        models.PaperPatchTST({ input_dim = 3, seq_len = L, d_model = 4, heads = 2, layers = 2, d_ff = 8 }))
    end
  end)

  it("round-trips through safetensors", function()
    check_round_trip(function() return models.PaperPatchTST({ input_dim = 3, seq_len = 14, dropout = 0.3 }) end,
                     sy.randn(4, 14, 3))
  end)

  it("refuses a state dict of another window length, naming the tensors", function()
    local sd = models.PaperPatchTST({ input_dim = 3, seq_len = 7 }):state_dict()
    local err = error_of(function() models.PaperPatchTST({ input_dim = 3, seq_len = 30 }):load_state_dict(sd) end)
    assert.matches("patch_embed.weight %[64,9%] %(model%) vs %[64,3%] %(state dict%)", err)
    assert.matches("pos_embed %[1,10,64%] %(model%) vs %[1,7,64%] %(state dict%)", err)
  end)

  it("names the model and the expected shape in input errors", function()
    local model = models.PaperPatchTST({ input_dim = 5, seq_len = 7 })
    assert.equal("PaperPatchTST: input has 7 features, model expects 5", error_of(model, sy.randn(2, 7, 7)))
    assert.equal("PaperPatchTST: input has length 8, model expects seq_len 7", error_of(model, sy.randn(2, 8, 5)))
    assert.matches("embed_dim 64 is not divisible by num_heads 5",
                   error_of(models.PaperPatchTST, { input_dim = 5, seq_len = 7, heads = 5 }))
  end)
end)

describe("sy.models.PatchTST (the original)", function()
  local small = { input_dim = 3, seq_len = 20, horizon = 4, patch_len = 6, stride = 4, d_model = 8, heads = 2,
                  layers = 2, d_ff = 16, dropout = 0 }
  local function with(overrides)
    local o = {}
    for k, v in pairs(small) do o[k] = v end
    for k, v in pairs(overrides or {}) do o[k] = v end
    return o
  end

  it("matches the authors' architecture in PyTorch: BatchNorm, end padding, residual attention, affine RevIN",
     function()
    check_against_torch("official_bn",
      models.PatchTST(with({ d_model = 4, d_ff = 8, affine = true })), models.PatchTST.convert_official_state_dict)
  end)

  it("matches it with LayerNorm, no padding, no residual attention, RevIN subtracting the last value", function()
    check_against_torch("official_ln",
      models.PatchTST(with({ d_model = 4, d_ff = 8, norm = "layer", padding = "none", res_attention = false,
                             subtract_last = true })),
      models.PatchTST.convert_official_state_dict)
  end)

  it("maps [B, L, C] to [B, horizon, C] with the paper's 42 patches at L = 336", function()
    local model = models.PatchTST({ input_dim = 7 })
    assert.equal(42, model.n_patches)
    assert.equal("128,16", shape(model.backbone.W_P.weight))
    assert.equal("96,5376", shape(model.head.linear.weight))
    assert.equal(3, #model.backbone.encoder.layers)
    assert.equal("2,96,7", shape(model(sy.randn(2, 336, 7))))
    local etth1 = { input_dim = 7, horizon = 192 }
    for k, v in pairs(models.PatchTST.presets.etth1) do etth1[k] = v end
    local m = models.PatchTST(etth1)
    assert.equal("16,16", shape(m.backbone.W_P.weight))
    assert.equal("3,192,7", shape(m(sy.randn(3, 336, 7))))
  end)

  it("initialises W_pos uniformly in [-0.02, 0.02]", function()
    local pos = models.PatchTST({ input_dim = 1 }).backbone.W_pos
    assert.equal("42,128", shape(pos))
    assert(pos:abs():max():item() <= 0.02)
    assert(pos:abs():max():item() > 0.019)
  end)

  it("RevIN normalises each window and channel and undoes it exactly", function()
    sy.manual_seed(11)
    local revin = models.RevIN({ num_features = 3 })
    sy.no_grad(function()
      revin.affine_weight:copy_(sy.tensor({ 0.5, 2, -1.5 }))
      revin.affine_bias:copy_(sy.tensor({ 0.1, -0.3, 2 }))
    end)
    local x = sy.randn(4, 9, 3) * sy.tensor({ 1, 100, 0.01 }) + sy.tensor({ 3, -50, 7 })
    local back = revin(revin(x, "norm"), "denorm")
    check_close("denorm(norm(x))", back, x, 1e-5)
    local plain = models.RevIN({ num_features = 3, affine = false })
    local z = plain(x, "norm")
    check_close("mean of normalised windows", z:mean(2), sy.zeros(4, 3), 1e-4)
    -- var(z) = var(x) / (var(x) + eps): eps matters for the channel of scale 0.01.
    local v = x:var(2, false, false)
    check_close("variance of normalised windows", z:var(2, false, false), v / (v + 1e-5), 1e-4)
    assert.matches('mode must be "norm" or "denorm"', error_of(plain, x, "normalize"))
    assert.matches("denorm.*before any", error_of(models.RevIN({ num_features = 3 }), x, "denorm"))
  end)

  it("RevIN restores the scale: a head that outputs zeros predicts each window's mean (or last value)", function()
    local x = sy.randn(2, 20, 3) * sy.tensor({ 1, 10, 0.1 }) + sy.tensor({ 5, -20, 0.3 })
    for _, subtract_last in ipairs({ false, true }) do
      local model = models.PatchTST(with({ subtract_last = subtract_last }))
      sy.no_grad(function()
        model.head.linear.weight:zero_()
        model.head.linear.bias:zero_()
      end)
      model:eval()
      local y = sy.no_grad(function() return model(x) end)
      local level = subtract_last and x:narrow(2, 20, 1) or x:mean(2, true)
      check_close("prediction of a zero head", y, level:expand(2, 4, 3), 1e-5)
    end
  end)

  it("is equivariant to a per-channel affine change of the input (RevIN)", function()
    sy.manual_seed(12)
    local model = models.PatchTST(small)
    model:eval()
    local x = sy.randn(2, 20, 3)
    local a, c = sy.tensor({ 3, 0.5, 20 }), sy.tensor({ -1, 4, 100 })
    sy.no_grad(function()
      check_close("f(a x + c)", model(x * a + c), model(x) * a + c, 1e-4)
    end)
  end)

  it("treats channels independently: permuting channels permutes the outputs", function()
    sy.manual_seed(13)
    local model = models.PatchTST(small)
    model:eval()
    local x = sy.randn(2, 20, 3)
    local perm = sy.tensor({ 3, 1, 2 }, "int64")
    sy.no_grad(function()
      local y = model(x)
      check_close("f(x permuted)", model(x:index_select(3, perm)), y:index_select(3, perm), 1e-6)
      -- Changing channel 1 leaves the predictions of channels 2 and 3 alone.
      local x2 = x:clone()
      x2:select(3, 1):copy_(sy.randn(2, 20))
      local y2 = model(x2)
      check_close("other channels", y2:narrow(3, 2, 2), y:narrow(3, 2, 2), 1e-6)
      assert((y2:select(3, 1) - y:select(3, 1)):abs():max():item() > 1e-3)
    end)
  end)

  it("lets gradients reach every parameter", function()
    sy.manual_seed(14)
    for _, norm in ipairs({ "batch", "layer" }) do
      local model = models.PatchTST(with({ norm = norm, affine = true, dropout = 0.2 }))
      local loss = sy.mse_loss(model(sy.randn(4, 20, 3)), sy.randn(4, 4, 3))
      loss:backward()
      local n = 0
      for name, p in pairs(model:named_parameters()) do
        assert(p.grad, norm .. ": no gradient for " .. name)
        assert(p.grad:abs():max():item() > 0, norm .. ": zero gradient for " .. name)
        n = n + 1
      end
      -- RevIN 2 + W_P 2 + W_pos 1 + per layer (4 linears 8, ff 4, two norms 4) + head 2
      assert.equal(2 + 2 + 1 + 2 * 16 + 2, n)
    end
  end)

  it("round-trips through safetensors, BatchNorm statistics included", function()
    local x = sy.randn(3, 20, 3)
    check_round_trip(function()
      local model = models.PatchTST(with({ affine = true, dropout = 0.2 }))
      model(sy.randn(5, 20, 3))   -- a training-mode pass moves the running statistics
      return model
    end, x)
  end)

  it("checks its options and its input", function()
    assert.matches("seq_len 7 %(15 with end padding%) is shorter than patch_len 16",
                   error_of(models.PatchTST, { input_dim = 2, seq_len = 7 }))
    assert.matches("d_model 128 is not divisible by heads 5", error_of(models.PatchTST, { input_dim = 2, heads = 5 }))
    assert.matches("option 'norm' must be one of \"batch\", \"layer\"",
                   error_of(models.PatchTST, { input_dim = 2, norm = "group" }))
    local model = models.PatchTST(small)
    assert.equal("PatchTST: input has 4 channels, model expects 3", error_of(model, sy.randn(2, 20, 4)))
    assert.equal("PatchTST: input has length 21, model expects seq_len 20", error_of(model, sy.randn(2, 21, 3)))
  end)
end)
