-- sy.nn's feed-forward layers: Linear, LayerNorm, BatchNorm1d, Dropout,
-- Embedding and the activations. Parameter names, shapes and default
-- initialisations are PyTorch's, so a PyTorch state dict loads unchanged;
-- forward calls the fused functional op of the C core (sy.linear, ...).
local sy = require("synlua.core")
local base = require("synlua.nn.module")
local init = require("synlua.nn.init_weights")

local Module, options = base.Module, base.options
local M = {}

local function fmt(v)
  if type(v) == "number" then return ("%g"):format(v) end
  return tostring(v)
end

-- ---------------------------------------------------------------- Linear

--- nn.Linear{in_features, out_features, bias = true}, also nn.Linear(in, out):
-- y = x W^T + b with weight [out, in] and bias [out], both U(-1/sqrt(in), 1/sqrt(in)).
local Linear = Module:extend("Linear")
M.Linear = Linear

function Linear:__init(...)
  local o = options("nn.Linear", {
    { "in_features", "posint" }, { "out_features", "posint" }, { "bias", "boolean", true },
  }, ...)
  self.in_features, self.out_features = o.in_features, o.out_features
  self:register_parameter("weight", sy.empty(o.out_features, o.in_features))
  self:register_parameter("bias", o.bias and sy.empty(o.out_features) or nil)
  self:reset_parameters()
end

function Linear:reset_parameters()
  init.kaiming_uniform_(self.weight, math.sqrt(5))
  if self.bias then
    local bound = 1 / math.sqrt(self.in_features)
    init.uniform_(self.bias, -bound, bound)
  end
end

function Linear:forward(x) return sy.linear(x, self.weight, self.bias) end

function Linear:extra_repr()
  return ("in_features=%d, out_features=%d, bias=%s")
    :format(self.in_features, self.out_features, tostring(self.bias ~= nil))
end

-- ------------------------------------------------------------- LayerNorm

--- nn.LayerNorm{normalized_shape, eps = 1e-5, elementwise_affine = true}:
-- normalises over the trailing dims given by normalized_shape (a size or a
-- list of sizes: nn.LayerNorm{{4, 5}}); weight ones, bias zeros.
local LayerNorm = Module:extend("LayerNorm")
M.LayerNorm = LayerNorm

function LayerNorm:__init(...)
  local o = options("nn.LayerNorm", {
    { "normalized_shape", "shape" }, { "eps", "posnumber", 1e-5 },
    { "elementwise_affine", "boolean", true },
  }, ...)
  self.normalized_shape, self.eps, self.elementwise_affine =
    o.normalized_shape, o.eps, o.elementwise_affine
  if o.elementwise_affine then
    self:register_parameter("weight", sy.ones(o.normalized_shape))
    self:register_parameter("bias", sy.zeros(o.normalized_shape))
  end
end

