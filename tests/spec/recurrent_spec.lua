-- The recurrent layers sy.rnn_tanh, sy.lstm and sy.gru: finite-difference
-- gradient checks in float64 for every input and weight (with and without
-- biases and initial states, with the gradient reaching every output, only
-- h_n, only out, only c_n, or all of them through one backward pass),
-- PyTorch fixtures for outputs and all gradients in float32
-- (tests/fixtures/gen_recurrent.py), layouts, grad mode and the error paths.
local sy = require("synlua")

local LAYERS = { "rnn_tanh", "lstm", "gru" }
local GATES = { rnn_tanh = 1, lstm = 4, gru = 3 }
local ARGS = { "x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0" }

-- Random float64 arguments for one layer: x [B,T,D], weights, and with
-- opts.bias the biases, with opts.state h0 (and c0 for the LSTM).
local function make_args(layer, B, T, D, H, opts)
  local G = GATES[layer] * H
  local a = {
    x = sy.randn(B, T, D, "float64"),
    w_ih = sy.randn(G, D, "float64") * 0.6,
    w_hh = sy.randn(G, H, "float64") * 0.6,
  }
  if opts.bias then
    a.b_ih = sy.randn(G, "float64") * 0.5
    a.b_hh = sy.randn(G, "float64") * 0.5
  end
  if opts.state then
    a.h0 = sy.randn(B, H, "float64")
    if layer == "lstm" then a.c0 = sy.randn(B, H, "float64") end
  end
  return a
end

-- {out, h_n [, c_n]}
local function call(layer, a)
  return table.pack(sy[layer](a.x, a.w_ih, a.w_hh, a.b_ih, a.b_hh, a.h0, a.c0))
end

