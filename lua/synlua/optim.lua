-- sy.optim: SGD, Adam and AdamW with PyTorch's update formulas, LR
-- schedulers (StepLR, CosineAnnealingLR, OneCycleLR) and gradient-norm
-- clipping. The updates run in C (src/optim, bound in src/lua/l_optim.c): one
-- call per parameter group, one fused loop per parameter, with pruning masks
-- re-applied in the same pass.
--
--   local opt = sy.optim.Adam(model:parameters(), { lr = 1e-3 })
--   local sched = sy.optim.lr_scheduler.StepLR(opt, { step_size = 10, gamma = 0.5 })
--   opt:zero_grad(); loss:backward(); sy.optim.clip_grad_norm(model:parameters(), 1.0)
--   opt:step(); sched:step()
local core = require("synlua.core")
local C = core._optim

local M = {}

-- Errors are raised without a position (level 0), like the C side's: they
-- name the optimizer, the option or parameter and the value instead.
local function fail(fmt, ...)
  error(fmt:format(...), 0)
end

local STATE_KEYS = { "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }

-- ------------------------------------------------------------ parameters

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  return keys
end

local function is_group(v)
  return type(v) == "table" and not core.is_tensor(v) and v.params ~= nil
end

-- Turns what a script passes as parameters into parallel arrays of tensors
-- and names: a tensor; an array of tensors (named "1", "2", ...); an array of
-- {name, tensor} pairs; a map name -> tensor (iterated in sorted order, for
-- determinism); or anything with a parameters() method (a Module).
local function collect(params, who)
  if core.is_tensor(params) then return { params }, { false } end
  if type(params) ~= "table" then
    fail("%s: parameters must be a tensor or a table of tensors, got %s", who, type(params))
  end
  if type(params.parameters) == "function" then
    return collect(params:parameters(), who)
  end
  local tensors, names = {}, {}
  local n = #params
  if n > 0 then
    for k in pairs(params) do
      if math.type(k) ~= "integer" or k < 1 or k > n then
        fail("%s: parameter list mixes an array with key %q", who, tostring(k))
      end
    end
    for i = 1, n do
      local v = params[i]
      if core.is_tensor(v) then
        tensors[i], names[i] = v, false
      elseif type(v) == "table" and type(v[1]) == "string" and core.is_tensor(v[2]) then
        tensors[i], names[i] = v[2], v[1]
      else
        fail("%s: parameter %d is not a tensor or a {name, tensor} pair (got %s)", who, i, type(v))
      end
    end
  else
    for _, k in ipairs(sorted_keys(params)) do
      local v = params[k]
      if type(k) ~= "string" then
        fail("%s: parameter table has a non-string key %s", who, tostring(k))
      end
      if not core.is_tensor(v) then
        fail("%s: parameter '%s' is not a tensor (got %s)", who, k, type(v))
      end
      tensors[#tensors + 1], names[#names + 1] = v, k
    end
  end
  return tensors, names
end

-- ------------------------------------------------------------------ options

local function fmt_value(v)
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = tostring(x) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

-- Checks the types of `opts` against `schema` (name -> "number", "boolean" or
-- "betas") and returns defaults overlaid with opts. Unknown names are errors.
local function check_options(who, opts, schema, defaults)
  if opts ~= nil and type(opts) ~= "table" then
    fail("%s: options must be a table, got %s", who, type(opts))
  end
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  for k, v in pairs(opts or {}) do
    local kind = schema[k]
    if kind == nil then
      fail("%s: unknown option '%s' (expected one of: %s)", who, tostring(k),
        table.concat(sorted_keys(schema), ", "))
    end
    if kind == "betas" then
      if type(v) ~= "table" or #v ~= 2 or type(v[1]) ~= "number" or type(v[2]) ~= "number" then
        fail("%s: option 'betas' must be a table of two numbers, got %s", who, fmt_value(v))
      end
      v = { v[1], v[2] }
    elseif kind ~= "any" and type(v) ~= kind then
      fail("%s: option '%s' must be a %s, got %s", who, k, kind, type(v))
    end
    out[k] = v
  end
  return out
end

-- ---------------------------------------------------------------- Optimizer

local Optimizer = {}
Optimizer.__index = Optimizer

-- kind: { name, schema, defaults, required, check(group), step(self, gi, group) }
local function new_optimizer(kind, params, opts)
  local who = kind.name
  local defaults = check_options(who, opts, kind.schema, kind.defaults)
  local self = setmetatable({
    defaults = defaults, param_groups = {}, state = {},
    _kind = kind, _params = {}, _names = {}, _group_ids = {}, _group_states = {},
    _group_masks = {}, _hooks = {},
  }, kind.mt)
  local specs
  if is_group(params) then
    specs = { params }
  elseif type(params) == "table" and is_group(params[1]) then
    specs = params
  else
    specs = { { params = params } }
  end
  local seen, by_name = {}, {}
  for gi, spec in ipairs(specs) do
    if not is_group(spec) then
      fail("%s: parameter group %d must be a table with a 'params' field", who, gi)
    end
    local overrides = {}
    for k, v in pairs(spec) do if k ~= "params" then overrides[k] = v end end
    local group = check_options(who .. ": parameter group " .. gi, overrides, kind.schema, defaults)
    for _, k in ipairs(kind.required or {}) do
      if group[k] == nil then fail("%s: option '%s' is required", who, k) end
    end
    local tensors, names = collect(spec.params, who)
    if #tensors == 0 then fail("%s: got an empty parameter list", who) end
    group.params, group.names = tensors, {}
    local ids, states, masks = {}, {}, {}
    for j, p in ipairs(tensors) do
      local k = #self._params + 1
      local name = names[j] or tostring(k)
      local label = ("%s: parameter '%s'"):format(who, name)
      C.check_param(label, p)
      local storage, first, count = C.tensor_span(p)
      local spans = seen[storage] or {}
      seen[storage] = spans
      for _, other in ipairs(spans) do
        if count > 0 and first < other[2] + other[3] and other[2] < first + count then
          fail("%s: parameter '%s' shares memory with parameter '%s'", who, name, other[1])
        end
      end
      spans[#spans + 1] = { name, first, count }
      if by_name[name] then fail("%s: two parameters are named '%s'", who, name) end
      by_name[name] = k
      self._params[k], self._names[k] = p, name
      self.state[k] = { step = 0 }
      ids[j], states[j], group.names[j] = k, self.state[k], name
    end
    kind.check(group)
    self.param_groups[gi] = group
    self._group_ids[gi], self._group_states[gi], self._group_masks[gi] = ids, states, masks
  end
  self._by_name = by_name
  return self
end

-- A group's options may have been changed since construction (schedulers,
-- scripts): their types are checked before the C step reads them; their
-- values are checked by the C step itself.
local function check_group_types(kind, gi, group)
  for k, t in pairs(kind.schema) do
    local v, ok = group[k], nil
    if t == "betas" then
      ok = type(v) == "table" and type(v[1]) == "number" and type(v[2]) == "number"
    else
      ok = type(v) == t
    end
    if not ok then
      fail("%s: param_groups[%d].%s must be a %s, got %s", kind.name, gi, k,
        t == "betas" and "table of two numbers" or t, fmt_value(v))
    end
  end
end

--- opt:step([closure]): one update of every parameter that has a gradient,
-- then the post-step hooks. closure (optional) re-evaluates the loss with
-- grad mode on and its result is returned.
function Optimizer:step(closure)
  local loss
  if closure ~= nil then
    if type(closure) ~= "function" then
      fail("%s: step: closure must be a function, got %s", self._kind.name, type(closure))
    end
    loss = core.enable_grad(closure)
  end
  for gi, group in ipairs(self.param_groups) do
    check_group_types(self._kind, gi, group)
    self._kind.step(self, gi, group)
  end
  for _, hook in ipairs(self._hooks) do hook(self) end
  return loss
end

--- opt:zero_grad([set_to_none = true]): drops the gradients (PyTorch 2's
-- default), or zeroes them in place with zero_grad(false).
function Optimizer:zero_grad(set_to_none)
  if set_to_none ~= nil and type(set_to_none) ~= "boolean" then
    fail("%s: zero_grad: set_to_none must be a boolean, got %s", self._kind.name, type(set_to_none))
  end
  for _, p in ipairs(self._params) do
    if set_to_none == false then
      local g = p.grad
      if g then g:zero_() end
    else
      p.grad = nil
    end
  end
end

-- The parameter index for a name or an index, or an error.
function Optimizer:_index_of(key, what)
  local k = self._by_name[key]
  if k == nil and math.type(key) == "integer" and self._params[key] then k = key end
  if k == nil then
    fail("%s: %s: no parameter '%s' (parameters: %s)", self._kind.name, what, tostring(key),
      table.concat(self._names, ", "))
  end
  return k
end

--- opt:set_masks(masks): masks maps a parameter name (or index) to a uint8 or
-- bool tensor of its shape; after every step, in the same pass as the update,
-- the parameter is set to 0 wherever its mask is 0 (pruned weights stay
-- pruned). Replaces any masks set before; set_masks(nil) removes them. The
-- masks are held by reference, so a pruner may update them in place.
function Optimizer:set_masks(masks)
  if masks ~= nil and type(masks) ~= "table" then
    fail("%s: set_masks: expected a table name -> mask, got %s", self._kind.name, type(masks))
  end
  local new = {}
  for key, m in pairs(masks or {}) do
    local k = self:_index_of(key, "set_masks")
    if not core.is_tensor(m) then
      fail("%s: set_masks: the mask for '%s' is not a tensor (got %s)", self._kind.name,
        self._names[k], type(m))
    end
    C.check_param(("%s: set_masks: parameter '%s'"):format(self._kind.name, self._names[k]),
      self._params[k], nil, m)
    new[k] = m
  end
  for gi, ids in ipairs(self._group_ids) do
    local gm = {}
    for j, k in ipairs(ids) do gm[j] = new[k] or false end
    self._group_masks[gi] = gm
  end
end

--- opt:register_step_post_hook(fn): fn(opt) runs after every step. Returns a
-- handle whose remove() unregisters it.
function Optimizer:register_step_post_hook(fn)
  if type(fn) ~= "function" then
    fail("%s: register_step_post_hook: expected a function, got %s", self._kind.name, type(fn))
  end
  local hooks = self._hooks
  hooks[#hooks + 1] = fn
  return {
    remove = function()
      for i, h in ipairs(hooks) do
        if h == fn then table.remove(hooks, i) return end
      end
    end,
  }
end

local function copy_value(v)
  if type(v) == "table" then return { table.unpack(v) } end
  return v
end

-- Group fields that are hyper-parameters (everything but params and names).
local function hyper_params(group)
  local out = {}
  for k, v in pairs(group) do
    if k ~= "params" and k ~= "names" then out[k] = copy_value(v) end
  end
  return out
end

--- opt:state_dict(): { state = { [index] = { step = n, exp_avg = tensor, ... } },
-- param_groups = { { lr = ..., ..., params = { indices }, names = { names } } } }.
-- The state tensors are the optimizer's own (not copies), as in PyTorch.
function Optimizer:state_dict()
  local sd = { state = {}, param_groups = {} }
  for k, s in ipairs(self.state) do
    local entry, any = { step = s.step }, s.step > 0
    for _, key in ipairs(STATE_KEYS) do
      if s[key] then entry[key], any = s[key], true end
    end
    if any then sd.state[k] = entry end
  end
  for gi, group in ipairs(self.param_groups) do
    local g = hyper_params(group)
    g.params = { table.unpack(self._group_ids[gi]) }
    g.names = { table.unpack(group.names) }
    sd.param_groups[gi] = g
  end
  return sd
end

-- Extra group keys the schedulers keep (PyTorch keeps them in the group too).
local SCHEDULER_KEYS = { initial_lr = true, max_lr = true, min_lr = true, max_momentum = true,
                         base_momentum = true }

--- opt:load_state_dict(sd): restores hyper-parameters and state (copies of
-- the tensors, converted to each parameter's dtype). Group and parameter
-- counts, names, shapes and option values are checked before anything changes.
function Optimizer:load_state_dict(sd)
  local who = self._kind.name .. ": load_state_dict"
  if type(sd) ~= "table" or type(sd.param_groups) ~= "table" then
    fail("%s: expected a table with 'param_groups' (and 'state')", who)
  end
  if sd.state ~= nil and type(sd.state) ~= "table" then fail("%s: 'state' must be a table", who) end
  if #sd.param_groups ~= #self.param_groups then
    fail("%s: the state dict has %d parameter groups, the optimizer %d", who, #sd.param_groups,
      #self.param_groups)
  end
  local new_groups = {}
  for gi, g in ipairs(sd.param_groups) do
    local mine = self.param_groups[gi]
    if type(g) ~= "table" then fail("%s: parameter group %d is not a table", who, gi) end
    local count = type(g.params) == "table" and #g.params or nil
    if count ~= #mine.params then
      fail("%s: parameter group %d has %s parameters in the state dict, %d here", who, gi,
        tostring(count), #mine.params)
    end
    if g.names ~= nil then
      local diffs = {}
      for j, name in ipairs(mine.names) do
        if g.names[j] ~= name then
          diffs[#diffs + 1] = ("%d: '%s' here, '%s' in the state dict")
            :format(j, name, tostring(g.names[j]))
        end
      end
      if #diffs > 0 then
        fail("%s: parameter names differ in group %d (%s)", who, gi, table.concat(diffs, "; "))
      end
    end
    -- Options missing from the state dict keep their current values; the
    -- schedulers' keys come from the state dict only.
    local opts, extra, current = {}, {}, hyper_params(mine)
    for k, v in pairs(g) do
      if k ~= "params" and k ~= "names" then
        if SCHEDULER_KEYS[k] then
          if type(v) ~= "number" then
            fail("%s: parameter group %d: '%s' must be a number, got %s", who, gi, k, type(v))
          end
          extra[k] = v
        else
          opts[k] = v
        end
      end
    end
    for k in pairs(SCHEDULER_KEYS) do current[k] = nil end
    local merged = check_options(who .. ": parameter group " .. gi, opts, self._kind.schema,
      current)
    for k, v in pairs(extra) do merged[k] = v end
    self._kind.check(merged)
    new_groups[gi] = merged
  end
  local new_state = {}
  for k = 1, #self._params do new_state[k] = { step = 0 } end
  for k, s in pairs(sd.state or {}) do
    local p = self._params[k]
    if p == nil or type(s) ~= "table" then
      fail("%s: state for parameter %s, which this optimizer does not have (%d parameters)", who,
        tostring(k), #self._params)
    end
    local step = s.step == nil and 0 or (type(s.step) == "number" and math.tointeger(s.step) or nil)
    if step == nil or step < 0 then
      fail("%s: parameter '%s': step must be an integer >= 0, got %s", who, self._names[k],
        tostring(s.step))
    end
    local entry = { step = step }
    for _, key in ipairs(STATE_KEYS) do
      local t = s[key]
      if t ~= nil then
        if not core.is_tensor(t) then
          fail("%s: parameter '%s': state '%s' is not a tensor", who, self._names[k], key)
        end
        entry[key] = t:dtype() == p:dtype() and t:detach():clone() or t:detach():to(p:dtype())
      end
    end
    C.check_param(("%s: parameter '%s'"):format(who, self._names[k]), p, entry)
    new_state[k] = entry
  end
  for gi, g in ipairs(new_groups) do
    local group = self.param_groups[gi]
    for k in pairs(hyper_params(group)) do group[k] = nil end
    for k, v in pairs(g) do group[k] = v end
  end
  for k, entry in ipairs(new_state) do
    local s = self.state[k]
    for key in pairs(s) do s[key] = nil end
    for key, v in pairs(entry) do s[key] = v end
  end
end

-- Metadata strings for a group value and back.
local function encode(v)
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = ("%.17g"):format(x) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(v) == "number" then
    return math.type(v) == "integer" and tostring(v) or ("%.17g"):format(v)
  end
  return tostring(v)
end

local function decode(s)
  if type(s) ~= "string" then return s end
  if s == "true" then return true elseif s == "false" then return false end
  local inner = s:match("^{(.*)}$")
  if inner then
    local out = {}
    for part in inner:gmatch("[^,]+") do out[#out + 1] = tonumber(part) end
    return out
  end
  return tonumber(s)
end

local function check_prefix(who, prefix)
  if prefix == nil then return "optim." end
  if type(prefix) ~= "string" or prefix == "" then
    fail("%s: prefix must be a non-empty string, got %s", who, fmt_value(prefix))
  end
  return prefix
end

--- opt:state_tensors([prefix = "optim."]) -> tensors, metadata: the state
-- flattened for sy.save: tensors "<prefix><param>.<exp_avg|...>", metadata
-- (strings) "<prefix>type", "<prefix><param>.step" and
-- "<prefix>param_groups.<i>.<option>". Merge them with the model's tensors
-- to write one checkpoint.
function Optimizer:state_tensors(prefix)
  prefix = check_prefix(self._kind.name .. ": state_tensors", prefix)
  local tensors, meta = {}, {}
  meta[prefix .. "type"] = self._kind.name
  for k, s in ipairs(self.state) do
    local name = prefix .. self._names[k]
    meta[name .. ".step"] = tostring(s.step)
    for _, key in ipairs(STATE_KEYS) do
      if s[key] then tensors[name .. "." .. key] = s[key] end
    end
  end
  for gi, group in ipairs(self.param_groups) do
    for k, v in pairs(hyper_params(group)) do
      meta[prefix .. "param_groups." .. gi .. "." .. k] = encode(v)
    end
  end
  return tensors, meta
end

--- opt:load_state_tensors(tensors, metadata [, prefix = "optim."]): the
-- inverse of state_tensors (e.g. with what sy.load returns). Other entries
-- of the file (the model's weights) are ignored; unknown entries under the
-- prefix are errors.
function Optimizer:load_state_tensors(tensors, meta, prefix)
  local who = self._kind.name .. ": load_state_tensors"
  prefix = check_prefix(who, prefix)
  if type(tensors) ~= "table" or type(meta) ~= "table" then
    fail("%s: expected the tensors and the metadata tables (as sy.load returns them)", who)
  end
  local kind = meta[prefix .. "type"]
  if kind == nil then fail("%s: no optimizer state under prefix '%s'", who, prefix) end
  if kind ~= self._kind.name then
    fail("%s: the checkpoint holds %s state, this optimizer is %s", who, kind, self._kind.name)
  end
  local used = {}
  local sd = { state = {}, param_groups = {} }
  for k, name in ipairs(self._names) do
    local base = prefix .. name
    local step = meta[base .. ".step"]
    if step == nil then fail("%s: no step count for parameter '%s'", who, name) end
    used[base .. ".step"] = true
    local entry = { step = tonumber(step) or step }
    for _, key in ipairs(STATE_KEYS) do
      local full = base .. "." .. key
      if tensors[full] ~= nil then entry[key], used[full] = tensors[full], true end
    end
    sd.state[k] = entry
  end
  for gi, ids in ipairs(self._group_ids) do
    local g = { params = { table.unpack(ids) } }
    local head = prefix .. "param_groups." .. gi .. "."
    for key, v in pairs(meta) do
      if type(key) == "string" and key:sub(1, #head) == head then
        g[key:sub(#head + 1)] = decode(v)
        used[key] = true
      end
    end
    sd.param_groups[gi] = g
  end
  used[prefix .. "type"] = true
  for _, src in ipairs({ tensors, meta }) do
    for key in pairs(src) do
      if type(key) == "string" and key:sub(1, #prefix) == prefix and not used[key] then
        fail("%s: unexpected entry '%s' (no such parameter or group here)", who, key)
      end
    end
  end
  self:load_state_dict(sd)
end

function Optimizer:__tostring()
  local lines = { self._kind.name .. " (" .. #self._params .. " parameters)" }
  for gi, group in ipairs(self.param_groups) do
    local parts = {}
    for _, k in ipairs(sorted_keys(hyper_params(group))) do
      parts[#parts + 1] = k .. "=" .. fmt_value(group[k])
    end
    lines[#lines + 1] = ("  group %d: %d parameters, %s")
      :format(gi, #group.params, table.concat(parts, ", "))
  end
  return table.concat(lines, "\n")
end

-- -------------------------------------------------------------- optimizers

local function make_kind(spec)
  local mt = {}
  for k, v in pairs(Optimizer) do mt[k] = v end
  mt.__index = mt
  spec.mt = mt
  return spec
end

local SGD = make_kind({
  name = "SGD",
  schema = { lr = "number", momentum = "number", dampening = "number", weight_decay = "number",
             nesterov = "boolean" },
  defaults = { momentum = 0, dampening = 0, weight_decay = 0, nesterov = false },
  required = { "lr" },
  check = function(g) C.check_sgd(g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov) end,
  step = function(self, gi, g)
    C.sgd_step(g.params, self._group_states[gi], self._group_masks[gi], g.lr, g.momentum,
      g.dampening, g.weight_decay, g.nesterov)
  end,
})

local function adam_kind(name, decoupled, weight_decay)
  return make_kind({
    name = name,
    schema = { lr = "number", betas = "betas", eps = "number", weight_decay = "number",
               amsgrad = "boolean" },
    defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = weight_decay,
                 amsgrad = false },
    check = function(g)
      C.check_adam(g.lr, g.betas[1], g.betas[2], g.eps, g.weight_decay, g.amsgrad, decoupled)
    end,
    step = function(self, gi, g)
      C.adam_step(g.params, self._group_states[gi], self._group_masks[gi], g.lr, g.betas[1],
        g.betas[2], g.eps, g.weight_decay, g.amsgrad, decoupled)
    end,
  })
end

local Adam = adam_kind("Adam", false, 0)
local AdamW = adam_kind("AdamW", true, 1e-2)

--- sy.optim.SGD(params, {lr =, momentum = 0, dampening = 0, weight_decay = 0,
-- nesterov = false}). params: see collect() above, or an array of groups
-- {params = ..., <option overrides>}.
function M.SGD(params, opts) return new_optimizer(SGD, params, opts) end

--- sy.optim.Adam(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8,
-- weight_decay = 0 (L2, added to the gradient), amsgrad = false})
function M.Adam(params, opts) return new_optimizer(Adam, params, opts) end

--- sy.optim.AdamW(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8,
-- weight_decay = 1e-2 (decoupled: p = p * (1 - lr * wd)), amsgrad = false})
function M.AdamW(params, opts) return new_optimizer(AdamW, params, opts) end

--- sy.optim.clip_grad_norm(params, max_norm [, norm_type = 2]) -> total norm:
-- torch.nn.utils.clip_grad_norm_. The norm over all gradients together (any
-- p > 0, or math.huge / "inf" for the max norm); if it exceeds max_norm every
-- gradient is scaled in place by max_norm / (total + 1e-6). Parameters
-- without a gradient are skipped.
function M.clip_grad_norm(params, max_norm, norm_type)
  local who = "clip_grad_norm"
  local tensors = collect(params, who)
  if type(max_norm) ~= "number" then
    fail("%s: max_norm must be a number, got %s", who, type(max_norm))
  end
  if norm_type == nil then
    norm_type = 2
  elseif norm_type == "inf" then
    norm_type = math.huge
  elseif type(norm_type) ~= "number" then
    fail("%s: norm_type must be a number or 'inf', got %s", who, fmt_value(norm_type))
  end
  local grads = {}
  for _, p in ipairs(tensors) do
    local g = p.grad
    if g then grads[#grads + 1] = g end
  end
  return C.clip_grad_norm(grads, max_norm, norm_type)
end

-- ------------------------------------------------------------- schedulers

local Scheduler = {}
Scheduler.__index = Scheduler

local function is_optimizer(opt)
  local mt = type(opt) == "table" and getmetatable(opt)
  return mt and mt.step == Optimizer.step or false
end

local function new_scheduler(cls, optimizer, who)
  if not is_optimizer(optimizer) then
    fail("%s: the first argument must be an optimizer from sy.optim, got %s", who, type(optimizer))
  end
  local self = setmetatable({ optimizer = optimizer, name = who }, cls)
  return self
end

-- The common tail of a constructor: initial_lr, base_lrs, then step 0
-- (PyTorch's _initial_step).
local function start_scheduler(self)
  self.base_lrs = {}
  for i, group in ipairs(self.optimizer.param_groups) do
    if group.initial_lr == nil then group.initial_lr = group.lr end
    self.base_lrs[i] = group.initial_lr
  end
  self.last_epoch = -1
  self._step_count = 0
  self:step()
  return self
end

--- sched:step(): advances one epoch (or batch, for OneCycleLR) and writes the
-- new learning rates into the optimizer's param_groups.
function Scheduler:step()
  self._step_count = self._step_count + 1
  self.last_epoch = self.last_epoch + 1
  local lrs = self:get_lr()
  self._last_lr = {}
  for i, group in ipairs(self.optimizer.param_groups) do
    group.lr = lrs[i]
    self._last_lr[i] = lrs[i]
  end
end

--- sched:get_last_lr() -> array of the learning rates of the last step.
function Scheduler:get_last_lr()
  return { table.unpack(self._last_lr) }
end

--- sched:state_dict() / sched:load_state_dict(sd): the position in the
-- schedule (the settings come from the constructor).
function Scheduler:state_dict()
  return { last_epoch = self.last_epoch, _step_count = self._step_count,
           base_lrs = { table.unpack(self.base_lrs) }, _last_lr = { table.unpack(self._last_lr) } }
end

function Scheduler:load_state_dict(sd)
  if type(sd) ~= "table" or math.type(sd.last_epoch) ~= "integer"
      or type(sd.base_lrs) ~= "table" then
    fail("%s: load_state_dict: expected a table from state_dict()", self.name)
  end
  self.last_epoch, self._step_count = sd.last_epoch, sd._step_count or 0
  self.base_lrs = { table.unpack(sd.base_lrs) }
  self._last_lr = { table.unpack(sd._last_lr or {}) }
end

local function subclass()
  local cls = {}
  for k, v in pairs(Scheduler) do cls[k] = v end
  cls.__index = cls
  return cls
end

local function positive_integer(who, name, v)
  if math.type(v) ~= "integer" or v <= 0 then
    fail("%s: option '%s' must be a positive integer, got %s", who, name, fmt_value(v))
  end
end

local lr_scheduler = {}
M.lr_scheduler = lr_scheduler

--- StepLR(opt, {step_size, gamma = 0.1}): lr *= gamma every step_size steps.
local StepLR = subclass()
function lr_scheduler.StepLR(optimizer, opts)
  local who = "StepLR"
  local self = new_scheduler(StepLR, optimizer, who)
  local o = check_options(who, opts, { step_size = "number", gamma = "number" }, { gamma = 0.1 })
  positive_integer(who, "step_size", o.step_size)
  self.step_size, self.gamma = o.step_size, o.gamma
  return start_scheduler(self)
end

function StepLR:get_lr()
  local out = {}
  for i, group in ipairs(self.optimizer.param_groups) do
    if self.last_epoch == 0 or self.last_epoch % self.step_size ~= 0 then
      out[i] = group.lr
    else
      out[i] = group.lr * self.gamma
    end
  end
  return out
end

--- CosineAnnealingLR(opt, {T_max, eta_min = 0}): cosine from the initial lr
-- down to eta_min over T_max steps (and back up after, as PyTorch). Uses
-- PyTorch's recursive form, so it composes with other changes to lr.
local CosineAnnealingLR = subclass()
function lr_scheduler.CosineAnnealingLR(optimizer, opts)
  local who = "CosineAnnealingLR"
  local self = new_scheduler(CosineAnnealingLR, optimizer, who)
  local o = check_options(who, opts, { T_max = "number", eta_min = "number" }, { eta_min = 0 })
  positive_integer(who, "T_max", o.T_max)
  self.T_max, self.eta_min = o.T_max, o.eta_min
  return start_scheduler(self)
end

function CosineAnnealingLR:get_lr()
  local out, t, T, eta_min = {}, self.last_epoch, self.T_max, self.eta_min
  for i, group in ipairs(self.optimizer.param_groups) do
    local base = self.base_lrs[i]
    if t == 0 then
      out[i] = group.lr
    elseif (t - 1 - T) % (2 * T) == 0 then
      out[i] = group.lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
    else
      out[i] = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        * (group.lr - eta_min) + eta_min
    end
  end
  return out
end

--- OneCycleLR(opt, {max_lr, total_steps (or epochs and steps_per_epoch),
-- pct_start = 0.3, anneal_strategy = 'cos', cycle_momentum = true,
-- base_momentum = 0.85, max_momentum = 0.95, div_factor = 25,
-- final_div_factor = 1e4, three_phase = false}): the 1cycle policy, stepped
-- once per batch. max_lr may be a number or one number per group. With
-- cycle_momentum the momentum (SGD) or betas[1] (Adam) cycles inversely.
local OneCycleLR = subclass()
function lr_scheduler.OneCycleLR(optimizer, opts)
  local who = "OneCycleLR"
  local self = new_scheduler(OneCycleLR, optimizer, who)
  local schema = {
    max_lr = "any", total_steps = "number", epochs = "number", steps_per_epoch = "number",
    pct_start = "number", anneal_strategy = "string", cycle_momentum = "boolean",
    base_momentum = "number", max_momentum = "number", div_factor = "number",
    final_div_factor = "number", three_phase = "boolean",
  }
  local defaults = {
    pct_start = 0.3, anneal_strategy = "cos", cycle_momentum = true, base_momentum = 0.85,
    max_momentum = 0.95, div_factor = 25, final_div_factor = 1e4, three_phase = false,
  }
  local o = check_options(who, opts, schema, defaults)
  local max_lr = o.max_lr
  local groups = optimizer.param_groups
  if o.total_steps ~= nil then
    positive_integer(who, "total_steps", o.total_steps)
    self.total_steps = o.total_steps
  elseif o.epochs ~= nil or o.steps_per_epoch ~= nil then
    positive_integer(who, "epochs", o.epochs)
    positive_integer(who, "steps_per_epoch", o.steps_per_epoch)
    self.total_steps = o.epochs * o.steps_per_epoch
  else
    fail("%s: give total_steps, or epochs and steps_per_epoch", who)
  end
  if not (o.pct_start >= 0 and o.pct_start <= 1) then
    fail("%s: option 'pct_start' must be in [0, 1], got %s", who, fmt_value(o.pct_start))
  end
  if o.anneal_strategy ~= "cos" and o.anneal_strategy ~= "linear" then
    fail("%s: option 'anneal_strategy' must be 'cos' or 'linear', got '%s'", who, o.anneal_strategy)
  end
  local max_lrs = {}
  if type(max_lr) == "number" then
    for i = 1, #groups do max_lrs[i] = max_lr end
  elseif type(max_lr) == "table" and #max_lr == #groups then
    for i = 1, #groups do
      if type(max_lr[i]) ~= "number" then fail("%s: option 'max_lr' must hold numbers", who) end
      max_lrs[i] = max_lr[i]
    end
  else
    fail("%s: option 'max_lr' must be a number or %d numbers (one per group), got %s", who,
      #groups, fmt_value(max_lr))
  end
  local total = self.total_steps
  if o.three_phase then
    self._phases = {
      { end_step = o.pct_start * total - 1, start_lr = "initial_lr", end_lr = "max_lr",
        start_momentum = "max_momentum", end_momentum = "base_momentum" },
      { end_step = 2 * o.pct_start * total - 2, start_lr = "max_lr", end_lr = "initial_lr",
        start_momentum = "base_momentum", end_momentum = "max_momentum" },
      { end_step = total - 1, start_lr = "initial_lr", end_lr = "min_lr",
        start_momentum = "max_momentum", end_momentum = "max_momentum" },
    }
  else
    self._phases = {
      { end_step = o.pct_start * total - 1, start_lr = "initial_lr", end_lr = "max_lr",
        start_momentum = "max_momentum", end_momentum = "base_momentum" },
      { end_step = total - 1, start_lr = "max_lr", end_lr = "min_lr",
        start_momentum = "base_momentum", end_momentum = "max_momentum" },
    }
  end
  self.anneal_strategy = o.anneal_strategy
  for i, group in ipairs(groups) do
    group.initial_lr = max_lrs[i] / o.div_factor
    group.max_lr = max_lrs[i]
    group.min_lr = group.initial_lr / o.final_div_factor
  end
  self.cycle_momentum = o.cycle_momentum
  if o.cycle_momentum then
    self.use_beta1 = optimizer.defaults.betas ~= nil
    for _, group in ipairs(groups) do
      if self.use_beta1 then group.betas = { o.max_momentum, group.betas[2] }
      else group.momentum = o.max_momentum end
      group.max_momentum = o.max_momentum
      group.base_momentum = o.base_momentum
    end
  end
  return start_scheduler(self)
end

local function anneal(strategy, start, stop, pct)
  if strategy == "cos" then return stop + (start - stop) / 2.0 * (math.cos(math.pi * pct) + 1) end
  return (stop - start) * pct + start
end

function OneCycleLR:get_lr()
  local step = self.last_epoch
  if step > self.total_steps then
    fail("OneCycleLR: tried to step %d times; total_steps is %d", step + 1, self.total_steps)
  end
  local out, phases = {}, self._phases
  for i, group in ipairs(self.optimizer.param_groups) do
    local start_step = 0
    for p, phase in ipairs(phases) do
      if step <= phase.end_step or p == #phases then
        local pct = (step - start_step) / (phase.end_step - start_step)
        out[i] = anneal(self.anneal_strategy, group[phase.start_lr], group[phase.end_lr], pct)
        if self.cycle_momentum then
          local m = anneal(self.anneal_strategy, group[phase.start_momentum],
            group[phase.end_momentum], pct)
          if self.use_beta1 then group.betas = { m, group.betas[2] } else group.momentum = m end
        end
        break
      end
      start_step = phase.end_step
    end
  end
  return out
end

return M
