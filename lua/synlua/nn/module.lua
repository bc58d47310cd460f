-- sy.nn's module protocol: the Module base class (Torch7's protocol with
-- PyTorch's names), the containers Sequential and ModuleList, and the option
-- parser every layer constructor uses.
--
--   local Block = nn.Module:extend("Block")
--   function Block:__init(d)
--     self:add_module("fc", nn.Linear(d, d))        -- or: self.fc = nn.Linear(d, d)
--     self:register_parameter("scale", sy.ones(d))
--   end
--   function Block:forward(x) return self.fc(x) * self.scale end
--
-- Parameters, buffers and children are registered by name and kept in
-- registration order, so parameters() and state_dict() list them in a stable
-- order with PyTorch's dotted names ("blocks.0.attn.q.weight"). Registered
-- entries are not raw fields of the instance: reading self.weight finds them
-- in the registry, and assigning to a registered name updates it.
local sy = require("synlua.core")

local M = {}

-- ---------------------------------------------------------------- classes

local CLASS_MARK = {}   -- rawget(class, "__class") == CLASS_MARK marks a module class

local function is_module(v)
  local mt = type(v) == "table" and getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__class") == CLASS_MARK
end
M.is_module = is_module

local function class_name(m) return rawget(getmetatable(m), "__name") end

local function tensor_shape(t)
  return "[" .. table.concat(t:size(), ",") .. "]"
end

-- Each module's registered entries of every kind, name -> value (kept with
-- _store by register and to); weak keys, so a module is not held by it.
local VALUES = setmetatable({}, { __mode = "k" })

local function check_name(who, self, name)
  if type(name) ~= "string" then
    error(("%s: name must be a string, got %s"):format(who, type(name)), 0)
  end
  if name == "" or name:find(".", 1, true) then
    error(("%s: name %q must be non-empty and contain no '.'"):format(who, name), 0)
  end
  local kind = self._kind[name]
  if kind == nil and rawget(self, name) ~= nil then
    error(("%s: '%s' is already a plain attribute of %s"):format(who, name, class_name(self)), 0)
  end
  if getmetatable(self)[name] ~= nil then   -- the method would hide it
    error(("%s: '%s' is a method of %s"):format(who, name, class_name(self)), 0)
  end
  return kind
end

