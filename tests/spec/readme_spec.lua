-- The README's training example runs as written: the loss falls, and the
-- saved file holds the model's state under PyTorch's names.
local sy = require("synlua")

local SOURCE_DIR = os.getenv("SYNLUA_SOURCE_DIR") or "."

local slurp = require("testutil").slurp

describe("README", function()
  it("trains, prints falling losses and saves the model", function()
    local readme = slurp(SOURCE_DIR .. "/README.md")
    local section = assert(readme:match("\n## Train a model\n(.-)\n## "), "no 'Train a model' section")
    local script = assert(section:match("```lua\n(.-)```"), "no Lua block")
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local path = dir .. "/train.lua"
    local f = assert(io.open(path, "w"))
    f:write(script)
    f:close()
    local p = assert(io.popen(("cd %s && %s train.lua 2>&1"):format(dir, os.getenv("SYNLUA_BIN"))))
    local out = p:read("a")
    assert(p:close(), out)
    local losses = {}
    for step, loss in out:gmatch("\n?(%d+)\t([%d%.]+)") do losses[#losses + 1] = tonumber(loss) end
    assert.equals(4, #losses, out)
    assert.is_true(losses[4] < losses[1] / 10, out)
    assert.matches("Net%(", out)
    local sd = sy.load(dir .. "/net.safetensors")
    local names = {}
    for k in pairs(sd) do names[#names + 1] = k end
    table.sort(names)
    assert.same({ "act.beta", "fc.bias", "fc.weight", "lstm.bias_hh_l0", "lstm.bias_ih_l0",
                  "lstm.weight_hh_l0", "lstm.weight_ih_l0" }, names)
    os.execute("rm -rf " .. dir)
  end)
end)
