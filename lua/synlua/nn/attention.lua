-- sy.nn.MultiheadAttention with separate q, k, v and out projections, each a
-- Linear(embed_dim, embed_dim), named as in the paper's models
-- (attn.q.weight, ..., attn.out.bias; DESIGN.md §1.3) and initialised as
-- nn.Linear. PyTorch's own nn.MultiheadAttention packs q, k and v into
-- in_proj_weight [3E, E] / in_proj_bias [3E] and names the output projection
-- out_proj; MultiheadAttention.convert_torch_state_dict turns such a state
-- dict into this layout.
--
-- Self-attention (key and value the query itself) runs the three input
-- projections as one linear layer over the weights stacked [3E, E] and then
-- sy.packed_attention, which reads the heads in place and writes them merged:
-- one GEMM instead of three each way, and no copies to split or merge heads.
local sy = require("synlua.core")
local base = require("synlua.nn.module")
local layers = require("synlua.nn.layers")

local Module, options = base.Module, base.options
local Linear = layers.Linear
local M = {}

local function shape_str(t) return "[" .. table.concat(t:size(), ",") .. "]" end

local MultiheadAttention = Module:extend("MultiheadAttention")
M.MultiheadAttention = MultiheadAttention

--- nn.MultiheadAttention{embed_dim, num_heads, dropout = 0, bias = true,
-- batch_first = true}: dropout applies to the attention probabilities while
-- training.
function MultiheadAttention:__init(...)
  local o = options("nn.MultiheadAttention", {
    { "embed_dim", "posint" }, { "num_heads", "posint" }, { "dropout", "prob", 0 },
    { "bias", "boolean", true }, { "batch_first", "boolean", true },
  }, ...)
  if o.embed_dim % o.num_heads ~= 0 then
    error(("nn.MultiheadAttention: embed_dim %d is not divisible by num_heads %d")
      :format(o.embed_dim, o.num_heads), 0)
  end
  self.embed_dim, self.num_heads, self.dropout = o.embed_dim, o.num_heads, o.dropout
  self.head_dim, self.batch_first = o.embed_dim // o.num_heads, o.batch_first
  for _, name in ipairs({ "q", "k", "v", "out" }) do
    self:add_module(name, Linear(o.embed_dim, o.embed_dim, { bias = o.bias }))
  end
end

local function is_bool(mask) return mask:dtype() == "bool" or mask:dtype() == "uint8" end

-- A mask as an additive float tensor (true -> -inf) in dtype `dt`.
local function additive(mask, dt)
  if is_bool(mask) then return sy.where(mask:bool(), -math.huge, 0.0):to(dt) end
  return mask
end

