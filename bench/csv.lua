-- CSV reader throughput: writes a 2,000,000-row, 9-column file (a datetime
-- and 8 numbers, like the household power file) to a temporary file, reads
-- it with sy.data.read_csv on one thread and reports MB/s (target: 50 MB/s
-- or better), for the first read and the best of three.
-- Usage: synlua bench/csv.lua [rows]
-- With SYNLUA_BENCH_CSV=path the file is kept there (and reused if present).
local sy = require("synlua")

local rows = tonumber(arg and arg[1]) or 2000000
local keep = os.getenv("SYNLUA_BENCH_CSV")
local path = keep or os.tmpname()

local function write_file()
  local f = assert(io.open(path, "w"))
  f:write("datetime,a,b,c,d,e,f,g,h\n")
  local t0 = 1166288400  -- 2006-12-16 17:00:00
  local chunk = {}
  for i = 1, rows do
    local t = t0 + (i - 1) * 60
    local day = t // 86400
    -- civil date from days (same algorithm the reader inverts)
    local z = day + 719468
    local era = z // 146097
    local doe = z - era * 146097
    local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    local mp = (5 * doy + 2) // 153
    local d = doy - (153 * mp + 2) // 5 + 1
    local m = mp < 10 and mp + 3 or mp - 9
    local y = yoe + era * 400 + (m <= 2 and 1 or 0)
    local s = t % 86400
    chunk[#chunk + 1] = string.format(
      "%04d-%02d-%02d %02d:%02d:%02d,%.3f,%.3f,%.2f,%.1f,%.1f,%.1f,%.1f,%.9f\n",
      y, m, d, s // 3600, s // 60 % 60, s % 60,
      (i % 5000) / 1000, (i % 700) / 1000, 230 + (i % 1000) / 100, (i % 300) / 10,
      i % 3, i % 7, i % 19, (i % 100003) / 7)
    if #chunk == 10000 then
      f:write(table.concat(chunk))
      chunk = {}
    end
  end
  f:write(table.concat(chunk))
  f:close()
end

local existing = keep and io.open(path, "rb")
if existing then existing:close() else write_file() end
local f = assert(io.open(path, "rb"))
local bytes = f:seek("end")
f:close()

sy.set_num_threads(1)
local times = {}
for i = 1, 3 do
  local t0 = sy._now()
  local df = sy.data.read_csv(path)
  times[i] = sy._now() - t0
  assert(df:rows() == rows and #df:columns() == 9 and df:kind("datetime") == "datetime", "unexpected frame")
  df = nil
  collectgarbage()
end
if not keep then os.remove(path) end
local best = math.min(table.unpack(times))
print(string.format("read_csv: %d rows x 9 columns, %.1f MB: first read %.3f s (%.1f MB/s), best of 3 %.3f s (%.1f MB/s)",
  rows, bytes / 1e6, times[1], bytes / 1e6 / times[1], best, bytes / 1e6 / best))