function LayerNorm:forward(x)
  local shape = self.normalized_shape
  if #shape == 1 then return sy.layer_norm(x, self.weight, self.bias, self.eps) end
  -- Several normalised dims: flatten them into one for the fused op.
  local size, k, n = x:size(), #shape, 1
  local ok = #size >= k
  for i = 1, k do
    ok = ok and size[#size - k + i] == shape[i]
    n = n * shape[i]
  end
  if not ok then
    error(("nn.LayerNorm: input of shape [%s] does not end in normalized_shape [%s]")
      :format(table.concat(size, ","), table.concat(shape, ",")), 0)
  end
  local flat = {}
  for i = 1, #size - k do flat[i] = size[i] end
  flat[#flat + 1] = n
  local w = self.weight and self.weight:reshape(n)
  local b = self.bias and self.bias:reshape(n)
  return sy.layer_norm(x:reshape(flat), w, b, self.eps):reshape(size)
end

function LayerNorm:extra_repr()
  return ("{%s}, eps=%s, elementwise_affine=%s")
    :format(table.concat(self.normalized_shape, ", "), fmt(self.eps), tostring(self.elementwise_affine))
end

-- ----------------------------------------------------------- BatchNorm1d

local function momentum_option(v)
  if v == false or (type(v) == "number" and v >= 0 and v <= 1) then return v end
  return nil, "a number in [0, 1] or false (cumulative average)"
end

--- nn.BatchNorm1d{num_features, eps = 1e-5, momentum = 0.1, affine = true,
-- track_running_stats = true}: input [N, C] or [N, C, L]. Buffers
-- running_mean (zeros), running_var (ones) and num_batches_tracked (int64),
-- as in PyTorch; momentum = false uses the cumulative average (PyTorch's
-- momentum=None).
local BatchNorm1d = Module:extend("BatchNorm1d")
M.BatchNorm1d = BatchNorm1d

function BatchNorm1d:__init(...)
  local o = options("nn.BatchNorm1d", {
    { "num_features", "posint" }, { "eps", "posnumber", 1e-5 }, { "momentum", momentum_option, 0.1 },
    { "affine", "boolean", true }, { "track_running_stats", "boolean", true },
  }, ...)
  self.num_features, self.eps, self.momentum = o.num_features, o.eps, o.momentum
  self.affine, self.track_running_stats = o.affine, o.track_running_stats
  local c = o.num_features
  if o.affine then
    self:register_parameter("weight", sy.ones(c))
    self:register_parameter("bias", sy.zeros(c))
  end
  if o.track_running_stats then
    self:register_buffer("running_mean", sy.zeros(c))
    self:register_buffer("running_var", sy.ones(c))
    self:register_buffer("num_batches_tracked", sy.zeros({}, "int64"))
  end
end

function BatchNorm1d:forward(x)
  local size = x:size()
  if (#size ~= 2 and #size ~= 3) or size[2] ~= self.num_features then
    error(("nn.BatchNorm1d: expected input [N, %d] or [N, %d, L], got shape [%s]")
      :format(self.num_features, self.num_features, table.concat(size, ",")), 0)
  end
  local factor = self.momentum or 0
  if self.training and self.track_running_stats then
    sy.no_grad(function() self.num_batches_tracked:add_(1) end)
    if self.momentum == false then factor = 1 / self.num_batches_tracked:item() end
  end
  -- Batch statistics while training, and always when no running stats are
  -- kept; the running stats are updated only while training.
  local use_batch = self.training or not self.track_running_stats
  return sy.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                       use_batch, factor, self.eps)
end

function BatchNorm1d:extra_repr()
  return ("%d, eps=%s, momentum=%s, affine=%s, track_running_stats=%s")
    :format(self.num_features, fmt(self.eps), fmt(self.momentum), tostring(self.affine),
            tostring(self.track_running_stats))
end

-- --------------------------------------------------------------- Dropout

--- nn.Dropout{p = 0.5, mc = false}: inverted dropout while training. With
-- mc = true (or m.mc = true later) it stays active in eval mode: Monte Carlo
-- dropout.
local Dropout = Module:extend("Dropout")
M.Dropout = Dropout

function Dropout:__init(...)
  local o = options("nn.Dropout", { { "p", "prob", 0.5 }, { "mc", "boolean", false } }, ...)
  self.p, self.mc = o.p, o.mc
end

function Dropout:forward(x) return sy.dropout(x, self.p, self.training or self.mc == true) end

function Dropout:extra_repr()
  return ("p=%s%s"):format(fmt(self.p), self.mc and ", mc=true" or "")
end

-- ------------------------------------------------------------- Embedding

--- nn.Embedding{num_embeddings, embedding_dim}: weight [num, dim] ~ N(0, 1);
-- forward takes int64 ids counted from 1.
local Embedding = Module:extend("Embedding")
M.Embedding = Embedding

function Embedding:__init(...)
  local o = options("nn.Embedding", { { "num_embeddings", "posint" }, { "embedding_dim", "posint" } }, ...)
  self.num_embeddings, self.embedding_dim = o.num_embeddings, o.embedding_dim
  self:register_parameter("weight", sy.empty(o.num_embeddings, o.embedding_dim))
  init.normal_(self.weight)
end

function Embedding:forward(idx) return sy.embedding(idx, self.weight) end

function Embedding:extra_repr() return ("%d, %d"):format(self.num_embeddings, self.embedding_dim) end

-- ----------------------------------------------------------- activations

local function activation(name, fn)
  local cls = Module:extend(name)
  function cls:__init(...)
    options("nn." .. name, {}, ...)
  end
  cls.forward = function(_, x) return fn(x) end
  M[name] = cls
end

activation("ReLU", function(x) return sy.relu(x) end)
activation("Tanh", function(x) return sy.tanh(x) end)
activation("Sigmoid", function(x) return sy.sigmoid(x) end)

--- nn.GELU{approximate = "none"}: "none" (erf) or "tanh".
local GELU = Module:extend("GELU")
M.GELU = GELU

function GELU:__init(...)
  self.approximate = options("nn.GELU", { { "approximate", { "none", "tanh" }, "none" } }, ...).approximate
end

function GELU:forward(x) return sy.gelu(x, self.approximate) end
function GELU:extra_repr() return ("approximate=%q"):format(self.approximate) end

return M
