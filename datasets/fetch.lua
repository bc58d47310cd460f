-- Downloads datasets of the study and verifies their sha256.
--
--   synlua datasets/fetch.lua NAME... [--data DIR] [--url URL] [--force] [--quiet]
--   synlua datasets/fetch.lua all --data DIR
--
-- NAME is one of the descriptions in datasets/ (sp500, bitcoin, airquality,
-- household, etth1, etth2). Files go to --data DIR, else $SYNLUA_DATA, else
-- this directory; --url replaces the description's address (one NAME only).
-- A download whose checksum does not match is deleted and the exit status is 1.
local sy = require("synlua")

local function usage(msg)
  if msg then io.stderr:write("fetch.lua: ", msg, "\n") end
  io.stderr:write("usage: synlua datasets/fetch.lua NAME... | all [--data DIR] [--url URL] [--force] [--quiet]\n")
  io.stderr:write("datasets: ", table.concat(sy.datasets.NAMES, ", "), "\n")
  os.exit(2)
end

local names, opts = {}, {}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--data" or a == "--url" then
    if not arg[i + 1] then usage(a .. " needs a value") end
    opts[a:sub(3)] = arg[i + 1]
    i = i + 1
  elseif a == "--force" then
    opts.force = true
  elseif a == "--quiet" then
    opts.quiet = true
  elseif a == "-h" or a == "--help" then
    usage()
  elseif a:sub(1, 1) == "-" then
    usage("unknown option " .. a)
  elseif a == "all" then
    for _, n in ipairs(sy.datasets.NAMES) do names[#names + 1] = n end
  else
    names[#names + 1] = a
  end
  i = i + 1
end
if #names == 0 then usage("no dataset named") end
if opts.url and #names > 1 then usage("--url needs exactly one NAME") end

local failed = 0
for _, name in ipairs(names) do
  local ok, path, how = pcall(sy.datasets.fetch, name, opts)
  if ok then
    if not opts.quiet then io.stderr:write(string.format("%s: %s (%s, sha256 verified)\n", name, path, how)) end
    print(path)
  else
    io.stderr:write(tostring(path), "\n")
    failed = failed + 1
  end
end
os.exit(failed == 0 and 0 or 1)
