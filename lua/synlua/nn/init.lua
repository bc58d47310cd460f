-- sy.nn: modules written in Lua over the C core's fused functional ops.
--
--   local nn = sy.nn
--   local model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
--   local loss = nn.MSELoss()(model(x), y)
--
-- nn.Module is the base class (nn.Module:extend("Name") makes a new layer),
-- nn.init holds PyTorch's initialisers and nn.functional the functional ops
-- under PyTorch's names.
local nn = {}

for _, modname in ipairs({ "synlua.nn.module", "synlua.nn.layers", "synlua.nn.recurrent",
                           "synlua.nn.attention", "synlua.nn.loss" }) do
  for name, value in pairs(require(modname)) do
    if name ~= "options" then nn[name] = value end
  end
end

nn.init = require("synlua.nn.init_weights")
nn.functional = require("synlua.nn.functional")

return nn
