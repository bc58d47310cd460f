-- sy.nn's module protocol: classes, registration order and dotted names
-- through nesting, containers, train/eval, zero_grad, apply, state_dict
-- round trips through safetensors, load_state_dict's report of every
-- difference, the summary text, error paths, option checks, and layers
-- written in Lua from tensor ops that train without a hand-written backward.
local sy = require("synlua")
local nn = sy.nn
local gradcheck = require("gradcheck")

local function shape(t) return table.concat(t:size(), ",") end

local function names_of(pairs_list)
  local out = {}
  for i, p in ipairs(pairs_list) do out[i] = p[1] end
  return out
end

local function max_abs_diff(a, b) return (a - b):abs():max():item() end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return err
end

-- Layers written in Lua from tensor ops (matmul, tanh, sigmoid): no C layer,
-- no hand-written backward.
local Affine = nn.Module:extend("Affine")
function Affine:__init(d_in, d_out)
  self.d_in, self.d_out = d_in, d_out
  self:register_parameter("weight", sy.randn(d_in, d_out) * (1 / math.sqrt(d_in)))
  self:register_parameter("bias", sy.zeros(d_out))
end
function Affine:forward(x)
  local y = x:matmul(self.weight) + self.bias
  return y
end
function Affine:extra_repr() return ("%d -> %d"):format(self.d_in, self.d_out) end

-- y = x + tanh(x W1 + b1) W2
local Residual = nn.Module:extend("Residual")
function Residual:__init(d, hidden)
  self:add_module("inner", Affine(d, hidden))
  self:register_parameter("w2", sy.randn(hidden, d) * (0.1 / math.sqrt(hidden)))
end
function Residual:forward(x) return x + self.inner(x):tanh():matmul(self.w2) end

-- Swish with a learnable slope: x * sigmoid(beta * x)
local Swish = nn.Module:extend("Swish")
function Swish:__init() self:register_parameter("beta", sy.ones(1)) end
function Swish:forward(x) return x * (x * self.beta):sigmoid() end

describe("nn.Module classes", function()
  it("extend makes a class whose instances run __init and are called through forward", function()
    local Scale = nn.Module:extend("Scale")
    function Scale:__init(k) self.k = k end
    function Scale:forward(x) return x * self.k end
    local m = Scale(3)
    assert.equal(3, m.k)
    assert.same({ 3, 6 }, m(sy.tensor({ 1, 2 })):totable())
    assert.is_true(m.training)
    assert.is_true(nn.is_module(m))
    assert.is_false(nn.is_module(Scale))
    assert.equal("Scale()", tostring(m))
    assert.equal("nn.Scale (module class)", tostring(Scale))
    -- a subclass inherits forward and __init, and can override them
    local Scale2 = Scale:extend("Scale2")
    function Scale2:forward(x) return Scale.forward(self, x) + 1 end
    assert.same({ 7, 13 }, Scale2(6)(sy.tensor({ 1, 2 })):totable())
  end)

  it("a module without forward says so", function()
    local err = error_of(function() local y = nn.Module()(sy.ones(1)); return y end)
    assert.matches("Module has no forward method", err, 1, true)
    assert.matches("class name must be a non-empty string", error_of(nn.Module.extend, nn.Module, ""), 1, true)
  end)
end)

-- pos_embed, an LSTM, a ModuleList of blocks (attention, LayerNorm, a child
-- registered by assignment), a buffer and a head.
local Block = nn.Module:extend("Block")
function Block:__init(d)
  self:add_module("attn", nn.MultiheadAttention{ d, 2 })
  self:add_module("ln1", nn.LayerNorm(d))
  self.ff1 = nn.Linear(d, 2 * d)
end

local Net = nn.Module:extend("Net")
function Net:__init()
  self:register_parameter("pos_embed", sy.zeros(1, 3, 4))
  self:add_module("lstm", nn.LSTM{ 5, 4 })
  self:add_module("blocks", nn.ModuleList{ Block(4), Block(4) })
  self:register_buffer("steps", sy.zeros(1))
  self:add_module("head", nn.Linear(4, 1))
