-- The original PatchTST (Nie et al., ICLR 2023; REFERENCE.md §8), the
-- supervised model of the authors' code without series decomposition:
--
--   x [B, L, C] -> RevIN (per window and channel: subtract the mean, divide
--   by the std; optional affine) -> each channel a separate univariate series
--   through the same weights -> end padding (the last value repeated `stride`
--   times) -> overlapping patches (patch_len, stride) -> W_P = Linear(patch_len,
--   d_model) -> + W_pos (learnable, U(-0.02, 0.02)) -> dropout -> `layers`
--   post-norm encoder layers (BatchNorm or LayerNorm, GELU feed-forward,
--   residual attention: each layer adds the previous layer's pre-softmax
--   scores to its own) -> flatten head Linear(d_model * n_patches, horizon)
--   -> RevIN undone -> [B, horizon, C]
--
-- Modules and parameter names follow the authors' PatchTST_backbone
-- (backbone.W_P.weight, backbone.W_pos,
-- backbone.encoder.layers.<i>.self_attn.W_Q.weight, ...sdp_attn.scale,
-- ...norm_attn.1.running_mean, ...ff.0.weight, head.linear.weight,
-- revin_layer.affine_weight), so its weights load here;
-- PatchTST.convert_official_state_dict drops the "model." prefix its
-- top-level Model adds.
--
-- Defaults (option: default, source):
--   layers 3, heads 16, d_model 128, d_ff 256: the paper's default model (§A.1.4)
--   dropout 0.2: the authors' scripts for the larger datasets (ETTm, weather,
--     electricity, traffic); attn_dropout 0, head_dropout 0: their code's defaults
--   patch_len 16, stride 8, padding "end", revin true: the paper and scripts
--   affine false, subtract_last false: the authors' run_longExp.py defaults
--   norm "batch", res_attention true: PatchTST_backbone's defaults
--   seq_len 336: the look-back of PatchTST/42 and of the authors' scripts;
--   horizon 96: the shortest of the paper's horizons (96, 192, 336, 720)
-- PatchTST.presets.etth1 holds the authors' ETTh1 script settings (the
-- reduced model the paper uses for small datasets: heads 4, d_model 16,
-- d_ff 128, dropout 0.3; their fc_dropout only feeds the pretraining head,
-- which is not here). Not implemented: the per-channel ("individual") head,
-- pre-norm layers and series decomposition.
local sy = require("synlua.core")
local nn = require("synlua.nn")
local options = require("synlua.nn.module").options
local common = require("synlua.models.common")

local M = {}

-- ------------------------------------------------------------------ RevIN

