-- Small helpers shared by the specs: whole-file reads and writes, shell
-- quoting, and temporary files removed by `cleanup()` (call it in teardown).
local M = {}

function M.quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The file's bytes; raises if it cannot be read.
function M.slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function M.write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

local temps = {}

-- A fresh temporary path, holding `bytes` when given.
function M.tempfile(bytes)
  local path = os.tmpname()
  temps[#temps + 1] = path
  if bytes then M.write_file(path, bytes) end
  return path
end

function M.cleanup()
  for _, path in ipairs(temps) do os.remove(path) end
  temps = {}
end

return M