end

describe("parameters and names", function()
  it("lists parameters in registration order with PyTorch's dotted names", function()
    local net = Net()
    local want = { "pos_embed", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0" }
    for i = 0, 1 do
      local p = "blocks." .. i .. "."
      for _, n in ipairs({ "attn.q.weight", "attn.q.bias", "attn.k.weight", "attn.k.bias", "attn.v.weight",
                           "attn.v.bias", "attn.out.weight", "attn.out.bias", "ln1.weight", "ln1.bias",
                           "ff1.weight", "ff1.bias" }) do
        want[#want + 1] = p .. n
      end
    end
    want[#want + 1] = "head.weight"
    want[#want + 1] = "head.bias"
    local params = net:parameters()
    assert.same(want, names_of(params))
    for _, p in ipairs(params) do assert.is_true(p[2]:requires_grad()) end
    local map = net:named_parameters()
    assert.equal(net.blocks[2].attn.q.weight, map["blocks.1.attn.q.weight"])
    assert.equal("16,5", shape(map["lstm.weight_ih_l0"]))
    assert.equal("8,4", shape(map["blocks.0.ff1.weight"]))
    -- buffers are in the state dict, not among the parameters
    assert.same({ "steps" }, names_of(net:buffers()))
    local sd, n = net:state_dict(), 0
    for _ in pairs(sd) do n = n + 1 end
    assert.equal(#want + 1, n)
    assert.equal("1", shape(sd.steps))
    -- pos_embed 12, LSTM 16*5 + 16*4 + 2*16, per block 4*(4*4+4) + 2*4 + (8*4+8), head 4+1
    assert.equal(12 + 176 + 2 * 128 + 5, net:num_parameters())
  end)

  it("names modules depth first, self first, each once", function()
    local net = Net()
    local names = names_of(net:named_modules())
    assert.same({ "", "lstm", "blocks", "blocks.0", "blocks.0.attn", "blocks.0.attn.q", "blocks.0.attn.k",
                  "blocks.0.attn.v", "blocks.0.attn.out", "blocks.0.ln1", "blocks.0.ff1", "blocks.1",
                  "blocks.1.attn", "blocks.1.attn.q", "blocks.1.attn.k", "blocks.1.attn.v",
                  "blocks.1.attn.out", "blocks.1.ln1", "blocks.1.ff1", "head" }, names)
    assert.equal(20, #net:modules())
    assert.same({ "lstm", "blocks", "head" }, names_of(net:named_children()))
  end)

  it("keeps a shared tensor or module once, under its first name", function()
    local shared = nn.Linear(3, 3)
    local m = nn.Sequential(shared, nn.Tanh(), shared)
    assert.same({ "0.weight", "0.bias" }, names_of(m:parameters()))
    assert.equal(12, m:num_parameters())
    local tied = nn.Module()
    tied:add_module("enc", nn.Linear(4, 2, { bias = false }))
    tied:add_module("dec", nn.Linear(2, 4, { bias = false }))
    tied.dec.weight = tied.enc.weight:detach():t():contiguous()
    tied:register_parameter("tie", tied.enc.weight)
    assert.same({ "tie", "dec.weight" }, names_of(tied:parameters()))
  end)

  it("leaves out nil parameters (bias = false) and updates registered names on assignment", function()
    local lin = nn.Linear{ 4, 2, bias = false }
    assert.is_nil(lin.bias)
    assert.same({ "weight" }, names_of(lin:parameters()))
    local w = sy.ones(2, 4)
    lin.weight = w
    assert.equal(w, lin:parameters()[1][2])
    assert.is_true(w:requires_grad())
    lin.bias = sy.zeros(2)
    assert.same({ "weight", "bias" }, names_of(lin:parameters()))
    local m = nn.Module()
    m.fc = nn.Linear(2, 2)          -- a module assigned to a new name becomes a child
    m.note = "plain"                -- anything else stays a plain field
    assert.same({ "fc" }, names_of(m:named_children()))
    assert.equal("plain", rawget(m, "note"))
    m.fc = nil
    assert.same({}, m:parameters())
  end)

  it("rejects bad names and values with clear errors", function()
    local m = nn.Module()
    assert.matches("name \"a.b\" must be non%-empty and contain no '%.'",
                   error_of(m.register_parameter, m, "a.b", sy.zeros(1)))
    assert.matches("parameter 'w' must be a tensor or nil, got string",
                   error_of(m.register_parameter, m, "w", "x"), 1, true)
    m:register_parameter("w", sy.zeros(2))
    assert.matches("'w' is already registered as a parameter of Module",
                   error_of(m.register_buffer, m, "w", sy.zeros(1)), 1, true)
    assert.matches("'training' is already a plain attribute of Module",
                   error_of(m.register_buffer, m, "training", sy.zeros(1)), 1, true)
    assert.matches("'train' is a method of Module", error_of(m.register_parameter, m, "train", sy.zeros(1)), 1, true)
    assert.matches("parameter 'v' must be a leaf tensor",
                   error_of(m.register_parameter, m, "v", m.w * 2), 1, true)
    assert.matches("parameter 'w' must be a tensor or nil, got number",
                   error_of(function() m.w = 3 end), 1, true)
    assert.matches("child 'c' must be a module or nil, got table",
                   error_of(m.add_module, m, "c", {}), 1, true)
  end)
end)

describe("containers", function()
  it("Sequential and ModuleList name children 0, 1, ... and index them 1, 2, ...", function()
    local a, b = nn.Tanh(), nn.ReLU()
    local seq = nn.Sequential{ a, b }
    assert.equal(2, #seq)
    assert.equal(a, seq[1])
    assert.equal(b, seq[2])
    assert.is_nil(seq[3])
    assert.same({ "0", "1" }, names_of(seq:named_children()))
    local y = seq(sy.tensor({ -1, 0, 0.5 })):totable()     -- relu(tanh(x))
    assert.same({ 0, 0 }, { y[1], y[2] })
    assert.near(math.tanh(0.5), y[3], 1e-6)
    local c = nn.Sigmoid()
    seq:append(c)
    assert.equal(c, seq[3])

    local list = nn.ModuleList()
    list:append(nn.Linear(2, 3)):append(nn.Linear(3, 1))
    assert.equal(2, #list)
    local seen = {}
    for i, m in ipairs(list) do seen[i] = m.out_features end
    assert.same({ 3, 1 }, seen)
    assert.same({ "0.weight", "0.bias", "1.weight", "1.bias" }, names_of(list:parameters()))
    assert.matches("element 2 must be a module, got number",
                   error_of(nn.Sequential, nn.Tanh(), 5), 1, true)
    assert.matches("ModuleList has no forward", error_of(function() local y = list(sy.ones(1)); return y end),
                   1, true)
  end)
end)

describe("train, eval, zero_grad, apply, to", function()
  it("train/eval set training on the whole tree", function()
    local net = Net()
    net:eval()
    for _, m in ipairs(net:modules()) do assert.is_false(m.training) end
    net.blocks:train()
    assert.is_false(net.training)
    assert.is_false(net.lstm.training)
    assert.is_true(net.blocks[1].attn.q.training)
    assert.equal(net, net:train())
    for _, m in ipairs(net:modules()) do assert.is_true(m.training) end
    local named, plain = net:named_modules(), net:modules()
    assert.equal(#named, #plain)
    for i, e in ipairs(named) do assert.equal(e[2], plain[i]) end
    assert.matches("mode must be a boolean", error_of(net.train, net, "yes"), 1, true)
  end)

  it("zero_grad drops the gradients, or zeroes them in place", function()
    sy.manual_seed(3)
    local m = nn.Sequential(Affine(3, 2), Swish())
    m(sy.randn(4, 3)):sum():backward()
    for _, p in ipairs(m:parameters()) do assert.is_not_nil(p[2].grad) end
    m:zero_grad(false)
    for _, p in ipairs(m:parameters()) do
      assert.same(p[2]:size(), p[2].grad:size())
      assert.equal(0, p[2].grad:abs():sum():item())
    end
    m:zero_grad()
    for _, p in ipairs(m:parameters()) do assert.is_nil(p[2].grad) end
    -- a child reached twice, a parameter registered unset
    local lin = nn.Linear(2, 2)
    local twice = nn.Sequential(lin, lin)
    lin:register_parameter("extra", nil)
    twice(sy.randn(1, 2)):sum():backward()
    twice:zero_grad(false)
    assert.same({ { 0, 0 }, { 0, 0 } }, lin.weight.grad:totable())
    twice:zero_grad()
    assert.is_nil(lin.weight.grad)
    assert.matches("set_to_none must be a boolean", error_of(m.zero_grad, m, "no"), 1, true)
  end)

  it("apply visits children before their parent, once each", function()
    local inner = nn.Sequential(nn.Tanh(), nn.ReLU())
    local m = nn.Sequential(nn.Linear(2, 2), inner, inner)
    local order = {}
    assert.equal(m, m:apply(function(mod) order[#order + 1] = tostring(mod):match("^%a+") end))
    assert.same({ "Linear", "Tanh", "ReLU", "Sequential", "Sequential" }, order)
    -- a custom initialisation through apply
    m:apply(function(mod) if mod.weight then nn.init.constant_(mod.weight, 0.25) end end)
    assert.same({ { 0.25, 0.25 }, { 0.25, 0.25 } }, m[1].weight:totable())
  end)

  it("to(dtype) converts the float parameters and buffers and keeps requires_grad", function()
    local m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    m[1].bias:requires_grad(false)
    m:double()
    assert.equal("float64", m[1].weight:dtype())
    assert.is_true(m[1].weight:requires_grad())
    assert.is_false(m[1].bias:requires_grad())
    assert.equal("float64", m[2].running_var:dtype())
    assert.equal("int64", m[2].num_batches_tracked:dtype())
    assert.equal("float32", m:float()[2].running_mean:dtype())
  end)
end)

describe("state_dict and load_state_dict", function()
  local function make(seed)
    sy.manual_seed(seed)
    local m = nn.Module()
    m:add_module("lstm", nn.LSTM{ 3, 4 })
    m:add_module("res", Residual(4, 6))
    m:add_module("bn", nn.BatchNorm1d(4))
    m:add_module("head", nn.Linear(4, 1))
    m.forward = function(self, x)
      local out = self.lstm(x)
      return self.res(out:select(2, out:size(2)))
    end
    return m
  end

  it("round-trips through sy.save and sy.load", function()
    local a, b = make(1), make(2)
    sy.no_grad(function()
      a.bn.running_mean:fill_(0.5)
      a.bn.num_batches_tracked:fill_(7)
    end)
    assert.is_true(max_abs_diff(a.lstm.weight_ih_l0, b.lstm.weight_ih_l0) > 0)
    local path = os.tmpname()
    sy.save(path, a:state_dict())
    local loaded = sy.load(path)
    os.remove(path)
    local result = b:load_state_dict(loaded)
    assert.same({ missing = {}, unexpected = {} }, result)
    local sa, sb = a:state_dict(), b:state_dict()
    for name, t in pairs(sa) do
      assert.same(t:totable(), sb[name]:totable())
      assert.equal(t:dtype(), sb[name]:dtype())
    end
    assert.equal(7, b.bn.num_batches_tracked:item())
    assert.is_true(b.lstm.weight_ih_l0:requires_grad())
    local x = sy.randn(2, 5, 3)
    assert.equal(0, max_abs_diff(a(x), b(x)))
  end)

  it("lists every missing, unexpected and mismatched name in one error and copies nothing", function()
    local m = make(1)
    local sd = make(2):state_dict()
    sd["head.bias"] = nil
    sd["res.inner.bias"] = nil
    sd["extra.w"] = sy.zeros(1)
    sd["lstm.weight_ih_l0"] = sy.zeros(16, 7)
    sd["head.weight"] = sy.zeros(2, 4)
    local before = m.lstm.weight_hh_l0:totable()
    local err = error_of(m.load_state_dict, m, sd)
    assert.matches("load_state_dict (Module): missing: head.bias, res.inner.bias; unexpected: extra.w; "
                   .. "shape mismatch: head.weight [1,4] (model) vs [2,4] (state dict), "
                   .. "lstm.weight_ih_l0 [16,3] (model) vs [16,7] (state dict)", err, 1, true)
    assert.same(before, m.lstm.weight_hh_l0:totable())
    -- strict = false: missing and unexpected names are reported, not errors
    sd["lstm.weight_ih_l0"], sd["head.weight"] = nil, nil
    local result = m:load_state_dict(sd, false)
    assert.same({ "head.bias", "head.weight", "lstm.weight_ih_l0", "res.inner.bias" }, result.missing)
    assert.same({ "extra.w" }, result.unexpected)
    assert.same(sd["lstm.weight_hh_l0"]:totable(), m.lstm.weight_hh_l0:totable())
    sd = make(2):state_dict()
    sd["bn.running_var"] = "ones"
    assert.matches("not a tensor: bn.running_var is a string", error_of(m.load_state_dict, m, sd), 1, true)
  end)
end)

describe("summary", function()
  it("prints PyTorch's repr with parameter counts per module and in total", function()
    local m = nn.Sequential(nn.Linear(5, 3), nn.Tanh(), nn.Sequential(Affine(3, 2), nn.Dropout{ p = 0.1 }),
                            nn.Linear{ 2, 1, bias = false })
    assert.equal(table.concat({
      "Sequential(",
      "  (0): Linear(in_features=5, out_features=3, bias=true)  -- 18 parameters",
      "  (1): Tanh()",
      "  (2): Sequential(",
      "    (0): Affine(3 -> 2)  -- 8 parameters",
      "    (1): Dropout(p=0.1)",
      "  )  -- 8 parameters",
      "  (3): Linear(in_features=2, out_features=1, bias=false)  -- 2 parameters",
      ")  -- 28 parameters",
    }, "\n"), tostring(m))
    assert.equal(28, m:num_parameters())
    m[1].weight:requires_grad(false)
    assert.equal(13, m:num_parameters(true))
    assert.matches("\n%-%- trainable: 13 of 28$", tostring(m))
    local big = nn.Linear(1000, 1000)
    assert.equal("Linear(in_features=1000, out_features=1000, bias=true)  -- 1,001,000 parameters", tostring(big))
  end)
end)

describe("errors inside a model", function()
  local Net2 = nn.Module:extend("Net2")
  function Net2:__init()
    self:add_module("body", nn.Sequential(Affine(4, 4), Affine(4, 3)))
    self:add_module("head", Affine(3, 1))
  end
  function Net2:forward(x) return self.head(self.body(x)) end

  it("are prefixed once with the full path of the failing module", function()
    local net = Net2()
    net(sy.randn(2, 4))
    local err = error_of(function() local y = net(sy.randn(2, 7)); return y end)
    assert.matches("^[^\n]*nn_spec%.lua:%d+: In Net2%.body%.0 %(Affine%): [^\n]*matmul", err)
    local _, count = err:gsub("In ", "")
    assert.equal(1, count)
    -- a later failure elsewhere gets its own path
    net.head.weight = sy.randn(5, 1)
    err = error_of(function() local y = net(sy.randn(2, 4)); return y end)
    assert.matches("In Net2.head (Affine): ", err, 1, true)
    -- the fused layers' messages come through without positions inside sy.nn
    local seq = nn.Sequential(nn.Tanh(), nn.LSTM{ 5, 4 })
    err = error_of(function() local y = seq(sy.randn(3, 4, 7)); return y end)
    assert.matches("In Sequential.1 (LSTM): lstm: ", err, 1, true)
    assert.is_nil(err:find("synlua/nn/", 1, true))
  end)

  it("keep a root module's own errors and non-string errors unchanged", function()
    local Boom = nn.Module:extend("Boom")
    function Boom:forward(x) if x == "table" then error({ code = 7 }) end error("boom", 0) end
    assert.equal("boom", error_of(function() local y = Boom()(1); return y end))
    assert.same({ code = 7 }, error_of(function() local y = Boom()("table"); return y end))
    local outer = nn.Sequential(Boom())
    assert.equal("In Sequential.0 (Boom): boom", error_of(outer, 1))
    assert.same({ code = 7 }, error_of(outer, "table"))
    -- a child error caught inside a forward does not leak into later calls
    local Catch = nn.Module:extend("Catch")
    function Catch:__init() self:add_module("b", Boom()) self:add_module("t", nn.Tanh()) end
    function Catch:forward(x)
      assert(not pcall(self.b, x))
      return self.t(x)
    end
    local c = Catch()
    assert.equal(0, c(sy.zeros(1)):item())
    local bad = nn.Sequential(c, Affine(2, 2))
    assert.matches("In Sequential.1 (Affine): ", error_of(bad, sy.zeros(3)), 1, true)
  end)
end)

describe("constructor options", function()
  it("accept positional values, a table, or both, and check them", function()
    assert.equal(5, nn.Linear(5, 3).in_features)
    assert.equal(3, nn.Linear{ 5, 3 }.out_features)
    assert.is_nil(nn.Linear(5, 3, { bias = false }).bias)
    assert.is_nil(nn.Linear{ in_features = 5, out_features = 3, bias = false }.bias)
    assert.equal(4, math.tointeger(nn.Linear(4.0, 2).in_features))
    local cases = {
      { function() return nn.Linear{ 5 } end, "nn.Linear: option 'out_features' is required" },
      { function() return nn.Linear{ 5, 0 } end, "nn.Linear: option 'out_features' must be a positive integer, got 0" },
      { function() return nn.Linear(2.5, 3) end, "option 'in_features' must be a positive integer, got 2.5" },
      { function() return nn.Linear{ 5, 3, bais = true } end,
        "nn.Linear: unknown option 'bais' (expected one of: in_features, out_features, bias)" },
      { function() return nn.Linear(5, 3, { in_features = 5 }) end, "option 'in_features' given both by position and by name" },
      { function() return nn.Linear(5, 3, { 5 }) end, "give positional options either as arguments or in the table" },
      { function() return nn.Linear(5, 3, true, 1) end, "4 positional options given, at most 3 expected" },
      { function() return nn.Linear{ 5, 3, bias = "yes" } end, "option 'bias' must be a boolean, got \"yes\"" },
      { function() return nn.ReLU{ inplace = true } end, "nn.ReLU: unknown option 'inplace' (it takes no options)" },
      { function() return nn.Dropout{ p = 1.5 } end, "nn.Dropout: option 'p' must be a probability in [0, 1], got 1.5" },
      { function() return nn.GELU{ approximate = "fast" } end, "option 'approximate' must be one of \"none\", \"tanh\"" },
      { function() return nn.RNN{ 3, 4, nonlinearity = "relu" } end, "option 'nonlinearity' must be \"tanh\"" },
      { function() return nn.LSTM{ 3, 4, bidirectional = true } end, "bidirectional layers are not supported" },
      { function() return nn.GRU{ 3, -4 } end, "nn.GRU: option 'hidden_size' must be a positive integer, got -4" },
      { function() return nn.MultiheadAttention{ 10, 3 } end, "embed_dim 10 is not divisible by num_heads 3" },
      { function() return nn.LayerNorm{ { 4, 0 } } end, "option 'normalized_shape' must be a positive integer or a list" },
      { function() return nn.BatchNorm1d{ 4, momentum = 2 } end, "option 'momentum' must be a number in [0, 1] or false" },
      { function() return nn.MSELoss{ reduction = "avg" } end, "option 'reduction' must be one of \"mean\", \"sum\", \"none\"" },
      { function() return nn.HuberLoss{ delta = 0 } end, "option 'delta' must be a positive number, got 0" },
      { function() return nn.Embedding{ 10 } end, "nn.Embedding: option 'embedding_dim' is required" },
    }
    for _, c in ipairs(cases) do assert.matches(c[2], error_of(c[1]), 1, true) end
  end)
end)

describe("layers written in Lua from tensor ops", function()
  it("train with a plain SGD loop, without a hand-written backward", function()
    sy.manual_seed(11)
    local X = sy.randn(128, 3)
    local A, B = sy.randn(3, 5), sy.randn(5, 3) * 0.5
    local Y = X + (X:matmul(A)):tanh():matmul(B)             -- a target a residual block can express
    local model = nn.Sequential(Residual(3, 16), Affine(3, 3))
    local function loss_of() return ((model(X) - Y) ^ 2):mean() end
    local first = loss_of():item()
    local lr, last = 0.2, nil
    for _ = 1, 400 do
      model:zero_grad()
      local loss = loss_of()
      loss:backward()
      last = loss:item()
      sy.no_grad(function()
        for _, p in ipairs(model:parameters()) do p[2]:sub_(p[2].grad * lr) end
      end)
    end
    -- measured: 5.382 -> 0.0079
    assert.is_true(first > 5, "initial loss " .. first)
    assert.is_true(last < 0.01, ("loss %.4f -> %.4f"):format(first, last))
  end)

  it("get gradients that match finite differences (float64)", function()
    sy.manual_seed(5)
    local model = nn.Sequential(Residual(3, 4), Swish()):double()
    sy.no_grad(function() model[2].beta:fill_(0.7) end)
    local x = sy.randn(2, 3, "float64"):requires_grad(true)
    local inputs = { x }
    for _, p in ipairs(model:parameters()) do inputs[#inputs + 1] = p[2] end
    gradcheck(function(input) return model(input) end, inputs)
  end)
end)

describe("nn.init", function()
  it("follows PyTorch's formulas", function()
    local w = sy.empty(30, 20, 2)
    assert.same({ 40, 60 }, { nn.init.calculate_fan_in_and_fan_out(w) })
    assert.near(5 / 3, nn.init.calculate_gain("tanh"), 1e-15)
    assert.near(math.sqrt(2 / (1 + 5)), nn.init.calculate_gain("leaky_relu", math.sqrt(5)), 1e-15)
    sy.manual_seed(1)
    nn.init.kaiming_uniform_(w, math.sqrt(5))
    local bound = 1 / math.sqrt(40)
    assert.is_true(w:abs():max():item() <= bound)
    assert.is_true(w:abs():max():item() > 0.95 * bound)
    nn.init.xavier_uniform_(w)
    assert.is_true(w:abs():max():item() <= math.sqrt(6 / 100))
    assert.is_true(w:abs():max():item() > 0.95 * math.sqrt(6 / 100))
    local n = nn.init.kaiming_normal_(sy.empty(2000, 50), 0, "fan_in", "relu")
    assert.near(math.sqrt(2 / 50), n:std():item(), 0.01 * math.sqrt(2 / 50))
    assert.same({ 1, 1 }, nn.init.ones_(sy.zeros(2)):totable())
    local p = sy.zeros(3):requires_grad(true)
    nn.init.constant_(p, 2)                   -- in place on a parameter: outside autograd
    assert.same({ 2, 2, 2 }, p:totable())
    assert.matches("at least 2 dims", error_of(nn.init.xavier_uniform_, sy.zeros(3)), 1, true)
    assert.matches("mode must be 'fan_in' or 'fan_out'", error_of(nn.init.kaiming_uniform_, w, 0, "fan"), 1, true)
  end)
end)

describe("nn.functional", function()
  it("exposes the functional ops under PyTorch's names", function()
    local F = nn.functional
    assert.equal(sy.relu, F.relu)
    assert.equal(sy.tanh, F.tanh)
    assert.is_nil(F.no_such_op)
    assert.matches("normalized_shape must be the size of the last dim %(4%)",
                   error_of(F.layer_norm, sy.zeros(2, 4), { 3 }))
  end)
end)