-- Compares the analytic gradient of L = sum_k <terms_k, R_k> (R_k fixed and
-- random; terms picks tensors from the layer's outputs) with central
-- differences, for every argument present in `a`. Each term gets its own
-- backward call (the node sees the other outputs' gradients as absent),
-- so a single term built from several outputs tests one pass through all.
local function gradcheck(layer, a, terms)
  local eps, atol, rtol = 1e-6, 1e-7, 1e-5
  local R
  local function objective(args)
    local ts = terms(call(layer, args))
    if not R then
      R = {}
      for k, t in ipairs(ts) do R[k] = sy.randn(t:size(), "float64") end
    end
    local total = 0
    for k, t in ipairs(ts) do total = total + (t * R[k]):sum():item() end
    return total
  end
  objective(a)
  local leaves = {}
  for _, n in ipairs(ARGS) do
    if a[n] then leaves[n] = a[n]:clone():requires_grad(true) end
  end
  local ts = terms(call(layer, leaves))
  for k, t in ipairs(ts) do t:backward(R[k], k < #ts) end
  local checked = 0
  for _, n in ipairs(ARGS) do
    local base = a[n]
    if base then
      local g = leaves[n].grad
      assert(g, layer .. ": no gradient for " .. n)
      assert.same(base:size(), g:size())
      local flat, gflat = base:view(-1), g:reshape(-1)
      for i = 1, base:numel() do
        local orig = flat[i]
        flat[i] = orig + eps
        local plus = objective(a)
        flat[i] = orig - eps
        local minus = objective(a)
        flat[i] = orig
        local numeric, analytic = (plus - minus) / (2 * eps), gflat[i]
        if math.abs(numeric - analytic) > atol + rtol * math.abs(numeric) then
          error(string.format("%s: d/d%s element %d: analytic %.10g, numeric %.10g", layer, n, i,
                              analytic, numeric), 2)
        end
        checked = checked + 1
      end
    end
  end
  return checked
end

local function all_outputs(o) return { o[1], o[2], o[3] } end

describe("recurrent layers: gradients against finite differences (float64)", function()
  before_each(function() sy.manual_seed(11) end)

  for _, layer in ipairs(LAYERS) do
    it(layer .. " with biases and initial states, every output", function()
      local a = make_args(layer, 2, 3, 3, 4, { bias = true, state = true })
      local n = gradcheck(layer, a, all_outputs)
      local G = GATES[layer] * 4
      local expected = 18 + G * 3 + G * 4 + 2 * G + 8 + (layer == "lstm" and 8 or 0)
      assert.equal(expected, n)
    end)

    it(layer .. " without biases and initial states", function()
      local a = make_args(layer, 2, 3, 3, 4, {})
      gradcheck(layer, a, all_outputs)
    end)

    it(layer .. " with the gradient reaching only h_n", function()
      local a = make_args(layer, 2, 3, 3, 4, { bias = true, state = true })
      gradcheck(layer, a, function(o) return { o[2] } end)
    end)

    it(layer .. " with the gradient reaching only out", function()
      local a = make_args(layer, 2, 3, 3, 4, { bias = true, state = true })
      gradcheck(layer, a, function(o) return { o[1] } end)
    end)

    it(layer .. " with all outputs meeting in one backward pass", function()
      local a = make_args(layer, 2, 3, 3, 4, { bias = true, state = true })
      gradcheck(layer, a, function(o)
        local s = o[1]:select(2, 3) + o[2]
        if o[3] then s = s + o[3] end
        return { s }
      end)
    end)

    it(layer .. " with one step and with sizes that all differ", function()
      gradcheck(layer, make_args(layer, 2, 1, 3, 4, { bias = true, state = true }), all_outputs)
      gradcheck(layer, make_args(layer, 3, 4, 2, 5, { bias = true, state = true }), all_outputs)
    end)
  end

  it("lstm with the gradient reaching only c_n", function()
    local a = make_args("lstm", 2, 3, 3, 4, { bias = true, state = true })
    gradcheck("lstm", a, function(o) return { o[3] } end)
  end)

  it("lstm with h0 but no c0, and c0 but no h0", function()
    local a = make_args("lstm", 2, 3, 3, 4, { bias = true, state = true })
    local c0 = a.c0
    a.c0 = nil
    gradcheck("lstm", a, all_outputs)
    a.c0, a.h0 = c0, nil
    gradcheck("lstm", a, all_outputs)
  end)
end)

-- ------------------------------------------------------------ PyTorch

local fixture_path = (os.getenv("SYNLUA_SOURCE_DIR") or ".") .. "/tests/fixtures/recurrent.safetensors"
-- the fixture's names (PyTorch's state_dict) for our arguments
local TORCH_NAME = { x = "x", w_ih = "weight_ih_l0", w_hh = "weight_hh_l0", b_ih = "bias_ih_l0",
                     b_hh = "bias_hh_l0", h0 = "h0", c0 = "c0" }

-- One line per tensor with its max abs and rel error; `bad` when some
-- element is outside atol + rtol * |want|.
local function compare(label, got, want, atol, rtol)
  assert.same(want:size(), got:size())
  local diff = (got - want):abs()
  local bad = (diff - (want:abs() * rtol + atol)):max():item() > 0
  local line = string.format("%-28s max abs err %.3g, max rel err %.3g", label, diff:max():item(),
                             (diff / (want:abs() + 1e-30)):max():item())
  return bad, line
end

describe("recurrent layers against PyTorch (float32 fixtures)", function()
  local f = sy.load(fixture_path)

  for _, layer in ipairs(LAYERS) do
    for _, config in ipairs({ "full", "bare" }) do
      it(layer .. " (" .. config .. "): outputs and every gradient", function()
        local prefix = layer .. "." .. config .. "."
        local a, names = {}, {}
        for _, n in ipairs(ARGS) do
          local t = f[prefix .. TORCH_NAME[n]]
          if t then
            assert.equal("float32", t:dtype())
            a[n] = t:clone():requires_grad(true)
            names[#names + 1] = n
          end
        end
        assert.equal(config == "full" and (layer == "lstm" and 7 or 6) or 3, #names)
        local o = call(layer, a)
        o[1]:backward(f[prefix .. "R_out"], true)
        o[2]:backward(f[prefix .. "R_h"], layer == "lstm")
        if layer == "lstm" then o[3]:backward(f[prefix .. "R_c"]) end

        local checks = { { "out", o[1], f[prefix .. "out"] }, { "h_n", o[2], f[prefix .. "h_n"] } }
        if layer == "lstm" then checks[3] = { "c_n", o[3], f[prefix .. "c_n"] } end
        for _, n in ipairs(names) do
          checks[#checks + 1] = { "grad " .. TORCH_NAME[n], a[n].grad, f[prefix .. "grad." .. TORCH_NAME[n]] }
        end
        local lines, failed = {}, false
        for _, c in ipairs(checks) do
          assert(c[2], prefix .. c[1] .. " missing")
          local bad, line = compare(c[1], c[2], c[3], 1e-5, 1e-4)
          lines[#lines + 1] = (bad and "FAIL " or "ok   ") .. line
          failed = failed or bad
        end
        if failed then error(prefix .. " differs from PyTorch:\n" .. table.concat(lines, "\n")) end
      end)
    end
  end
end)

-- ------------------------------------------------------------ behaviour

describe("recurrent layers: layouts, grad mode and graph", function()
  before_each(function() sy.manual_seed(5) end)

  it("give the same values and gradients for non-contiguous inputs and weights", function()
    local B, T, D, H = 3, 4, 2, 5
    for _, layer in ipairs(LAYERS) do
      local G = GATES[layer] * H
      local a = make_args(layer, B, T, D, H, { bias = true, state = true })
      -- strided views of the same values: time-major x, transposed weights, every other bias entry
      local views = {
        x = a.x:transpose(1, 2):contiguous():transpose(1, 2),
        w_ih = a.w_ih:t():contiguous():t(),
        w_hh = a.w_hh:t():contiguous():t(),
        b_ih = sy.stack({ a.b_ih, a.b_ih }, 2):select(2, 1),
        b_hh = a.b_hh, h0 = a.h0:t():contiguous():t(), c0 = a.c0,
      }
      assert.is_false(views.x:is_contiguous())
      assert.is_false(views.b_ih:is_contiguous())
      local leaves_c, leaves_v = {}, {}
      for n, t in pairs(a) do leaves_c[n] = t:clone():requires_grad(true) end
      for n, t in pairs(views) do leaves_v[n] = t:requires_grad(true) end
      local oc, ov = call(layer, leaves_c), call(layer, leaves_v)
      for k = 1, oc.n do
        assert.equal(0, (oc[k] - ov[k]):abs():max():item())
        oc[k]:backward(sy.ones(oc[k]:size(), "float64"), k < oc.n)
        -- an expanded incoming gradient (stride 0), as sum's backward would give
        ov[k]:backward(sy.ones(1, "float64"):expand(ov[k]:size()), k < ov.n)
      end
      for n in pairs(a) do
        assert.same(a[n]:size(), leaves_v[n].grad:size())
        assert.equal(0, (leaves_c[n].grad - leaves_v[n].grad):abs():max():item())
      end
      assert.equal(G, leaves_v.b_ih.grad:numel())
    end
  end)

  it("record one node per call, named after the layer, only when needed", function()
    local names = { rnn_tanh = "RNNTanhBackward", lstm = "LSTMBackward", gru = "GRUBackward" }
    for _, layer in ipairs(LAYERS) do
      local a = make_args(layer, 2, 3, 3, 4, { bias = true })
      local plain = call(layer, a)
      for k = 1, plain.n do assert.is_nil(plain[k].grad_fn) end
      a.w_hh:requires_grad(true)
      local o = call(layer, a)
      for k = 1, o.n do assert.equal(names[layer], o[k].grad_fn) end
      local off = table.pack(sy.no_grad(function() return sy[layer](a.x, a.w_ih, a.w_hh, a.b_ih, a.b_hh) end))
      for k = 1, off.n do
        assert.is_nil(off[k].grad_fn)
        assert.equal(0, (off[k] - plain[k]):abs():max():item())
      end
      -- only w_hh asked for a gradient: nothing else gets one
      o[2]:backward(sy.ones(2, 4, "float64"))
      assert.same({ GATES[layer] * 4, 4 }, a.w_hh.grad:size())
      assert.is_nil(a.x.grad)
      assert.is_nil(a.w_ih.grad)
      a.w_hh:requires_grad(false)
    end
  end)

  it("accumulate into .grad over calls and refuse a second pass through a freed graph", function()
    local a = make_args("lstm", 2, 3, 3, 4, { bias = true, state = true })
    local x = a.x:requires_grad(true)
    local out = sy.lstm(x, a.w_ih, a.w_hh, a.b_ih, a.b_hh, a.h0, a.c0)
    local g = sy.randn(2, 3, 4, "float64")
    out:backward(g)
    local first = x.grad:clone()
    local ok, err = pcall(out.backward, out, g)
    assert.is_false(ok)
    assert.truthy(err:find("LSTMBackward a second time", 1, true))
    sy.lstm(x, a.w_ih, a.w_hh, a.b_ih, a.b_hh, a.h0, a.c0):backward(g)
    assert.True(((x.grad - first * 2):abs():max():item()) < 1e-12)
  end)

  it("run in float32 and float64 with matching results", function()
    for _, layer in ipairs(LAYERS) do
      local a = make_args(layer, 2, 6, 3, 5, { bias = true, state = true })
      local a32 = {}
      for n, t in pairs(a) do a32[n] = t:float() end
      local o64, o32 = call(layer, a), call(layer, a32)
      for k = 1, o64.n do
        assert.equal("float32", o32[k]:dtype())
        assert.True((o32[k]:double() - o64[k]):abs():max():item() < 1e-5)
      end
    end
  end)
end)

-- ------------------------------------------------------------ errors

describe("recurrent layers: argument errors", function()
  local function fails(pattern, f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok, "expected an error matching " .. pattern)
    assert.truthy(err:find(pattern, 1, true), "message was: " .. tostring(err))
  end

  -- the function's name in argument errors depends on how Lua finds it
  local function fails_arg(argpart, namepart, f, ...)
    fails(argpart, f, ...)
    fails(namepart, f, ...)
  end

  it("name the layer, the argument and the shapes", function()
    local x, wih, whh = sy.randn(2, 3, 5), sy.randn(16, 5), sy.randn(16, 4)
    local b, h0 = sy.randn(16), sy.randn(2, 4)
    fails("lstm: x must be 3-d [batch, seq_len, features], got shape [2,3]", sy.lstm, sy.randn(2, 3), wih, whh)
    fails("lstm: x has 7 features, w_ih expects 5", sy.lstm, sy.randn(2, 3, 7), wih, whh)
    fails("lstm: w_hh has shape [16,5]; expected [4*hidden, hidden] (row blocks i, f, g, o)",
          sy.lstm, x, wih, sy.randn(16, 5))
    fails("gru: w_hh has shape [16,4]; expected [3*hidden, hidden] (row blocks r, z, n)", sy.gru, x, wih, whh)
    fails("rnn_tanh: w_hh has shape [4]; expected [hidden, hidden]", sy.rnn_tanh, x, sy.randn(4, 5), sy.randn(4))
    fails("lstm: w_ih has shape [12,5]; expected [4*hidden, features] = [16, 5]", sy.lstm, x, sy.randn(12, 5), whh)
    fails("lstm: b_ih has shape [8]; expected [16]", sy.lstm, x, wih, whh, sy.randn(8), b)
    fails("lstm: b_hh has shape [1,16]; expected [16]", sy.lstm, x, wih, whh, b, sy.randn(1, 16))
    fails("lstm: h0 has shape [1,2,4]; expected [batch, hidden] = [2, 4] (one layer's state)",
          sy.lstm, x, wih, whh, b, b, sy.randn(1, 2, 4))
    fails("lstm: c0 has shape [3,4]; expected [batch, hidden] = [2, 4]", sy.lstm, x, wih, whh, b, b, h0, sy.randn(3, 4))
    fails("rnn_tanh: h0 has shape [2,5]; expected [batch, hidden] = [2, 4]",
          sy.rnn_tanh, x, sy.randn(4, 5), sy.randn(4, 4), nil, nil, sy.randn(2, 5))
    fails("lstm: x has shape [0,3,5]; batch, sequence length and features must all be at least 1",
          sy.lstm, sy.zeros(0, 3, 5), wih, whh)
    fails("lstm: w_hh has shape [0,0]; expected [4*hidden, hidden] (row blocks i, f, g, o) with hidden >= 1",
          sy.lstm, x, sy.zeros(0, 5), sy.zeros(0, 0))
  end)

  it("reject mixed and non-float dtypes", function()
    local x, wih, whh = sy.randn(2, 3, 5), sy.randn(16, 5), sy.randn(16, 4)
    fails("lstm: w_ih is float64 but x is float32; all tensors must have one dtype", sy.lstm, x, wih:double(), whh)
    fails("gru: h0 is float64 but x is float32", sy.gru, x, sy.randn(12, 5), sy.randn(12, 4), nil, nil,
          sy.zeros(2, 4, "float64"))
    fails("rnn_tanh: x must be float32 or float64, got int64", sy.rnn_tanh, sy.zeros(2, 3, 5, "int64"),
          sy.randn(4, 5), sy.randn(4, 4))
  end)

  it("reject arguments that are not tensors", function()
    local x, wih, whh = sy.randn(2, 3, 5), sy.randn(16, 5), sy.randn(16, 4)
    fails_arg("bad argument #1 to ", "lstm' (tensor expected, got no value)", sy.lstm)
    fails_arg("bad argument #3 to ", "lstm' (tensor expected, got string)", sy.lstm, x, wih, "w_hh")
    fails_arg("bad argument #4 to ", "gru' (tensor expected, got number)", sy.gru, x, wih, whh, 1)
    fails_arg("bad argument #7 to ", "lstm' (tensor expected, got table)", sy.lstm, x, wih, whh, nil, nil, nil, {})
  end)
end)
