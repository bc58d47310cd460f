-- synlua: the module table. The C core (synlua.core) provides tensors and
-- their ops; the Lua submodules (nn, optim, prune, data, ...) are loaded on
-- first use, so `require "synlua"` stays fast.
local sy = require("synlua.core")

local submodules = {}
for _, name in ipairs({ "nn", "optim", "prune", "data", "datasets", "train", "models",
                         "experiment", "stats", "report" }) do
  submodules[name] = "synlua." .. name
end

return setmetatable(sy, {
  __index = function(t, key)
    local modname = submodules[key]
    if modname == nil then return nil end
    local m = require(modname)
    rawset(t, key, m)
    return m
  end,
})