--- RevIN{num_features, eps = 1e-5, affine = true, subtract_last = false}:
-- forward(x [B, L, C], "norm") normalises each window and channel over time
-- and keeps the statistics (detached, as in the authors' code);
-- forward(y [B, H, C], "denorm") undoes it with them.
local RevIN = nn.Module:extend("RevIN")
M.RevIN = RevIN

function RevIN:__init(...)
  local o = options("sy.models.RevIN", {
    { "num_features", "posint" }, { "eps", "posnumber", 1e-5 }, { "affine", "boolean", true },
    { "subtract_last", "boolean", false },
  }, ...)
  self.num_features, self.eps = o.num_features, o.eps
  self.affine, self.subtract_last = o.affine, o.subtract_last
  if o.affine then
    self:register_parameter("affine_weight", sy.ones(o.num_features))
    self:register_parameter("affine_bias", sy.zeros(o.num_features))
  end
end

function RevIN:forward(x, mode)
  if mode == "norm" then
    local L = x:size(2)
    self._center = (self.subtract_last and x:narrow(2, L, 1) or x:mean(2, true)):detach()
    self._stdev = (x:var(2, true, false) + self.eps):sqrt():detach()
    x = (x - self._center) / self._stdev
    if self.affine then x = x * self.affine_weight + self.affine_bias end
    return x
  elseif mode == "denorm" then
    if self._stdev == nil then
      error("RevIN: \"denorm\" before any \"norm\": there are no statistics to undo", 0)
    end
    if self.affine then x = (x - self.affine_bias) / (self.affine_weight + self.eps * self.eps) end
    return x * self._stdev + self._center
  end
  error(("RevIN: mode must be \"norm\" or \"denorm\", got %s"):format(tostring(mode)), 0)
end

function RevIN:extra_repr()
  return ("%d, eps=%g, affine=%s, subtract_last=%s")
    :format(self.num_features, self.eps, tostring(self.affine), tostring(self.subtract_last))
end

-- ---------------------------------------------------------- the encoder

-- Swaps two dims; wraps BatchNorm1d (which normalises dim 2) over
-- [series, patches, d_model] tokens, as the authors' Transpose module does.
local Transpose = nn.Module:extend("Transpose")

function Transpose:__init(a, b) self.a, self.b = a, b end
function Transpose:forward(x) return x:transpose(self.a, self.b) end
function Transpose:extra_repr() return ("%d, %d"):format(self.a, self.b) end

-- Scaled dot-product attention that also returns the pre-softmax scores,
-- and adds those of the previous layer when given (residual attention).
local ScaledDotProductAttention = nn.Module:extend("ScaledDotProductAttention")

function ScaledDotProductAttention:__init(head_dim, attn_dropout)
  self:add_module("attn_dropout", nn.Dropout(attn_dropout))
  -- A fixed (not trained) parameter in the authors' code; a buffer here.
  self:register_buffer("scale", sy.tensor(head_dim ^ -0.5))
end

function ScaledDotProductAttention:forward(q, k, v, prev)
  local scores = q:matmul(k:transpose(3, 4)) * self.scale
  if prev then scores = scores + prev end
  local weights = self.attn_dropout(sy.softmax(scores, 4))
  return weights:matmul(v), scores
end

local Attention = nn.Module:extend("PatchTSTAttention")

function Attention:__init(d_model, heads, attn_dropout, proj_dropout)
  self.n_heads, self.d_k = heads, d_model // heads
  self:add_module("W_Q", nn.Linear(d_model, d_model))
  self:add_module("W_K", nn.Linear(d_model, d_model))
  self:add_module("W_V", nn.Linear(d_model, d_model))
  self:add_module("sdp_attn", ScaledDotProductAttention(self.d_k, attn_dropout))
  self:add_module("to_out", nn.Sequential(nn.Linear(d_model, d_model), nn.Dropout(proj_dropout)))
end

-- x [N, n, d_model] -> out [N, n, d_model], scores [N, heads, n, n]
function Attention:forward(x, prev)
  local N, n, H, dk = x:size(1), x:size(2), self.n_heads, self.d_k
  local function heads(t) return t:reshape(N, n, H, dk):transpose(2, 3) end
  local out, scores = self.sdp_attn(heads(self.W_Q(x)), heads(self.W_K(x)), heads(self.W_V(x)), prev)
  return self.to_out(out:transpose(2, 3):reshape(N, n, H * dk)), scores
end

local EncoderLayer = nn.Module:extend("TSTEncoderLayer")

local function norm_layer(kind, d_model)
  if kind == "batch" then
    return nn.Sequential(Transpose(2, 3), nn.BatchNorm1d(d_model), Transpose(2, 3))
  end
  return nn.LayerNorm(d_model)
end

function EncoderLayer:__init(o)
  self:add_module("self_attn", Attention(o.d_model, o.heads, o.attn_dropout, o.dropout))
  self:add_module("dropout_attn", nn.Dropout(o.dropout))
  self:add_module("norm_attn", norm_layer(o.norm, o.d_model))
  self:add_module("ff", nn.Sequential(nn.Linear(o.d_model, o.d_ff), nn.GELU(), nn.Dropout(o.dropout),
                                      nn.Linear(o.d_ff, o.d_model)))
  self:add_module("dropout_ffn", nn.Dropout(o.dropout))
  self:add_module("norm_ffn", norm_layer(o.norm, o.d_model))
end

function EncoderLayer:forward(src, prev)
  local src2, scores = self.self_attn(src, prev)
  src = self.norm_attn(src + self.dropout_attn(src2))
  src = self.norm_ffn(src + self.dropout_ffn(self.ff(src)))
  return src, scores
end

local Encoder = nn.Module:extend("TSTEncoder")

function Encoder:__init(o)
  self.res_attention = o.res_attention
  local layers = nn.ModuleList()
  for _ = 1, o.layers do layers:append(EncoderLayer(o)) end
  self:add_module("layers", layers)
end

function Encoder:forward(x)
  local scores
  for _, layer in ipairs(self.layers) do
    x, scores = layer(x, self.res_attention and scores or nil)
  end
  return x
end

-- Channel-independent patch encoder: [B, C, n, patch_len] -> [B, C, d_model, n].
local TSTiEncoder = nn.Module:extend("TSTiEncoder")

function TSTiEncoder:__init(o, n_patches)
  self:add_module("W_P", nn.Linear(o.patch_len, o.d_model))
  self:register_parameter("W_pos", sy.empty(n_patches, o.d_model))
  nn.init.uniform_(self.W_pos, -0.02, 0.02)
  self:add_module("dropout", nn.Dropout(o.dropout))
  self:add_module("encoder", Encoder(o))
end

function TSTiEncoder:forward(x)
  local B, C, n = x:size(1), x:size(2), x:size(3)
  local u = self.W_P(x):reshape(B * C, n, -1)
  local z = self.encoder(self.dropout(u + self.W_pos))
  return z:reshape(B, C, n, -1):transpose(3, 4)
end

local FlattenHead = nn.Module:extend("FlattenHead")

function FlattenHead:__init(nf, horizon, head_dropout)
  self:add_module("linear", nn.Linear(nf, horizon))
  self:add_module("dropout", nn.Dropout(head_dropout))
end

-- [B, C, d_model, n] -> [B, C, horizon]; features d_model-major, as nn.Flatten(-2).
function FlattenHead:forward(x)
  return self.dropout(self.linear(x:reshape(x:size(1), x:size(2), -1)))
end

-- --------------------------------------------------------------- PatchTST

local PatchTST = nn.Module:extend("PatchTST")
M.PatchTST = PatchTST

PatchTST.presets = {
  -- The authors' scripts/PatchTST/etth1.sh (input_dim 7 for ETTh1; horizon 96, 192, 336 or 720).
  etth1 = { seq_len = 336, layers = 3, heads = 4, d_model = 16, d_ff = 128, dropout = 0.3,
            head_dropout = 0, patch_len = 16, stride = 8, revin = true, affine = false },
}

--- sy.models.PatchTST{input_dim, seq_len = 336, horizon = 96, patch_len = 16,
-- stride = 8, padding = "end" | "none", d_model = 128, heads = 16, layers = 3,
-- d_ff = 256, dropout = 0.2, attn_dropout = 0, head_dropout = 0,
-- norm = "batch" | "layer", res_attention = true, revin = true, affine = false,
-- subtract_last = false}. input_dim is the number of channels C.
function PatchTST:__init(...)
  local o = options("sy.models.PatchTST", {
    { "input_dim", "posint" }, { "seq_len", "posint", 336 }, { "horizon", "posint", 96 },
    { "patch_len", "posint", 16 }, { "stride", "posint", 8 }, { "padding", { "end", "none" }, "end" },
    { "d_model", "posint", 128 }, { "heads", "posint", 16 }, { "layers", "posint", 3 },
    { "d_ff", "posint", 256 }, { "dropout", "prob", 0.2 }, { "attn_dropout", "prob", 0 },
    { "head_dropout", "prob", 0 }, { "norm", { "batch", "layer" }, "batch" },
    { "res_attention", "boolean", true }, { "revin", "boolean", true },
    { "affine", "boolean", false }, { "subtract_last", "boolean", false },
  }, ...)
  if o.d_model % o.heads ~= 0 then
    error(("sy.models.PatchTST: d_model %d is not divisible by heads %d"):format(o.d_model, o.heads), 0)
  end
  local padded = o.seq_len + (o.padding == "end" and o.stride or 0)
  if padded < o.patch_len then
    error(("sy.models.PatchTST: seq_len %d%s is shorter than patch_len %d")
      :format(o.seq_len, o.padding == "end" and (" (%d with end padding)"):format(padded) or "",
              o.patch_len), 0)
  end
  local n = (padded - o.patch_len) // o.stride + 1
  self.input_dim, self.seq_len, self.horizon = o.input_dim, o.seq_len, o.horizon
  self.patch_len, self.stride, self.padding, self.n_patches = o.patch_len, o.stride, o.padding, n
  -- Positions of the n overlapping patches in the padded series, 1-based,
  -- patch after patch: one index_select does what torch's unfold does.
  local index = {}
  for p = 0, n - 1 do
    for j = 1, o.patch_len do index[#index + 1] = p * o.stride + j end
  end
  self._patch_index = sy.tensor(index, "int64")
  if o.revin then
    self:add_module("revin_layer", RevIN({ num_features = o.input_dim, affine = o.affine,
                                           subtract_last = o.subtract_last }))
  end
  self:add_module("backbone", TSTiEncoder(o, n))
  self:add_module("head", FlattenHead(o.d_model * n, o.horizon, o.head_dropout))
end

--- forward(x [B, seq_len, input_dim]) -> [B, horizon, input_dim]
function PatchTST:forward(x)
  local B, L, C = common.check_input("PatchTST", x, self.input_dim, self.seq_len, "channels")
  if self.revin_layer then x = self.revin_layer(x, "norm") end
  local z = x:transpose(2, 3)                                   -- [B, C, L]
  if self.padding == "end" then z = sy.cat({ z, z:narrow(3, L, 1):expand(B, C, self.stride) }, 3) end
  z = z:index_select(3, self._patch_index):reshape(B, C, self.n_patches, self.patch_len)
  z = self.head(self.backbone(z)):transpose(2, 3)               -- [B, horizon, C]
  if self.revin_layer then z = self.revin_layer(z, "denorm") end
  return z
end

function PatchTST:extra_repr()
  return ("input_dim=%d, seq_len=%d, horizon=%d, patch_len=%d, stride=%d, n_patches=%d")
    :format(self.input_dim, self.seq_len, self.horizon, self.patch_len, self.stride, self.n_patches)
end

--- PatchTST.convert_official_state_dict(sd) -> a new state dict without the
-- "model." prefix that the authors' top-level Model puts before the
-- PatchTST_backbone names.
function PatchTST.convert_official_state_dict(sd)
  if type(sd) ~= "table" then
    error(("PatchTST.convert_official_state_dict: expected a table, got %s"):format(type(sd)), 2)
  end
  local out = {}
  for name, t in pairs(sd) do
    out[type(name) == "string" and name:gsub("^model%.", "") or name] = t
  end
  return out
end

return M
