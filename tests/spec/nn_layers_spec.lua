-- sy.nn's layers: parameter names and shapes exactly as PyTorch's modules
-- (written out by hand from PyTorch's documentation), default
-- initialisation bounds, output shapes, agreement with the functional ops
-- and with formulas, and PyTorch state dicts loaded unchanged reproducing
-- PyTorch's outputs and gradients (tests/fixtures/gen_nn.py: stacked
-- recurrent layers, MultiheadAttention from PyTorch's packed layout,
-- BatchNorm1d's running statistics).
local sy = require("synlua")
local nn = sy.nn

local fixture_path = (os.getenv("SYNLUA_SOURCE_DIR") or ".") .. "/tests/fixtures/nn.safetensors"

-- A test that needs the C op sy.<op>: pending until the op exists.
local function it_with(op, name, fn)
  if sy[op] then it(name, fn) else pending(name .. " (needs sy." .. op .. ")") end
end

local function shape(t) return "[" .. table.concat(t:size(), ",") .. "]" end

local function layout(m)
  local out = {}
  for i, p in ipairs(m:parameters()) do out[i] = p[1] .. " " .. shape(p[2]) end
  return out
end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return err
end

-- Fails with the tensor's max abs and rel error when |got - want| exceeds
-- atol + rtol * |want| anywhere.
local function check_close(label, got, want, atol, rtol)
  assert(got, label .. ": missing")
  assert.same(want:size(), got:size())
  got, want = got:double(), want:double()
  local diff = (got - want):abs()
  if (diff - (want:abs() * (rtol or 0) + (atol or 0))):max():item() > 0 then
    error(("%s: max abs err %.3g, max rel err %.3g"):format(label, diff:max():item(),
          (diff / (want:abs() + 1e-30)):max():item()), 2)
  end
end

-- Every element in [-bound, bound], the extremes well out towards the bound
-- (for 50+ samples of U(-b, b) each side misses 0.6 b with probability < 1e-5),
-- and not all equal.
local function check_uniform(label, t, bound)
  local mx, mn = t:max():item(), t:min():item()
  assert(mx <= bound and mn >= -bound, ("%s: values in [%g, %g] outside +-%g"):format(label, mn, mx, bound))
  if t:numel() >= 50 then
    assert(mx > 0.6 * bound and mn < -0.6 * bound, ("%s: [%g, %g] does not fill +-%g"):format(label, mn, mx, bound))
  end
  assert(mx > mn, label .. ": all values equal")
end

describe("nn.Linear", function()
  it("has PyTorch's parameters and initialisation", function()
    assert.same({ "weight [3,5]", "bias [3]" }, layout(nn.Linear(5, 3)))
    assert.same({ "weight [3,5]" }, layout(nn.Linear{ 5, 3, bias = false }))
    sy.manual_seed(1)
    local m = nn.Linear(50, 40)
    check_uniform("weight", m.weight, 1 / math.sqrt(50))
    check_uniform("bias", m.bias, 1 / math.sqrt(50))
    assert.equal("float32", m.weight:dtype())
  end)

  it_with("linear", "computes x W^T + b over any leading dims, like sy.linear", function()
    sy.manual_seed(2)
    local m = nn.Linear(5, 3)
    local x = sy.randn(2, 4, 5)
    local y = m(x)
    assert.same({ 2, 4, 3 }, y:size())
    check_close("y", y, x:matmul(m.weight:t()) + m.bias, 1e-6, 1e-6)
    check_close("sy.linear", y, sy.linear(x, m.weight, m.bias), 0, 0)
    y:sum():backward()
    check_close("grad bias", m.bias.grad, sy.full({ 3 }, 8), 1e-5, 0)
    local nb = nn.Linear{ 5, 3, bias = false }
    check_close("no bias", nb(x), x:matmul(nb.weight:t()), 1e-6, 1e-6)
  end)
end)

-- ------------------------------------------------------------ recurrent

local GATES = { RNN = 1, LSTM = 4, GRU = 3 }
local OPS = { RNN = "rnn_tanh", LSTM = "lstm", GRU = "gru" }

describe("nn.RNN, nn.LSTM, nn.GRU", function()
  for name, g in pairs(GATES) do
    it(name .. " has PyTorch's parameters and initialisation", function()
      local G = g * 6
      local want = {}
      for k = 0, 1 do
        local d = k == 0 and 4 or 6
        for _, entry in ipairs({ { "weight_ih_l", G .. "," .. d }, { "weight_hh_l", G .. ",6" },
                                 { "bias_ih_l", G }, { "bias_hh_l", G } }) do
          want[#want + 1] = entry[1] .. k .. " [" .. entry[2] .. "]"
        end
      end
      assert.same(want, layout(nn[name]{ 4, 6, num_layers = 2 }))
      assert.same({ "weight_ih_l0 [" .. G .. ",4]", "weight_hh_l0 [" .. G .. ",6]" },
                  layout(nn[name]{ input_size = 4, hidden_size = 6, bias = false }))
      sy.manual_seed(3)
      local m = nn[name]{ 8, 16, num_layers = 2 }
      for _, p in ipairs(m:parameters()) do check_uniform(p[1], p[2], 1 / math.sqrt(16)) end
    end)

    it(name .. ": one layer is the functional op; layers stack; layouts agree", function()
      sy.manual_seed(4)
      local one = nn[name]{ 3, 5 }
      local x = sy.randn(2, 7, 3)
      local out, state = one(x)
      local ref = table.pack(sy[OPS[name]](x, one.weight_ih_l0, one.weight_hh_l0, one.bias_ih_l0, one.bias_hh_l0))
      check_close("out", out, ref[1], 0, 0)
      local h_n = name == "LSTM" and state[1] or state
      assert.same({ 1, 2, 5 }, h_n:size())
      check_close("h_n", h_n:select(1, 1), ref[2], 0, 0)
      if name == "LSTM" then check_close("c_n", state[2]:select(1, 1), ref[3], 0, 0) end

      local two = nn[name]{ 3, 5, num_layers = 2 }
      local h0 = sy.randn(2, 2, 5)
      local c0 = sy.randn(2, 2, 5)
      local hx = name == "LSTM" and { h0, c0 } or h0
      out, state = two(x, hx)
      local function layer(k, input)
        local s = "_l" .. (k - 1)
        return sy[OPS[name]](input, two["weight_ih" .. s], two["weight_hh" .. s], two["bias_ih" .. s],
                             two["bias_hh" .. s], h0:select(1, k), name == "LSTM" and c0:select(1, k) or nil)
      end
      local o1, h1 = layer(1, x)
      local o2, h2 = layer(2, o1)
      check_close("stacked out", out, o2, 0, 0)
      h_n = name == "LSTM" and state[1] or state
      check_close("stacked h_n", h_n, sy.stack({ h1, h2 }, 1), 0, 0)

      -- time-major input and one unbatched sequence give the same numbers
      local tm = nn[name]{ 3, 5, num_layers = 2, batch_first = false }
      tm:load_state_dict(two:state_dict())
      local out_tm = tm(x:transpose(1, 2):contiguous(), hx)
      check_close("batch_first = false", out_tm:transpose(1, 2), out, 0, 0)
      local single = two(x:select(1, 2), name == "LSTM" and { h0:select(2, 2), c0:select(2, 2) } or h0:select(2, 2))
      check_close("unbatched", single, out:select(1, 2), 1e-6, 1e-6)
    end)

    it(name .. " checks its input and state shapes", function()
      local m = nn[name]{ 3, 5, num_layers = 2 }
      local state_name = name == "LSTM" and "h0" or "hx"
      local bad = sy.zeros(1, 2, 5)
      local err = error_of(m.forward, m, sy.zeros(2, 4, 3), name == "LSTM" and { bad } or bad)
      assert.matches(("nn.%s: %s must have shape [2,2,5] ([num_layers, batch, hidden]), got [1,2,5]")
        :format(name, state_name), err, 1, true)
      assert.matches("input must be [batch, seq, features]", error_of(m.forward, m, sy.zeros(2)), 1, true)
      if name == "LSTM" then
        assert.matches("hx must be a table {h0, c0} or nil, got a tensor",
                       error_of(m.forward, m, sy.zeros(2, 4, 3), sy.zeros(2, 2, 5)), 1, true)
      end
    end)

    it_with("dropout", name .. " applies dropout between layers only while training", function()
      sy.manual_seed(6)
      local m = nn[name]{ 3, 8, num_layers = 3, dropout = 0.5 }
      local plain = nn[name]{ 3, 8, num_layers = 3 }
      plain:load_state_dict(m:state_dict())
      local x = sy.randn(4, 5, 3)
      local train_out = m(x)
      assert.is_true((train_out - plain(x)):abs():max():item() > 1e-3)
      m:eval()
      check_close("eval", m(x), plain(x), 0, 0)
      -- one layer: nothing to drop
      local single = nn[name]{ 3, 8, dropout = 0.5 }
      local ref = sy[OPS[name]](x, single.weight_ih_l0, single.weight_hh_l0, single.bias_ih_l0, single.bias_hh_l0)
      check_close("single layer", single(x), ref, 0, 0)
    end)
  end

  it("load PyTorch's two-layer state dicts and reproduce outputs and gradients", function()
    local f = sy.load(fixture_path)
    for name, _ in pairs(GATES) do
      local p = name:lower() .. "."
      local m = nn[name]{ 4, 6, num_layers = 2 }
      local sd = {}
      for _, entry in ipairs(m:parameters()) do sd[entry[1]] = f[p .. entry[1]] end
      m:load_state_dict(sd)
      local x = f[p .. "x"]:clone():requires_grad(true)
      local h0 = f[p .. "h0"]:clone():requires_grad(true)
      local c0 = name == "LSTM" and f[p .. "c0"]:clone():requires_grad(true) or nil
      local out, state = m(x, c0 and { h0, c0 } or h0)
      local h_n, c_n = state, nil
      if c0 then h_n, c_n = state[1], state[2] end
      check_close(p .. "out", out, f[p .. "out"], 1e-5, 1e-4)
      check_close(p .. "h_n", h_n, f[p .. "h_n"], 1e-5, 1e-4)
      local loss = (out * f[p .. "R_out"]):sum() + (h_n * f[p .. "R_h"]):sum()
      if c0 then
        check_close(p .. "c_n", c_n, f[p .. "c_n"], 1e-5, 1e-4)
        loss = loss + (c_n * f[p .. "R_c"]):sum()
      end
      loss:backward()
      check_close(p .. "grad.x", x.grad, f[p .. "grad.x"], 1e-4, 1e-4)
      check_close(p .. "grad.h0", h0.grad, f[p .. "grad.h0"], 1e-4, 1e-4)
      if c0 then check_close(p .. "grad.c0", c0.grad, f[p .. "grad.c0"], 1e-4, 1e-4) end
      for _, entry in ipairs(m:parameters()) do
        check_close(p .. "grad." .. entry[1], entry[2].grad, f[p .. "grad." .. entry[1]], 1e-4, 1e-4)
      end
    end
  end)
end)

-- ------------------------------------------------------------ attention

describe("nn.MultiheadAttention", function()
  it("has separate q, k, v, out projections initialised as nn.Linear", function()
    local want = {}
    for _, n in ipairs({ "q", "k", "v", "out" }) do
      want[#want + 1] = n .. ".weight [8,8]"
      want[#want + 1] = n .. ".bias [8]"
    end
    assert.same(want, layout(nn.MultiheadAttention{ 8, 2 }))
    assert.same({ "q.weight [8,8]", "k.weight [8,8]", "v.weight [8,8]", "out.weight [8,8]" },
                layout(nn.MultiheadAttention{ embed_dim = 8, num_heads = 4, bias = false }))
    sy.manual_seed(7)
    local m = nn.MultiheadAttention{ 64, 4, dropout = 0.1 }
    assert.equal(16, m.head_dim)
    for _, p in ipairs(m:parameters()) do check_uniform(p[1], p[2], 1 / 8) end
    assert.matches("^MultiheadAttention%(\n  embed_dim=64, num_heads=4, dropout=0.1\n  %(q%): Linear", tostring(m))
  end)

  it("converts PyTorch's packed state dict", function()
    local f = sy.load(fixture_path)
    local sd = {}
    for _, n in ipairs({ "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias" }) do
      sd["blocks.0.attn." .. n] = f["mha.kpm." .. n]
    end
    sd["blocks.0.ln1.weight"] = sy.ones(8)
    local conv = nn.MultiheadAttention.convert_torch_state_dict(sd)
    local names = {}
    for k in pairs(conv) do names[#names + 1] = k end
    table.sort(names)
    assert.same({ "blocks.0.attn.k.bias", "blocks.0.attn.k.weight", "blocks.0.attn.out.bias",
                  "blocks.0.attn.out.weight", "blocks.0.attn.q.bias", "blocks.0.attn.q.weight",
                  "blocks.0.attn.v.bias", "blocks.0.attn.v.weight", "blocks.0.ln1.weight" }, names)
    local packed = f["mha.kpm.in_proj_weight"]
    check_close("k.weight", conv["blocks.0.attn.k.weight"], packed:narrow(1, 9, 8), 0, 0)
    check_close("v.bias", conv["blocks.0.attn.v.bias"], f["mha.kpm.in_proj_bias"]:narrow(1, 17, 8), 0, 0)
    local separate = nn.MultiheadAttention.convert_torch_state_dict({
      q_proj_weight = sy.ones(8, 8), k_proj_weight = sy.zeros(8, 8), v_proj_weight = sy.ones(8, 8),
      in_proj_bias = sy.zeros(24), ["out_proj.weight"] = sy.ones(8, 8), ["out_proj.bias"] = sy.zeros(8) })
    local m = nn.MultiheadAttention{ 8, 2 }
    m:load_state_dict(separate)
    assert.equal(0, m.k.weight:abs():sum():item())
    assert.equal(64, m.q.weight:sum():item())
  end)

  it_with("scaled_dot_product_attention", "reproduces PyTorch's outputs, weights and gradients", function()
    local f = sy.load(fixture_path)
    for _, config in ipairs({ "self", "kpm", "mixed" }) do
      local p = "mha." .. config .. "."
      local m = nn.MultiheadAttention{ 8, 2 }
      local sd = {}
      for _, n in ipairs({ "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias" }) do
        sd[n] = f[p .. n]
      end
      m:load_state_dict(nn.MultiheadAttention.convert_torch_state_dict(sd))
      local q = f[p .. "query"]:clone():requires_grad(true)
      local k = f[p .. "key"] and f[p .. "key"]:clone():requires_grad(true)
      local v = f[p .. "value"] and f[p .. "value"]:clone():requires_grad(true)
      local out, weights = m(q, k, v, { key_padding_mask = f[p .. "key_padding_mask"],
                                        attn_mask = f[p .. "attn_mask"],
                                        average_attn_weights = config ~= "self" })
      check_close(p .. "out", out, f[p .. "out"], 1e-5, 1e-4)
      check_close(p .. "weights", weights, f[p .. "weights"], 1e-6, 1e-4)
      local loss = (out * f[p .. "R_out"]):sum()
      loss:backward()
      check_close(p .. "grad.query", q.grad, f[p .. "grad.query"], 1e-5, 1e-4)
      if k then
        check_close(p .. "grad.key", k.grad, f[p .. "grad.key"], 1e-5, 1e-4)
        check_close(p .. "grad.value", v.grad, f[p .. "grad.value"], 1e-5, 1e-4)
      end
      local gw, gb = f[p .. "grad.in_proj_weight"], f[p .. "grad.in_proj_bias"]
      for i, n in ipairs({ "q", "k", "v" }) do
        check_close(p .. n .. ".weight.grad", m[n].weight.grad, gw:narrow(1, 8 * i - 7, 8), 1e-5, 1e-4)
        check_close(p .. n .. ".bias.grad", m[n].bias.grad, gb:narrow(1, 8 * i - 7, 8), 1e-5, 1e-4)
      end
      check_close(p .. "out.weight.grad", m.out.weight.grad, f[p .. "grad.out_proj.weight"], 1e-5, 1e-4)
      check_close(p .. "out.bias.grad", m.out.bias.grad, f[p .. "grad.out_proj.bias"], 1e-5, 1e-4)
    end
  end)

  it_with("scaled_dot_product_attention", "agrees with the functional op; layouts, masks and dropout", function()
    sy.manual_seed(8)
    local m = nn.MultiheadAttention{ 8, 2 }
    local x = sy.randn(3, 5, 8)
    local out, w = m(x)
    assert.same({ 3, 5, 8 }, out:size())
    assert.same({ 3, 5, 5 }, w:size())
    local function heads(t) return t:reshape(3, 5, 2, 4):transpose(2, 3) end
    local o, wh = sy.scaled_dot_product_attention(heads(m.q(x)), heads(m.k(x)), heads(m.v(x)), nil, 0, false)
    check_close("out", out, m.out(o:transpose(2, 3):reshape(3, 5, 8)), 1e-6, 1e-5)
    check_close("weights", w, wh:mean(2), 1e-7, 1e-5)
    local _, per_head = m(x, nil, nil, { average_attn_weights = false })
    assert.same({ 3, 2, 5, 5 }, per_head:size())
    local _, none = m(x, x, x, { need_weights = false })
    assert.is_nil(none)
    -- time-major and unbatched inputs
    local tm = nn.MultiheadAttention{ 8, 2, batch_first = false }
    tm:load_state_dict(m:state_dict())
    check_close("batch_first = false", tm(x:transpose(1, 2)):transpose(1, 2), out, 1e-6, 1e-5)
    check_close("unbatched", m(x:select(1, 2)), out:select(1, 2), 1e-6, 1e-5)
    -- a causal bool mask: no weight above the diagonal
    local above = {}
    for i = 1, 5 do
      above[i] = {}
      for j = 1, 5 do above[i][j] = j > i and 1 or 0 end
    end
    above = sy.tensor(above)
    local _, cw = m(x, x, x, { attn_mask = above:bool() })
    assert.equal(0, (cw * above):abs():max():item())
    assert.is_true(cw:select(2, 1):select(2, 1):min():item() > 0.999)   -- the first query sees only key 1
    -- dropout on the probabilities while training only
    local d = nn.MultiheadAttention{ 8, 2, dropout = 0.5 }
    d:load_state_dict(m:state_dict())
    assert.is_true((d(x) - out):abs():max():item() > 1e-4)
    d:eval()
    check_close("eval", d(x), out, 0, 0)
    assert.matches("key_padding_mask must have shape [3,5] ([batch, key length]), got [3,4]",
                   error_of(m.forward, m, x, x, x, { key_padding_mask = sy.zeros(3, 4):bool() }), 1, true)
    assert.matches("attn_mask must have shape [5,5] or [6,5,5], got [4,5]",
                   error_of(m.forward, m, x, x, x, { attn_mask = sy.zeros(4, 5) }), 1, true)
    assert.matches("unknown forward option 'mask'", error_of(m.forward, m, x, x, x, { mask = 1 }), 1, true)
    assert.matches("query, key and value must be [batch, length, 8]",
                   error_of(m.forward, m, sy.zeros(3, 5, 6)), 1, true)
  end)
end)

-- ------------------------------------------------------------ norms

describe("nn.LayerNorm", function()
  it("has PyTorch's parameters and initialisation", function()
    local m = nn.LayerNorm(6)
    assert.same({ "weight [6]", "bias [6]" }, layout(m))
    assert.same({ 1, 1, 1, 1, 1, 1 }, m.weight:totable())
    assert.same({ 0, 0, 0, 0, 0, 0 }, m.bias:totable())
    assert.same({}, layout(nn.LayerNorm{ 6, elementwise_affine = false }))
    assert.same({ "weight [3,4]", "bias [3,4]" }, layout(nn.LayerNorm{ { 3, 4 } }))
  end)

  it_with("layer_norm", "normalises the trailing dims like the formula and sy.layer_norm", function()
    sy.manual_seed(9)
    local x = sy.randn(2, 3, 4) * 3 + 1
    local m = nn.LayerNorm{ 4, eps = 1e-3 }
    sy.no_grad(function() m.weight:uniform_(0.5, 1.5); m.bias:uniform_(-1, 1) end)
    local mean = x:mean(3):unsqueeze(3)
    local var = ((x - mean) ^ 2):mean(3):unsqueeze(3)
    local want = (x - mean) / (var + 1e-3):sqrt() * m.weight + m.bias
    check_close("1-d shape", m(x), want, 1e-5, 1e-5)
    check_close("sy.layer_norm", m(x), sy.layer_norm(x, m.weight, m.bias, 1e-3), 0, 0)
    local m2 = nn.LayerNorm{ { 3, 4 } }
    local flat = x:reshape(2, 12)
    local fm = flat:mean(2):unsqueeze(2)
    local fv = ((flat - fm) ^ 2):mean(2):unsqueeze(2)
    check_close("2-d shape", m2(x), ((flat - fm) / (fv + 1e-5):sqrt()):reshape(2, 3, 4), 1e-5, 1e-5)
    m2(x):sum():backward()
    assert.same({ 3, 4 }, m2.weight.grad:size())
    assert.matches("input of shape [2,4,3] does not end in normalized_shape [3,4]",
                   error_of(m2.forward, m2, sy.zeros(2, 4, 3)), 1, true)
  end)
end)

describe("nn.BatchNorm1d", function()
  it("has PyTorch's parameters, buffers and initialisation", function()
    local m = nn.BatchNorm1d(4)
    assert.same({ "weight [4]", "bias [4]" }, layout(m))
    local bufs = {}
    for i, b in ipairs(m:buffers()) do bufs[i] = b[1] .. " " .. shape(b[2]) .. " " .. b[2]:dtype() end
    assert.same({ "running_mean [4] float32", "running_var [4] float32", "num_batches_tracked [] int64" }, bufs)
    assert.same({ 1, 1, 1, 1 }, m.weight:totable())
    assert.same({ 0, 0, 0, 0 }, m.bias:totable())
    assert.same({ 0, 0, 0, 0 }, m.running_mean:totable())
    assert.same({ 1, 1, 1, 1 }, m.running_var:totable())
    assert.same({}, layout(nn.BatchNorm1d{ 4, affine = false }))
    assert.same({}, nn.BatchNorm1d{ 4, track_running_stats = false }:buffers())
  end)

  it_with("batch_norm", "tracks running statistics like PyTorch (momentum and cumulative)", function()
    local f = sy.load(fixture_path)
    for _, config in ipairs({ "ema", "cma" }) do
      local p = "bn." .. config .. "."
      local m = nn.BatchNorm1d{ 4, momentum = config == "ema" and 0.1 or false }
      m:load_state_dict({ weight = f[p .. "weight"], bias = f[p .. "bias"], running_mean = sy.zeros(4),
                          running_var = sy.ones(4), num_batches_tracked = sy.zeros({}, "int64") })
      for i = 1, 3 do check_close(p .. "y" .. i, m(f[p .. "x" .. i]), f[p .. "y" .. i], 1e-5, 1e-4) end
      check_close(p .. "running_mean", m.running_mean, f[p .. "running_mean"], 1e-6, 1e-5)
      check_close(p .. "running_var", m.running_var, f[p .. "running_var"], 1e-6, 1e-5)
      assert.equal(3, m.num_batches_tracked:item())
      m:eval()
      check_close(p .. "y_eval", m(f[p .. "x_eval"]), f[p .. "y_eval"], 1e-5, 1e-4)
      assert.equal(3, m.num_batches_tracked:item())
    end
    local m = nn.BatchNorm1d{ 3, track_running_stats = false }
    m:eval()
    local x = sy.randn(5, 3)
    check_close("batch stats in eval", m(x), sy.batch_norm(x, nil, nil, m.weight, m.bias, true, 0.1, 1e-5), 0, 0)
    assert.matches("nn.BatchNorm1d: expected input [N, 3] or [N, 3, L], got shape [5,4]",
                   error_of(m.forward, m, sy.zeros(5, 4)), 1, true)
  end)
end)

-- ------------------------------------------------------ dropout, embedding

describe("nn.Dropout", function()
  it_with("dropout", "drops and rescales while training, and in eval mode only with mc", function()
    sy.manual_seed(10)
    local m = nn.Dropout{ p = 0.25 }
    assert.same({}, m:parameters())
    local x = sy.ones(100, 100)
    local y = m(x)
    local kept = y:ne(0):float():mean():item()
    assert.near(0.75, kept, 0.03)
    assert.near(1 / 0.75, y:max():item(), 1e-5)
    m:eval()
    assert.equal(0, (m(x) - x):abs():max():item())
    m.mc = true                             -- Monte Carlo dropout, switched on later
    assert.near(0.75, m(x):ne(0):float():mean():item(), 0.03)
    local mc = nn.Dropout{ 0.5, true }:eval()
    assert.near(0.5, mc(x):ne(0):float():mean():item(), 0.03)
    assert.equal("Dropout(p=0.5, mc=true)", tostring(mc))
  end)
end)

describe("nn.Embedding", function()
  it("has PyTorch's parameter and N(0, 1) initialisation", function()
    assert.same({ "weight [10,3]" }, layout(nn.Embedding(10, 3)))
    sy.manual_seed(12)
    local w = nn.Embedding{ num_embeddings = 1000, embedding_dim = 20 }.weight
    assert.near(0, w:mean():item(), 0.02)
    assert.near(1, w:std():item(), 0.02)
  end)

  it_with("embedding", "looks up rows by 1-based ids like sy.embedding", function()
    local m = nn.Embedding(10, 3)
    local ids = sy.tensor({ { 1, 3 }, { 10, 1 } }):long()
    local y = m(ids)
    assert.same({ 2, 2, 3 }, y:size())
    assert.same(m.weight[10]:totable(), y[2][1]:totable())
    assert.same(m.weight[1]:totable(), y[2][2]:totable())
    check_close("sy.embedding", y, sy.embedding(ids, m.weight), 0, 0)
  end)
end)

-- ------------------------------------------------------------ activations

describe("activations", function()
  local x = sy.tensor({ -2.0, -1.0, -0.3, 0.0, 0.5, 1.0, 2.5 })
  it("ReLU, Tanh and Sigmoid follow their formulas", function()
    local r, t, s = nn.ReLU()(x):totable(), nn.Tanh()(x):totable(), nn.Sigmoid()(x):totable()
    for i, v in ipairs(x:totable()) do
      assert.near(math.max(v, 0), r[i], 1e-7)
      assert.near(math.tanh(v), t[i], 1e-6)
      assert.near(1 / (1 + math.exp(-v)), s[i], 1e-6)
    end
    assert.same({}, nn.ReLU():parameters())
  end)

  it_with("gelu", "GELU matches PyTorch's values (erf and tanh forms)", function()
    local exact = { -0.04550026389635842, -0.15865525393145702, -0.1146265733433142, 0.0,
                    0.34573123063700656, 0.841344746068543, 2.4844758366855597 }
    local approx = { -0.04540230591222494, -0.15880800939172324, -0.11462907645724074, 0.0,
                     0.34571400982514394, 0.8411919906082768, 2.484915733910001 }
    local e, a = nn.GELU()(x):totable(), nn.GELU{ approximate = "tanh" }(x):totable()
    for i = 1, #exact do
      assert.near(exact[i], e[i], 1e-6)
      assert.near(approx[i], a[i], 1e-6)
    end
    assert.equal('GELU(approximate="tanh")', tostring(nn.GELU("tanh")))
  end)
end)

-- ------------------------------------------------------------ losses

describe("losses", function()
  local input = sy.tensor({ { 0.5, -1.0, 2.0 }, { 3.0, 0.1, -0.4 } })
  local target = sy.tensor({ { 0.0, 1.0, 2.5 }, { 0.5, 0.0, -0.1 } })
  local d = (input - target):totable()

  local function reduce(fn)
    local none, sum = {}, 0
    for i, row in ipairs(d) do
      none[i] = {}
      for j, v in ipairs(row) do none[i][j] = fn(v); sum = sum + none[i][j] end
    end
    return none, sum, sum / 6
  end

  local function check(name, m_of, fn)
    local none, sum, mean = reduce(fn)
    assert.near(mean, m_of({})(input, target):item(), 1e-6)
    assert.near(sum, m_of({ reduction = "sum" })(input, target):item(), 1e-5)
    local got = m_of({ reduction = "none" })(input, target):totable()
    for i = 1, 2 do for j = 1, 3 do assert.near(none[i][j], got[i][j], 1e-6, name) end end
  end

  it_with("mse_loss", "MSELoss", function()
    check("mse", nn.MSELoss, function(v) return v * v end)
    local x = input:clone():requires_grad(true)
    nn.MSELoss()(x, target):backward()
    check_close("grad", x.grad, (input - target) * (2 / 6), 1e-6, 1e-6)
  end)

  it_with("l1_loss", "L1Loss", function()
    check("l1", nn.L1Loss, math.abs)
  end)

  it_with("huber_loss", "HuberLoss", function()
    local delta = 0.75
    check("huber", function(o) o.delta = delta; return nn.HuberLoss(o) end, function(v)
      local a = math.abs(v)
      return a < delta and 0.5 * v * v or delta * (a - 0.5 * delta)
    end)
    check("huber default delta", nn.HuberLoss, function(v)
      local a = math.abs(v)
      return a < 1 and 0.5 * v * v or a - 0.5
    end)
    assert.equal('HuberLoss(reduction="sum", delta=0.75)', tostring(nn.HuberLoss{ "sum", 0.75 }))
  end)
end)