-- Adds `name` to the registry of `kind` ("parameter", "buffer" or
-- "module"); re-registering a name of the same kind replaces its value in place.
local function register(self, who, kind, name, value)
  local have = check_name(who, self, name)
  if have ~= nil and have ~= kind then
    error(("%s: '%s' is already registered as a %s of %s"):format(who, name, have, class_name(self)), 0)
  end
  if have == nil then
    self._kind[name] = kind
    local order = self._order[kind]
    order[#order + 1] = name
  end
  self._store[kind][name] = value
  VALUES[self][name] = value
end

local function set_parameter(who, self, name, t)
  if t ~= nil then
    if not sy.is_tensor(t) then
      error(("%s: parameter '%s' must be a tensor or nil, got %s"):format(who, name, type(t)), 0)
    end
    if not t.is_leaf then
      error(("%s: parameter '%s' must be a leaf tensor (it was computed by %s; use detach())")
        :format(who, name, t.grad_fn), 0)
    end
    t:requires_grad(true)
  end
  register(self, who, "parameter", name, t)
end

local function set_buffer(who, self, name, t)
  if t ~= nil and not sy.is_tensor(t) then
    error(("%s: buffer '%s' must be a tensor or nil, got %s"):format(who, name, type(t)), 0)
  end
  register(self, who, "buffer", name, t)
end

local function set_module(who, self, name, m)
  if m ~= nil and not is_module(m) then
    error(("%s: child '%s' must be a module or nil, got %s"):format(who, name, type(m)), 0)
  end
  register(self, who, "module", name, m)
end

-- Registered entries first, in one lookup (a module's forward reads its
-- parameters and children at every call: the most frequent Lua call
-- of a training step), then methods through the class chain. A name cannot
-- be both (check_name).
local function instance_index(self, key)
  local values = VALUES[self]
  if values then
    local v = values[key]
    if v ~= nil then return v end
  end
  return getmetatable(self)[key]
end

-- Called only for keys that are not raw fields: registered names are updated
-- in their registry; a module assigned to a new name becomes a child (as in
-- PyTorch); anything else becomes a plain attribute.
local function instance_newindex(self, key, value)
  local kind = rawget(self, "_kind")
  kind = kind and kind[key]
  if kind == "parameter" then
    set_parameter("assignment", self, key, value)
  elseif kind == "buffer" then
    set_buffer("assignment", self, key, value)
  elseif kind == "module" or (kind == nil and type(key) == "string" and is_module(value)) then
    set_module("assignment", self, key, value)
  else
    rawset(self, key, value)
  end
end

-- ------------------------------------------------- calls and error paths

-- Every module call runs forward under pcall and keeps the chain of active
-- modules, so an error raised deep inside a model is reported once, at the
-- outermost call, with the full path of the module that raised it:
--   "In Sequential.1 (Linear): linear: input has 7 features, ..."
-- The path uses the names of named_modules()/state_dict(). Positions inside
-- sy.nn's own files say nothing to the user and are dropped; the message then
-- points at the script line that called the model.
local active, depth = {}, 0
local failure                        -- { msg = ..., chain = {...} } of the current error

local function child_name(parent, child)
  for _, name in ipairs(parent._order.module) do
    if parent._store.module[name] == child then return name end
  end
  return "?"
end

local function strip_nn_position(msg)
  local rest = msg:match("^.-synlua/nn/[%w_]+%.lua:%d+: (.*)$")
  return rest or msg, rest ~= nil
end

local function finish(d, ok, ...)
  depth = d - 1
  if ok then
    active[d] = nil
    return ...
  end
  local err = ...
  if type(err) ~= "string" then
    active[d] = nil
    error(err, 0)
  end
  if failure == nil or failure.msg ~= err then   -- the innermost module sees it first
    failure = { msg = err, chain = table.move(active, 1, d, 1, {}) }
  end
  active[d] = nil
  if d > 1 then error(err, 0) end
  local chain = failure.chain
  failure = nil
  local msg, stripped = strip_nn_position(err)
  if #chain > 1 then
    local parts = { class_name(chain[1]) }
    for i = 2, #chain do parts[i] = child_name(chain[i - 1], chain[i]) end
    msg = ("In %s (%s): %s"):format(table.concat(parts, "."), class_name(chain[#chain]), msg)
  elseif not stripped then
    error(err, 0)
  end
  error(msg, 2)
end

local function module_call(self, ...)
  local d = depth + 1
  if d == 1 then failure = nil end
  depth = d
  active[d] = self
  return finish(d, pcall(self.forward, self, ...))
end

-- ----------------------------------------------------------- the summary

local function group_digits(n)
  local s = tostring(n)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end

local function count_note(m)
  local n = m:num_parameters()
  if n == 0 then return "" end
  return ("  -- %s parameter%s"):format(group_digits(n), n == 1 and "" or "s")
end

-- A module with children lists its extra_repr on a line of its own, as PyTorch does.
local function repr(m, indent)
  local extra, children = m:extra_repr(), m:named_children()
  if #children == 0 then return class_name(m) .. "(" .. extra .. ")" .. count_note(m) end
  local lines = { class_name(m) .. "(" }
  local pad = indent .. "  "
  if extra ~= "" then lines[2] = pad .. extra end
  for _, c in ipairs(children) do
    lines[#lines + 1] = ("%s(%s): %s"):format(pad, c[1], repr(c[2], pad))
  end
  lines[#lines + 1] = indent .. ")" .. count_note(m)
  return table.concat(lines, "\n")
end

-- ---------------------------------------------------------------- Module

local function construct(cls, ...)
  local self = setmetatable({}, cls)
  rawset(self, "_kind", {})
  rawset(self, "_store", { parameter = {}, buffer = {}, module = {} })
  rawset(self, "_order", { parameter = {}, buffer = {}, module = {} })
  VALUES[self] = {}
  rawset(self, "training", true)
  self:__init(...)
  return self
end

local function make_class(name, parent)
  if type(name) ~= "string" or name == "" then
    error(("extend: class name must be a non-empty string, got %s"):format(tostring(name)), 0)
  end
  local cls = { __class = CLASS_MARK, __name = name,
                __index = instance_index, __newindex = instance_newindex,
                __call = module_call, __tostring = function(m) return m:summary() end }
  if parent then
    for _, k in ipairs({ "__index", "__len", "__call", "__tostring" }) do
      cls[k] = rawget(parent, k)
    end
  end
  return setmetatable(cls, {
    __index = parent,
    __call = construct,
    __tostring = function() return "nn." .. name .. " (module class)" end,
  })
end

local Module = make_class("Module")
M.Module = Module

--- Module:extend(name) -> a subclass; define __init and forward on it.
function Module:extend(name)
  if rawget(self, "__class") ~= CLASS_MARK then
    error("extend: call it on a module class (nn.Module:extend(\"Name\"))", 0)
  end
  return make_class(name, self)
end

function Module:__init() end

function Module:forward()
  error(("%s has no forward method"):format(class_name(self)), 0)
end

function Module:register_parameter(name, t) set_parameter("register_parameter", self, name, t) end
function Module:register_buffer(name, t) set_buffer("register_buffer", self, name, t) end
function Module:add_module(name, m) set_module("add_module", self, name, m) end
Module.register_module = Module.add_module

--- named_children() -> { {name, module}, ... } in registration order.
function Module:named_children()
  local out = {}
  for _, name in ipairs(self._order.module) do
    local m = self._store.module[name]
    if m ~= nil then out[#out + 1] = { name, m } end
  end
  return out
end

function Module:children()
  local out = {}
  for i, c in ipairs(self:named_children()) do out[i] = c[2] end
  return out
end

--- named_modules() -> { {name, module}, ... }: self first (name ""), then
-- every descendant once, depth first, with dotted names.
function Module:named_modules()
  local out, seen = {}, {}
  local function walk(m, prefix)
    if seen[m] then return end
    seen[m] = true
    out[#out + 1] = { prefix, m }
    for _, c in ipairs(m:named_children()) do
      walk(c[2], prefix == "" and c[1] or prefix .. "." .. c[1])
    end
  end
  walk(self, "")
  return out
end

-- The tree's modules in named_modules() order, each once, without their
-- names: what the per-step paths (zero_grad, train/eval) walk, as building
-- the dotted names costs more than the walk itself.
local function each_module(self, out, seen)
  if seen[self] then return end
  seen[self] = true
  out[#out + 1] = self
  local store = self._store.module
  for _, name in ipairs(self._order.module) do
    local c = store[name]
    if c ~= nil then each_module(c, out, seen) end
  end
  return out
end

function Module:modules() return each_module(self, {}, {}) end

-- Registered tensors of `kind` over the whole tree as { {name, tensor} },
-- each tensor once (a tensor shared by two modules keeps its first name).
local function collect(self, kind)
  local out, seen = {}, {}
  for _, entry in ipairs(self:named_modules()) do
    local prefix, m = entry[1], entry[2]
    for _, name in ipairs(m._order[kind]) do
      local t = m._store[kind][name]
      if t ~= nil and not seen[t] then
        seen[t] = true
        out[#out + 1] = { prefix == "" and name or prefix .. "." .. name, t }
      end
    end
  end
  return out
end

local function as_map(pairs_list)
  local map = {}
  for _, p in ipairs(pairs_list) do map[p[1]] = p[2] end
  return map
end

--- parameters() -> { {name, tensor}, ... } in registration order (what
-- sy.optim takes); named_parameters() -> { name = tensor }.
function Module:parameters() return collect(self, "parameter") end
function Module:named_parameters() return as_map(collect(self, "parameter")) end
function Module:buffers() return collect(self, "buffer") end
function Module:named_buffers() return as_map(collect(self, "buffer")) end

--- num_parameters([trainable_only]) -> number of scalars in the parameters.
function Module:num_parameters(trainable_only)
  local n = 0
  for _, p in ipairs(collect(self, "parameter")) do
    if not trainable_only or p[2]:requires_grad() then n = n + p[2]:numel() end
  end
  return n
end

--- train([mode = true]) / eval(): sets `training` on the whole tree.
function Module:train(mode)
  if mode == nil then mode = true end
  if type(mode) ~= "boolean" then
    error(("train: mode must be a boolean, got %s"):format(type(mode)), 2)
  end
  for _, m in ipairs(self:modules()) do m.training = mode end
  return self
end

function Module:eval() return self:train(false) end

--- zero_grad([set_to_none = true]): drops the gradients (PyTorch 2's
-- default), or zeroes them in place with zero_grad(false).
function Module:zero_grad(set_to_none)
  if set_to_none ~= nil and type(set_to_none) ~= "boolean" then
    error(("zero_grad: set_to_none must be a boolean, got %s"):format(type(set_to_none)), 2)
  end
  for _, m in ipairs(each_module(self, {}, {})) do
    local store = m._store.parameter
    for _, name in ipairs(m._order.parameter) do
      local t = store[name]
      if t == nil then -- an unset parameter (register_parameter(name, nil))
      elseif set_to_none == false then
        local g = t.grad
        if g then g:zero_() end
      else
        t.grad = nil
      end
    end
  end
end

--- apply(fn): fn(m) on every module of the tree, once each, children
-- before their parent (PyTorch's order), e.g. for a custom initialisation.
function Module:apply(fn)
  if type(fn) ~= "function" then
    error(("apply: expected a function, got %s"):format(type(fn)), 2)
  end
  local seen = {}
  local function walk(m)
    if seen[m] then return end
    seen[m] = true
    for _, c in ipairs(m:named_children()) do walk(c[2]) end
    fn(m)
  end
  walk(self)
  return self
end

--- state_dict() -> { name = tensor } of parameters and buffers (detached
-- views sharing storage with the model), ready for sy.save.
function Module:state_dict()
  local sd = {}
  for _, kind in ipairs({ "parameter", "buffer" }) do
    for _, p in ipairs(collect(self, kind)) do sd[p[1]] = p[2]:detach() end
  end
  return sd
end

local function sorted(list)
  table.sort(list)
  return list
end

--- load_state_dict(sd [, strict = true]): copies sd's tensors into the
-- model's parameters and buffers (in place, under no_grad). Every name and
-- shape is checked before anything is copied, and one error lists all
-- differences. Shape mismatches are always errors; missing and unexpected
-- names only when strict. Returns { missing = {...}, unexpected = {...} }.
function Module:load_state_dict(sd, strict)
  if type(sd) ~= "table" then
    error(("load_state_dict: expected a table name -> tensor, got %s"):format(type(sd)), 2)
  end
  if strict == nil then strict = true end
  local own = {}
  for _, kind in ipairs({ "parameter", "buffer" }) do
    for _, p in ipairs(collect(self, kind)) do own[p[1]] = p[2] end
  end
  local missing, unexpected, mismatch, bad = {}, {}, {}, {}
  for name, t in pairs(own) do
    local src = sd[name]
    if src == nil then
      missing[#missing + 1] = name
    elseif not sy.is_tensor(src) then
      bad[#bad + 1] = ("%s is a %s"):format(name, type(src))
    elseif tensor_shape(src) ~= tensor_shape(t) then
      mismatch[#mismatch + 1] = ("%s %s (model) vs %s (state dict)")
        :format(name, tensor_shape(t), tensor_shape(src))
    end
  end
  for name in pairs(sd) do
    if own[name] == nil then unexpected[#unexpected + 1] = tostring(name) end
  end
  sorted(missing); sorted(unexpected); sorted(mismatch); sorted(bad)
  local problems = {}
  if strict and #missing > 0 then problems[#problems + 1] = "missing: " .. table.concat(missing, ", ") end
  if strict and #unexpected > 0 then
    problems[#problems + 1] = "unexpected: " .. table.concat(unexpected, ", ")
  end
  if #mismatch > 0 then problems[#problems + 1] = "shape mismatch: " .. table.concat(mismatch, ", ") end
  if #bad > 0 then problems[#problems + 1] = "not a tensor: " .. table.concat(bad, ", ") end
  if #problems > 0 then
    error(("load_state_dict (%s): %s"):format(class_name(self), table.concat(problems, "; ")), 2)
  end
  sy.no_grad(function()
    for name, t in pairs(own) do
      local src = sd[name]
      if src ~= nil then t:copy_(src) end
    end
  end)
  return { missing = missing, unexpected = unexpected }
end

--- to(dtype) / float() / double(): converts the floating-point parameters
-- and buffers (e.g. to float64 for finite-difference checks).
function Module:to(dtype)
  for _, m in ipairs(self:modules()) do
    for _, kind in ipairs({ "parameter", "buffer" }) do
      for _, name in ipairs(m._order[kind]) do
        local t = m._store[kind][name]
        if t ~= nil and t:dtype():find("^float") and t:dtype() ~= dtype then
          local c = t:detach():to(dtype)
          if kind == "parameter" then c:requires_grad(t:requires_grad()) end
          m._store[kind][name] = c
          VALUES[m][name] = c
        end
      end
    end
  end
  return self
end

function Module:float() return self:to("float32") end
function Module:double() return self:to("float64") end

--- extra_repr() -> the text inside the parentheses of the summary line.
function Module:extra_repr() return "" end

--- summary() (also tostring(m)): PyTorch's repr with parameter counts.
function Module:summary()
  local text = repr(self, "")
  local total, trainable = self:num_parameters(), self:num_parameters(true)
  if total ~= trainable then
    text = text .. ("\n-- trainable: %s of %s"):format(group_digits(trainable), group_digits(total))
  end
  return text
end

-- ----------------------------------------------------------- containers

-- Children of Sequential and ModuleList are named "0", "1", ... (PyTorch's
-- state-dict names) and indexed 1, 2, ... from Lua: seq[1] is child "0".
local function indexed_child(self, key)
  if math.type(key) == "integer" then
    local name = self._order.module[key]
    return name and self._store.module[name]
  end
  return instance_index(self, key)
end

local function append(self, who, m)
  if not is_module(m) then
    error(("%s: element %d must be a module, got %s"):format(who, #self._order.module + 1, type(m)), 0)
  end
  register(self, who, "module", tostring(#self._order.module), m)
end

local function append_all(self, who, ...)
  local args = { ... }
  local n = select("#", ...)
  if n == 1 and type(args[1]) == "table" and not is_module(args[1]) then
    args = args[1]
    n = #args
  end
  for i = 1, n do append(self, who, args[i]) end
end

--- nn.Sequential(m1, m2, ...) or nn.Sequential{m1, m2, ...}: forward feeds
-- each child's output to the next.
local Sequential = Module:extend("Sequential")
M.Sequential = Sequential
Sequential.__index = indexed_child
Sequential.__len = function(self) return #self._order.module end

function Sequential:__init(...) append_all(self, "nn.Sequential", ...) end
function Sequential:append(m) append(self, "nn.Sequential:append", m); return self end

function Sequential:forward(x)
  for _, name in ipairs(self._order.module) do x = self._store.module[name](x) end
  return x
end

--- nn.ModuleList{m1, m2, ...}: holds children ("0", "1", ...) for a forward
-- written by hand; ipairs(list) visits them in order.
local ModuleList = Module:extend("ModuleList")
M.ModuleList = ModuleList
ModuleList.__index = indexed_child
ModuleList.__len = Sequential.__len

function ModuleList:__init(...) append_all(self, "nn.ModuleList", ...) end
function ModuleList:append(m) append(self, "nn.ModuleList:append", m); return self end

function ModuleList:forward()
  error("ModuleList has no forward: call its children in a forward of your own", 0)
end

-- ------------------------------------------------------ option parsing

local VALIDATORS = {
  posint = { "a positive integer", function(v)
    local i = math.tointeger(v)
    return i and i > 0 and i or nil
  end },
  nonnegint = { "a non-negative integer", function(v)
    local i = math.tointeger(v)
    return i and i >= 0 and i or nil
  end },
  boolean = { "a boolean", function(v) if type(v) == "boolean" then return v end end },
  posnumber = { "a positive number", function(v)
    if type(v) == "number" and v > 0 and v == v then return v end
  end },
  number = { "a number", function(v) if type(v) == "number" and v == v then return v end end },
  prob = { "a probability in [0, 1]", function(v)
    if type(v) == "number" and v >= 0 and v <= 1 then return v end
  end },
  shape = { "a positive integer or a list of them", function(v)
    local i = math.tointeger(v)
    if i and i > 0 then return { i } end
    if type(v) ~= "table" or #v == 0 then return nil end
    local out = {}
    for k, x in ipairs(v) do
      out[k] = math.tointeger(x)
      if not out[k] or out[k] <= 0 then return nil end
    end
    return out
  end },
}

local function describe(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

--- options(who, spec, ...) -> table of checked options. `spec` lists
-- { name, kind [, default] } in PyTorch's positional order; kind is a key of
-- VALIDATORS, a list of allowed strings, or a function(v) -> value or nil,
-- description. Callers may pass positional values, one table with
-- positional entries and/or names, or positional values then such a table.
-- Options without a default are required.
function M.options(who, spec, ...)
  local n = select("#", ...)
  local args = { ... }
  local named = {}
  if n >= 1 and type(args[n]) == "table" and not is_module(args[n]) and not sy.is_tensor(args[n]) then
    named = args[n]
    args[n] = nil
    n = n - 1
    local len = #named
    for k in pairs(named) do
      if math.type(k) == "integer" then
        if k < 1 or k > len then
          error(("%s: positional options must form a list; got key %d"):format(who, k), 0)
        end
      elseif type(k) ~= "string" then
        error(("%s: option names must be strings, got %s"):format(who, type(k)), 0)
      end
    end
    if n > 0 and len > 0 then
      error(("%s: give positional options either as arguments or in the table, not both"):format(who), 0)
    end
    for i = 1, len do args[i] = named[i] end
    n = math.max(n, len)
  end
  local names, index = {}, {}
  for i, s in ipairs(spec) do names[i] = s[1]; index[s[1]] = s end
  if n > #spec then
    error(("%s: %d positional options given, at most %d expected (%s)")
      :format(who, n, #spec, table.concat(names, ", ")), 0)
  end
  local raw = {}
  for i = 1, n do raw[spec[i][1]] = args[i] end
  for k, v in pairs(named) do
    if type(k) == "string" then
      if index[k] == nil then
        local expected = #names == 0 and "it takes no options" or "expected one of: " .. table.concat(names, ", ")
        error(("%s: unknown option '%s' (%s)"):format(who, k, expected), 0)
      end
      if raw[k] ~= nil then
        error(("%s: option '%s' given both by position and by name"):format(who, k), 0)
      end
      raw[k] = v
    end
  end
  local out = {}
  for _, s in ipairs(spec) do
    local name, kind, default = s[1], s[2], s[3]
    local v = raw[name]
    if v == nil then
      if default == nil then error(("%s: option '%s' is required"):format(who, name), 0) end
      out[name] = default
    else
      local value, expected
      if type(kind) == "table" then
        for _, allowed in ipairs(kind) do if v == allowed then value = v end end
        local quoted = {}
        for i, a in ipairs(kind) do quoted[i] = describe(a) end
        expected = "one of " .. table.concat(quoted, ", ")
      elseif type(kind) == "function" then
        value, expected = kind(v)
      else
        local check = VALIDATORS[kind]
        expected, value = check[1], check[2](v)
      end
      if value == nil then
        error(("%s: option '%s' must be %s, got %s"):format(who, name, expected, describe(v)), 0)
      end
      out[name] = value
    end
  end
  return out
end

return M
