-- kill -9 during checkpoint writes (issue #9): a child synlua saves a
-- checkpoint of a few MB to one path over and over, each version filled with
-- its iteration number, which the metadata also holds. The parent kills it
-- with SIGKILL at random moments, many of them in the middle of a write.
-- After every kill the path must be absent (killed before the first save
-- finished) or load as one whole version: every tensor filled with the
-- metadata's iteration, never a mix or a torn file. A killed write leaves its
-- "<path>.tmp.<pid>" behind; the next successful save to the path removes it.
local sy = require("synlua")
local util = require("testutil")

local BIN = assert(os.getenv("SYNLUA_BIN"), "SYNLUA_BIN is not set")
local q = util.quote

-- Sizes of the checkpoint's tensors: about 3 MB, several dtypes.
local SHAPES = { w = { 512, 1024 }, v = { 100000 }, step = { 1000 } }
local DTYPES = { w = "float32", v = "float64", step = "int64" }

local CHILD = [[
local sy = require("synlua")
local path = arg[1]
local i = 0
while true do
  i = i + 1
  sy.save(path, {
    w = sy.full({ 512, 1024 }, i),
    v = sy.full({ 100000 }, i, "float64"),
    step = sy.full({ 1000 }, i, "int64"),
  }, { iteration = tostring(i) })
  io.stdout:write(i, "\n")
  io.stdout:flush()
end
]]

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function listdir(dir)
  local names = {}
  local p = assert(io.popen("ls -A " .. q(dir)))
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  return names
end

-- Saves completed so far, from the child's counter file.
local function saves(counter)
  local f = io.open(counter, "rb")
  if not f then return 0 end
  local text = f:read("a")
  f:close()
  return tonumber(text:match("(%d+)\n$")) or 0
end

-- Waits until the process is gone or a zombie (a dead process writes nothing).
local function wait_dead(pid)
  for _ = 1, 500 do
    local f = io.open("/proc/" .. pid .. "/stat", "rb")
    if not f then return end
    local state = f:read("a"):match("^%d+ %b() (%a)")
    f:close()
    if state == "Z" or state == "X" then return end
    os.execute("sleep 0.01")
  end
  error("process " .. pid .. " did not die")
end

-- The checkpoint at path as one whole version: returns its iteration.
local function check_whole(path)
  local ok, t, meta = pcall(sy.load, path)
  assert.is_true(ok, "the checkpoint does not load: " .. tostring(t))
  local i = tonumber(meta.iteration)
  assert.is_truthy(i, "no iteration in the metadata")
  for name, shape in pairs(SHAPES) do
    local x = t[name]
    assert.is_truthy(x, "tensor " .. name .. " is missing")
    assert.equals(DTYPES[name], x:dtype())
    assert.same(shape, x:size())
    assert.equals(i, x:min():item(), name .. " is not filled with the iteration")
    assert.equals(i, x:max():item(), name .. " is not filled with the iteration")
  end
  return i
end

describe("kill -9 while saving a checkpoint", function()
  local dir, script

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. q(dir)))
    script = dir .. "/saver.lua"
    util.write_file(script, CHILD)
  end)

  teardown(function()
    os.execute("rm -rf " .. q(dir))
  end)

  it("never leaves a file that loads wrongly, and cleans up after killed writers", function()
    local path = dir .. "/ckpt.safetensors"
    local pidfile, counter = dir .. "/pid", dir .. "/count"
    local last, mid_write, rounds = 0, 0, 0
    local allowed = {}   -- temporary files that may still be there
    math.randomseed(os.time())
    -- at least 12 kills, and go on (up to 40) until 3 of them hit a write
    while rounds < 12 or (mid_write < 3 and rounds < 40) do
      rounds = rounds + 1
      os.remove(counter)
      os.execute(("sh -c 'echo $$ > %s; exec %s %s %s' > %s 2>&1 &")
        :format(q(pidfile), q(BIN), q(script), q(path), q(counter)))
      -- let it complete a few saves (the first round may be killed before any)
      local want = rounds == 1 and 0 or math.random(1, 3)
      for _ = 1, 3000 do
        if saves(counter) >= want and exists(pidfile) then break end
        os.execute("sleep 0.01")
      end
      os.execute(("sleep 0.%03d"):format(math.random(0, 60)))
      local pid = util.slurp(pidfile):match("%d+")
      os.execute("kill -9 " .. pid)
      wait_dead(pid)
      os.remove(pidfile)

      -- The killed writer's own temporary file, if it was killed mid-write.
      -- Those of earlier writers were removed by this one's first completed
      -- save; they stay only if it completed none.
      local done = saves(counter)
      local mine = "ckpt.safetensors.tmp." .. pid
      if done >= 1 then allowed = {} end
      allowed[mine] = true
      for _, name in ipairs(listdir(dir)) do
        if name:find("%.tmp%.") then
          assert.is_true(allowed[name] ~= nil, "unexpected temporary file " .. name .. " (killed " .. pid .. ", round " .. rounds .. ", " .. done .. " saves)")
          if name == mine then mid_write = mid_write + 1 end
        end
      end

      if exists(path) then
        local i = check_whole(path)
        if done >= 1 then
          -- this writer's last printed save, or the next one if it was killed
          -- between the rename and the print
          assert.is_true(i == done or i == done + 1, ("iteration %d after %d saves"):format(i, done))
        else
          assert.is_true(i == last or i == 1, ("iteration %d, the last round left %d"):format(i, last))
        end
        last = i
      else
        assert.equals(0, last, "the checkpoint disappeared")
      end
    end
    assert.is_true(mid_write >= 1, "no kill landed in the middle of a write")
    assert.is_true(last >= 1, "no checkpoint was ever completed")

    -- a clean save removes the last killed writer's temporary file
    sy.save(path, { w = sy.ones(1) })
    local left = {}
    for _, name in ipairs(listdir(dir)) do
      if name:find("%.tmp%.") then left[#left + 1] = name end
    end
    assert.same({}, left)
  end)
end)
