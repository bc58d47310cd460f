-- The paper's "PatchTST" (REFERENCE.md §3): a simplified patch transformer,
-- not the original model of Nie et al. (that one is sy.models.PatchTST).
--
--   window [B, L, D] -> non-overlapping patches of P steps (the end
--   replicate-padded to a multiple of P), each the P x D block flattened
--   time-major -> patch_embed = Linear(P*D, d_model) -> + pos_embed
--   -> `layers` post-norm blocks -> Dropout -> norm -> mean over patches
--   -> head = Linear(d_model, 1) -> [B, 1]
--
-- A block is x = ln1(x + drop(attn(x))); x = ln2(x + drop(ff2(drop(relu(ff1(x)))))),
-- with dropout on the attention probabilities too. Parameter names and
-- shapes are those of DESIGN.md §1.3 (patch_embed.weight, pos_embed,
-- blocks.<i>.attn.q.weight, ..., norm.bias, head.weight).
local sy = require("synlua.core")
local nn = require("synlua.nn")
local options = require("synlua.nn.module").options
local common = require("synlua.models.common")

local M = {}

--- paper_patch_len(L) -> P: the reference code's rule, 1, 1, 1, 2, 3, 4 for
-- L = 1, 3, 7, 14, 30, 60 (L <= 7 -> 1, <= 14 -> 2, <= 30 -> 3, else 4),
-- capped at L.
local function patch_len(L)
  local P
  if L <= 7 then P = 1 elseif L <= 14 then P = 2 elseif L <= 30 then P = 3 else P = 4 end
  return math.min(P, L)
end

local Block = nn.Module:extend("PaperPatchTSTBlock")

function Block:__init(d_model, heads, d_ff, p)
  self:add_module("attn", nn.MultiheadAttention({ embed_dim = d_model, num_heads = heads, dropout = p }))
  self:add_module("ln1", nn.LayerNorm(d_model))
  self:add_module("ff1", nn.Linear(d_model, d_ff))
  self:add_module("ff2", nn.Linear(d_ff, d_model))
  self:add_module("ln2", nn.LayerNorm(d_model))
  -- One Dropout serves the three sites: it holds no state, and setting
  -- drop.mc (MC dropout) then covers all of them.
  self:add_module("drop", nn.Dropout(p))
end

function Block:forward(x)
  local a = self.attn(x, nil, nil, { need_weights = false })
  x = self.ln1(x + self.drop(a))
  local f = self.ff2(self.drop(sy.relu(self.ff1(x))))
  return self.ln2(x + self.drop(f))
end

local PaperPatchTST = nn.Module:extend("PaperPatchTST")
M.PaperPatchTST = PaperPatchTST
M.paper_patch_len = patch_len

--- sy.models.PaperPatchTST{input_dim, seq_len, d_model = 64, heads = 4,
-- layers = 2, d_ff = 256, dropout = 0}
function PaperPatchTST:__init(...)
  local o = options("sy.models.PaperPatchTST", {
    { "input_dim", "posint" }, { "seq_len", "posint" }, { "d_model", "posint", 64 },
    { "heads", "posint", 4 }, { "layers", "posint", 2 }, { "d_ff", "posint", 256 },
    { "dropout", "prob", 0 },
  }, ...)
  local P = patch_len(o.seq_len)
  self.input_dim, self.seq_len, self.d_model = o.input_dim, o.seq_len, o.d_model
  self.patch_size = P
  self.n_patches = (o.seq_len + P - 1) // P
  self:add_module("patch_embed", nn.Linear(P * o.input_dim, o.d_model))
  -- Standard normal, as the reference code's torch.randn.
  self:register_parameter("pos_embed", sy.randn(1, self.n_patches, o.d_model))
  local blocks = nn.ModuleList()
  for _ = 1, o.layers do blocks:append(Block(o.d_model, o.heads, o.d_ff, o.dropout)) end
  self:add_module("blocks", blocks)
  self:add_module("drop", nn.Dropout(o.dropout))
  self:add_module("norm", nn.LayerNorm(o.d_model))
  self:add_module("head", nn.Linear(o.d_model, 1))
end

--- patches(x [B, L, D]) -> [B, n_patches, P*D]: the end replicate-padded to
-- a whole number of patches, each patch flattened time-major (t0 f0..fD-1, t1 ...).
function PaperPatchTST:patches(x)
  local B, L, D = common.check_input("PaperPatchTST", x, self.input_dim, self.seq_len)
  local P, n = self.patch_size, self.n_patches
  local pad = n * P - L
  if pad > 0 then x = sy.cat({ x, x:narrow(2, L, 1):expand(B, pad, D) }, 2) end
  return x:reshape(B, n, P * D)
end

--- forward(x [B, seq_len, input_dim]) -> [B, 1]
function PaperPatchTST:forward(x)
  local z = self.patch_embed(self:patches(x)) + self.pos_embed
  for _, block in ipairs(self.blocks) do z = block(z) end
  z = self.norm(self.drop(z))
  return self.head(z:mean(2))
end

function PaperPatchTST:extra_repr()
  return ("input_dim=%d, seq_len=%d, patch_len=%d, n_patches=%d")
    :format(self.input_dim, self.seq_len, self.patch_size, self.n_patches)
end

return M
