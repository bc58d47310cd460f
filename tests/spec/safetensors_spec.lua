-- sy.save and sy.load: safetensors round trips of every dtype, 0-d, empty
-- and non-contiguous tensors, metadata, deterministic bytes, the data
-- checksum, and the errors a script can cause (bad keys and values,
-- unwritable paths, malformed and damaged files).
local sy = require("synlua")

local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

local function has(msg, phrase)
  assert.is_truthy(msg:find(phrase, 1, true), ("expected %q in %q"):format(phrase, msg))
end

local util = require("testutil")
local slurp, spit, tmpname = util.slurp, util.write_file, function() return util.tempfile() end

teardown(util.cleanup)

describe("sy.save / sy.load", function()
  it("round-trips every dtype with its values and shape", function()
    local path = tmpname()
    local src = {
      f32 = sy.tensor({ { 1.5, -2 }, { 0.25, 1e-3 } }),
      f64 = sy.tensor({ 1e300, -1 / 3, 0 }, "float64"),
      i64 = sy.tensor({ math.mininteger, -1, math.maxinteger }, "int64"),
      u8 = sy.tensor({ 0, 7, 255 }, "uint8"),
      mask = sy.tensor({ { true, false }, { false, true } }, "bool"),
    }
    sy.save(path, src)
    local t, meta = sy.load(path)
    assert.same({}, meta)
    local n = 0
    for name, x in pairs(t) do
      n = n + 1
      assert.equals(src[name]:dtype(), x:dtype())
      assert.same(src[name]:size(), x:size())
      assert.same(src[name]:totable(), x:totable())
    end
    assert.equals(5, n)
    assert.equals(math.maxinteger, t.i64[3])
    assert.equals(math.mininteger, t.i64[1])
  end)

  it("keeps 0-d and empty tensors", function()
    local path = tmpname()
    sy.save(path, { s = sy.tensor(3.5), e = sy.zeros(0, 3), e2 = sy.zeros(2, 0, "int64") })
    local t = sy.load(path)
    assert.equals(0, t.s:dim())
    assert.equals(3.5, t.s:item())
    assert.same({ 0, 3 }, t.e:size())
    assert.same({ 2, 0 }, t.e2:size())
    assert.equals("int64", t.e2:dtype())
  end)

  it("writes views in logical order", function()
    local path = tmpname()
    local m = sy.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    sy.save(path, { t = m:t(), n = m:narrow(2, 2, 2), x = sy.tensor({ 9 }):expand(2, 3) })
    local t = sy.load(path)
    assert.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, t.t:totable())
    assert.is_true(t.t:is_contiguous())
    assert.same({ { 2, 3 }, { 5, 6 } }, t.n:totable())
    assert.same({ { 9, 9, 9 }, { 9, 9, 9 } }, t.x:totable())
  end)

  it("loads copies, independent of the saved tensors", function()
    local path = tmpname()
    local w = sy.zeros(3)
    sy.save(path, { w = w })
    local t = sy.load(path)
    w:fill_(1)
    assert.same({ 0, 0, 0 }, t.w:totable())
    assert.is_false(t.w:shares_storage(w))
  end)

  it("round-trips string metadata", function()
    local path = tmpname()
    local meta = { epoch = "12", note = 'quotes " and \\ and\nnewlines', ["caf\u{e9}"] = "\u{1F600}" }
    sy.save(path, { w = sy.ones(2) }, meta)
    local t, m = sy.load(path)
    assert.same(meta, m)
    assert.same({ 1, 1 }, t.w:totable())
  end)

  it("writes the same bytes for the same contents", function()
    local a, b = tmpname(), tmpname()
    local x, y = sy.ones(2, 2), sy.tensor({ 1, 2, 3 }, "int64")
    local t1, t2 = {}, {}
    t1.alpha, t1.beta, t1.gamma = x, y, x
    t2.gamma, t2.beta, t2.alpha = x, y, x
    sy.save(a, t1, { k1 = "1", k2 = "2" })
    sy.save(b, t2, { k2 = "2", k1 = "1" })
    assert.equals(slurp(a), slurp(b))
    local bytes = slurp(a)
    local hlen = string.unpack("<I8", bytes)
    assert.equals(0, hlen % 8)
    assert.equals("{", bytes:sub(9, 9))
    -- tensors are laid out by name: alpha's 16 bytes come first
    assert.is_truthy(bytes:find('"alpha":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}', 1, true))
  end)

  it("replaces an existing file completely", function()
    local path = tmpname()
    sy.save(path, { big = sy.zeros(1000, "float64") })
    sy.save(path, { small = sy.ones(1) })
    local t = sy.load(path)
    assert.is_nil(t.big)
    assert.same({ 1 }, t.small:totable())
    assert.is_true(#slurp(path) < 200)
  end)

  it("accepts an empty table", function()
    local path = tmpname()
    sy.save(path, {})
    local t, m = sy.load(path)
    assert.same({}, t)
    assert.same({}, m)
  end)
end)