-- Merges key_padding_mask [B, Lk] and attn_mask [Lq, Lk] or [B*H, Lq, Lk]
-- into one mask broadcastable to [B, H, Lq, Lk]: bool (true = masked out)
-- when both are bool, else float (added to the scores).
function MultiheadAttention:_mask(kpm, am, B, Lq, Lk, dt)
  local who, H = "nn.MultiheadAttention", self.num_heads
  if kpm ~= nil then
    local s = kpm:size()
    if #s ~= 2 or s[1] ~= B or s[2] ~= Lk then
      error(("%s: key_padding_mask must have shape [%d,%d] ([batch, key length]), got %s")
        :format(who, B, Lk, shape_str(kpm)), 0)
    end
    kpm = kpm:reshape(B, 1, 1, Lk)
  end
  if am ~= nil then
    local s = am:size()
    if #s == 3 and s[1] == B * H and s[2] == Lq and s[3] == Lk then
      am = am:reshape(B, H, Lq, Lk)
    elseif not (#s == 2 and s[1] == Lq and s[2] == Lk) then
      error(("%s: attn_mask must have shape [%d,%d] or [%d,%d,%d], got %s")
        :format(who, Lq, Lk, B * H, Lq, Lk, shape_str(am)), 0)
    end
  end
  if kpm == nil then return am end
  if am == nil then return kpm end
  if is_bool(kpm) and is_bool(am) then return sy.logical_or(kpm:bool(), am:bool()) end
  return additive(kpm, dt) + additive(am, dt)
end

--- forward(query [, key [, value [, opts]]]) -> output, weights.
-- query [B, Lq, E], key and value [B, Lk, E] (key and value default to
-- query: self-attention; [L, B, E] with batch_first = false; [L, E]
-- unbatched). opts: key_padding_mask [B, Lk] and attn_mask [Lq, Lk] or
-- [B*num_heads, Lq, Lk], bool (true = masked out) or float (added to the
-- scores); need_weights = true; average_attn_weights = true. weights are the
-- attention probabilities before dropout (PyTorch 1.13 returns them after
-- its dropout), averaged over heads ([B, Lq, Lk]) or per head
-- ([B, H, Lq, Lk]); nil when need_weights = false.
function MultiheadAttention:forward(query, key, value, opts)
  local who = "nn.MultiheadAttention"
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "key_padding_mask" and k ~= "attn_mask" and k ~= "need_weights" and k ~= "average_attn_weights" then
      error(("%s: unknown forward option '%s' (expected key_padding_mask, attn_mask, need_weights, "
             .. "average_attn_weights)"):format(who, tostring(k)), 0)
    end
  end
  key = key or query
  value = value or key
  for i, t in ipairs({ query, key, value }) do
    if not sy.is_tensor(t) then
      error(("%s: %s must be a tensor, got %s"):format(who, ({ "query", "key", "value" })[i], type(t)), 0)
    end
  end
  local self_attention = rawequal(key, query) and rawequal(value, query)
  local unbatched = query:dim() == 2
  if unbatched then
    query, key, value = query:unsqueeze(1), key:unsqueeze(1), value:unsqueeze(1)
  elseif not self.batch_first then
    query, key, value = query:transpose(1, 2), key:transpose(1, 2), value:transpose(1, 2)
  end
  local E, H, hd = self.embed_dim, self.num_heads, self.head_dim
  local qs, ks, vs = query:size(), key:size(), value:size()
  if #qs ~= 3 or #ks ~= 3 or #vs ~= 3 or qs[3] ~= E or ks[3] ~= E or vs[3] ~= E
      or ks[1] ~= qs[1] or vs[1] ~= qs[1] or vs[2] ~= ks[2] then
    error(("%s: query, key and value must be [batch, length, %d] with one batch size and key and "
           .. "value of one length, got %s, %s, %s"):format(who, E, shape_str(query), shape_str(key),
                                                           shape_str(value)), 0)
  end
  local B, Lq, Lk = qs[1], qs[2], ks[2]
  local mask = self:_mask(opts.key_padding_mask, opts.attn_mask, B, Lq, Lk, query:dtype())
  local out, weights
  if self_attention then
    local w = sy.cat({ self.q.weight, self.k.weight, self.v.weight }, 1)
    local b = self.q.bias and sy.cat({ self.q.bias, self.k.bias, self.v.bias }, 1)
    out, weights = sy.packed_attention(sy.linear(query, w, b), H, mask, self.dropout, self.training)
  else
    local function heads(t, L) return t:reshape(B, L, H, hd):transpose(2, 3) end
    local q, k, v = heads(self.q(query), Lq), heads(self.k(key), Lk), heads(self.v(value), Lk)
    out, weights = sy.scaled_dot_product_attention(q, k, v, mask, self.dropout, self.training)
    out = out:transpose(2, 3):reshape(B, Lq, E)
  end
  out = self.out(out)
  if opts.need_weights == false then
    weights = nil
  elseif opts.average_attn_weights ~= false then
    weights = weights:mean(2)
  end
  if unbatched then
    out = out:squeeze(1)
    weights = weights and weights:squeeze(1)
  elseif not self.batch_first then
    out = out:transpose(1, 2)
  end
  return out, weights
end

function MultiheadAttention:extra_repr()
  local s = ("embed_dim=%d, num_heads=%d"):format(self.embed_dim, self.num_heads)
  if self.dropout ~= 0 then s = s .. (", dropout=%g"):format(self.dropout) end
  if not self.batch_first then s = s .. ", batch_first=false" end
  return s
end

--- MultiheadAttention.convert_torch_state_dict(sd) -> a new state dict in
-- which every PyTorch nn.MultiheadAttention entry (<p>in_proj_weight,
-- <p>in_proj_bias, <p>q_proj_weight/k_proj_weight/v_proj_weight,
-- <p>out_proj.weight, <p>out_proj.bias) becomes <p>q.weight, <p>k.weight,
-- <p>v.weight, <p>q.bias, ..., <p>out.weight, <p>out.bias. Other entries are
-- kept as they are.
function MultiheadAttention.convert_torch_state_dict(sd)
  if type(sd) ~= "table" then
    error(("MultiheadAttention.convert_torch_state_dict: expected a table, got %s"):format(type(sd)), 2)
  end
  local prefixes = {}
  for name in pairs(sd) do
    local p = type(name) == "string" and (name:match("^(.-)in_proj_weight$") or name:match("^(.-)q_proj_weight$"))
    if p then prefixes[p] = true end
  end
  local out, done = {}, {}
  for p in pairs(prefixes) do
    for _, kind in ipairs({ "weight", "bias" }) do
      local packed = sd[p .. "in_proj_" .. kind]
      if packed then
        local E = packed:size(1) // 3
        for i, name in ipairs({ "q", "k", "v" }) do
          out[p .. name .. "." .. kind] = packed:narrow(1, (i - 1) * E + 1, E)
        end
        done[p .. "in_proj_" .. kind] = true
      end
    end
    for _, name in ipairs({ "q", "k", "v" }) do
      local w = sd[p .. name .. "_proj_weight"]
      if w then
        out[p .. name .. ".weight"] = w
        done[p .. name .. "_proj_weight"] = true
      end
    end
    for _, kind in ipairs({ "weight", "bias" }) do
      local t = sd[p .. "out_proj." .. kind]
      if t then
        out[p .. "out." .. kind] = t
        done[p .. "out_proj." .. kind] = true
      end
    end
  end
  for name, t in pairs(sd) do
    if not done[name] then out[name] = t end
  end
  return out
end

return M