describe("sy.save errors", function()
  local path = os.tmpname()
  teardown(function() os.remove(path) end)

  it("checks its arguments", function()
    has(errmsg(sy.save, nil, {}), "bad argument #1")
    has(errmsg(sy.save, path, "x"), "bad argument #2")
    has(errmsg(sy.save, path, {}, 5), "bad argument #3")
  end)

  it("names a bad key or value", function()
    local msg = errmsg(sy.save, path, { sy.ones(1) })
    has(msg, "bad argument #2")
    has(msg, "tensor key 1 is a number, expected a string")
    msg = errmsg(sy.save, path, { w = 1 })
    has(msg, "value for 'w' is a number, expected a tensor")
    msg = errmsg(sy.save, path, { w = { 1, 2 } })
    has(msg, "value for 'w' is a table, expected a tensor")
    msg = errmsg(sy.save, path, { ["a\0b"] = sy.ones(1) })
    has(msg, "contains a NUL byte")
    msg = errmsg(sy.save, path, { __metadata__ = sy.ones(1) })
    has(msg, "reserved")
    local closed
    do
      local t <close> = sy.ones(1)
      closed = t
    end
    has(errmsg(sy.save, path, { w = closed }), "tensor 'w' has been closed")
  end)

  it("requires string metadata", function()
    local msg = errmsg(sy.save, path, { w = sy.ones(1) }, { epoch = 3 })
    has(msg, "bad argument #3")
    has(msg, "metadata value for 'epoch' is a number, expected a string")
    msg = errmsg(sy.save, path, { w = sy.ones(1) }, { [1] = "x" })
    has(msg, "metadata key 1 is a number, expected a string")
  end)

  it("names the path and the OS reason, and leaves the old file alone", function()
    sy.save(path, { keep = sy.ones(2) })
    local before = slurp(path)
    local bad = path .. ".missing-dir/w.safetensors"
    local msg = errmsg(sy.save, bad, { w = sy.ones(1) })
    has(msg, bad)
    has(msg, "No such file or directory")
    -- a failed save over an existing file: bad metadata is caught first
    errmsg(sy.save, path, { w = sy.ones(1) }, { epoch = 3 })
    assert.equals(before, slurp(path))
  end)
end)

describe("sy.load errors", function()
  it("names the path and the OS reason for missing files", function()
    local path = os.tmpname()
    os.remove(path)
    local msg = errmsg(sy.load, path)
    has(msg, path)
    has(msg, "No such file or directory")
    has(errmsg(sy.load), "bad argument #1")
  end)

  it("rejects malformed files with the file name and the problem", function()
    local path = tmpname()
    local function file(header, data)
      spit(path, string.pack("<I8", #header) .. header .. (data or ""))
    end
    spit(path, "abc")
    has(errmsg(sy.load, path), "too short")
    spit(path, string.pack("<I8", 1000) .. "{}")
    has(errmsg(sy.load, path), "larger than the rest of the file")
    file("{not json")
    has(errmsg(sy.load, path), "not valid JSON")
    file('{"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}', "\0\0")
    has(errmsg(sy.load, path), 'dtype "F16" is not supported')
    file('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', "\0\0\0\0")
    has(errmsg(sy.load, path), "needs 8")
    file('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', "\0\0\0\0\0")
    local msg = errmsg(sy.load, path)
    has(msg, "fully indexed")
    has(msg, path)
    has(msg, "safetensors")
  end)

  it("catches damaged data with the checksum, and keeps it out of the metadata", function()
    local path = tmpname()
    local w = sy.arange(0, 1000):float()
    sy.save(path, { w = w, b = sy.ones(3) }, { epoch = "4", ["synlua.checksum"] = "ignored" })
    local bytes = slurp(path)
    local sum = bytes:match('"synlua%.checksum":"(xxh64:%x+)"')
    assert.equals(22, #sum)
    local t, m = sy.load(path)
    assert.same({ epoch = "4" }, m)
    assert.same(w:totable(), t.w:totable())
    -- saving what was loaded gives the same file
    local again = tmpname()
    sy.save(again, t, m)
    assert.equals(bytes, slurp(again))
    -- one flipped bit in the last value of w
    spit(path, bytes:sub(1, -2) .. string.char(bytes:byte(-1) ~ 1))
    local msg = errmsg(sy.load, path)
    has(msg, path)
    has(msg, "the data does not match its checksum (stored " .. sum .. ", computed xxh64:")
    has(msg, "truncated or corrupted")
    -- the same damage in a file from a writer that stores no checksum loads
    local hlen = string.unpack("<I8", bytes)
    local header = bytes:sub(9, 8 + hlen):gsub('"synlua%.checksum":"xxh64:%x+"', '"note":"x"')
    spit(path, string.pack("<I8", #header) .. header .. bytes:sub(9 + hlen, -2)
      .. string.char(bytes:byte(-1) ~ 1))
    t, m = sy.load(path)
    assert.same({ epoch = "4", note = "x" }, m)
    assert.are_not.equal(999, t.w[1000])
    assert.equals(998, t.w[999])
  end)

  it("reads files from other writers: any order, extra fields, padding", function()
    local path = tmpname()
    local header = ' {"__metadata__":{"format":"pt"},'
      .. '"z":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
      .. '"a":{"shape":[1],"data_offsets":[2,10],"dtype":"F64","x":1}}   '
    spit(path, string.pack("<I8", #header) .. header .. "\1\2" .. string.pack("<d", 0.5))
    local t, m = sy.load(path)
    assert.same({ 1, 2 }, t.z:totable())
    assert.equals("uint8", t.z:dtype())
    assert.same({ 0.5 }, t.a:totable())
    assert.same({ format = "pt" }, m)
  end)
end)
