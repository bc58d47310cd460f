-- Matrix products at the Lua face: sy.matmul / t:matmul (torch.matmul
-- semantics), the strict mm, bmm, mv and dot, their shapes, values, dtypes
-- and error messages, and the internal benchmark timers.
local sy = require("synlua")

-- Naive product of two nested tables (matrices).
local function naive(a, b)
  local c = {}
  for i = 1, #a do
    c[i] = {}
    for j = 1, #b[1] do
      local s = 0
      for p = 1, #b do s = s + a[i][p] * b[p][j] end
      c[i][j] = s
    end
  end
  return c
end

local function assert_close(expected, got, tol, path)
  path = path or ""
  if type(expected) == "table" then
    assert.equals(#expected, #got, "length differs at " .. path)
    for i = 1, #expected do assert_close(expected[i], got[i], tol, path .. "[" .. i .. "]") end
  else
    assert(math.abs(expected - got) <= (tol or 1e-5),
           ("value at %s: %.9g, expected %.9g"):format(path, got, expected))
  end
end

-- A deterministic table of small values with the given rows and columns.
local function mat(rows, cols, seed)
  local m = {}
  for i = 1, rows do
    m[i] = {}
    for j = 1, cols do m[i][j] = ((i * 7 + j * 3 + seed) % 11 - 5) / 4 end
  end
  return m
end

-- Every element of a (nested) table equals v.
local function all_equal(t, v)
  if type(t) ~= "table" then return t == v end
  for _, x in ipairs(t) do
    if not all_equal(x, v) then return false end
  end
  return true
end

local function transpose(m)
  local t = {}
  for j = 1, #m[1] do
    t[j] = {}
    for i = 1, #m do t[j][i] = m[i][j] end
  end
  return t
end

describe("matmul", function()
  it("multiplies the issue's example into a 2x1 tensor of 3 and 7", function()
    local c = sy.tensor({ { 1, 2 }, { 3, 4 } }):matmul(sy.tensor({ { 1 }, { 1 } }))
    assert.same({ 2, 1 }, c:size())
    assert.same({ { 3 }, { 7 } }, c:totable())
    assert.matches("tensor%(%[%[3%.%],\n +%[7%.%]%], shape=%[2,1%], dtype=float32%)", tostring(c))
  end)

  it("agrees with a naive product for matrices of several sizes", function()
    for _, mkn in ipairs({ { 1, 1, 1 }, { 3, 4, 5 }, { 8, 3, 1 }, { 1, 6, 7 }, { 17, 9, 13 } }) do
      local a, b = mat(mkn[1], mkn[2], 1), mat(mkn[2], mkn[3], 2)
      local c = sy.matmul(sy.tensor(a), sy.tensor(b))
      assert.same({ mkn[1], mkn[3] }, c:size())
      assert_close(naive(a, b), c:totable())
    end
  end)

  it("reads transposed and narrowed views in place", function()
    local a, b = mat(5, 4, 3), mat(4, 6, 4)
    local at = sy.tensor(transpose(a)):t()           -- [5,4] view, column-major
    local wide = sy.tensor(mat(4, 9, 4))
    local bn = wide:narrow(2, 2, 6)                   -- [4,6] with row stride 9
    local bref = {}
    for i = 1, 4 do
      bref[i] = {}
      for j = 1, 6 do bref[i][j] = mat(4, 9, 4)[i][j + 1] end
    end
    assert.is_false(at:is_contiguous())
    assert.is_false(bn:is_contiguous())
    assert_close(naive(a, bref), at:matmul(bn):totable())
    assert_close(naive(a, b), at:matmul(sy.tensor(b)):totable())
  end)

  it("handles 1-d operands as torch.matmul does", function()
    local v, w = sy.tensor({ 1, 2, 3 }), sy.tensor({ 4, 5, 6 })
    local d = sy.matmul(v, w)
    assert.equals(0, d:dim())
    assert.equals(32, d:item())
    local m = sy.tensor({ { 1, 0, 2 }, { 0, 1, 0 } })                 -- [2,3]
    assert.same({ 7, 2 }, sy.matmul(m, v):totable())                 -- [2,3]@[3] -> [2]
    assert.same({ 1, 2, 2 }, sy.matmul(sy.tensor({ 1, 2 }), m):totable()) -- [2]@[2,3] -> [3]
  end)

  it("broadcasts batch dimensions", function()
    local a = sy.ones(3, 1, 2, 4)
    local b = sy.full({ 2, 4, 5 }, 0.5)
    local c = sy.matmul(a, b)
    assert.same({ 3, 2, 2, 5 }, c:size())
    assert.equals(3 * 2 * 2 * 5, c:numel())
    assert.is_true(all_equal(c:totable(), 2))
    -- a batch times one matrix, and a vector times a batch
    local x = sy.tensor({ { { 1, 2 }, { 3, 4 } }, { { 5, 6 }, { 7, 8 } } }) -- [2,2,2]
    local w = sy.tensor({ { 1, 1 }, { 0, 1 } })
    assert.same({ { { 1, 3 }, { 3, 7 } }, { { 5, 11 }, { 7, 15 } } }, x:matmul(w):totable())
    assert.same({ { 4, 6 }, { 12, 14 } }, sy.matmul(sy.tensor({ 1, 1 }), x):totable())
  end)

  it("splits big products across threads: batches bit for bit, one product within rounding", function()
    sy.manual_seed(3)
    -- a batch (one operand expanded over the first batch dimension and read
    -- transposed) of products, each computed whole by one task
    local a = sy.randn(4, 1, 40, 70):expand(4, 6, 40, 70)
    local b = sy.randn(6, 60, 70):transpose(2, 3)
    -- one product, split by rows (and by columns when transposed)
    local x, y = sy.randn(300, 200), sy.randn(200, 90)
    local function run(threads)
      sy.set_num_threads(threads)
      local ok, r = pcall(function()
        return { sy.matmul(a, b), sy.matmul(x, y), sy.matmul(y:t(), x:t()) }
      end)
      sy.set_num_threads(1)
      assert(ok, r)
      return r
    end
    local one, two = run(1), run(2)
    assert.same({ 4, 6, 40, 60 }, two[1]:size())
    assert.equals(one[1]:numel(), one[1]:eq(two[1]):sum():item())
    for i = 2, 3 do
      local d = (one[i] - two[i]):abs():max():item()
      assert(d <= 1e-4 * one[i]:abs():max():item(), ("product %d: 1 vs 2 threads differ by %g"):format(i, d))
    end
    -- every batch entry against its own product in float64
    for i = 1, 4 do
      for j = 1, 6 do
        local want = a[i][j]:to("float64"):matmul(b[j]:to("float64"))
        assert((two[1][i][j]:to("float64") - want):abs():max():item() < 1e-3, ("entry [%d, %d]"):format(i, j))
      end
    end
  end)

  it("promotes float32 with float64 and keeps float64", function()
    local a32, b64 = sy.tensor({ { 1, 2 } }), sy.tensor({ { 3 }, { 4 } }, "float64")
    local c = a32:matmul(b64)
    assert.equals("float64", c:dtype())
    assert.same({ { 11 } }, c:totable())
    assert.equals("float64", b64:matmul(sy.tensor({ { 1, 2 } }, "float64")):dtype())
    assert.equals("float32", a32:matmul(sy.tensor({ { 3 }, { 4 } })):dtype())
  end)

  it("gives zeros for an inner size of 0 and empty results for empty operands", function()
    assert.same({ { 0, 0 }, { 0, 0 } }, sy.matmul(sy.zeros(2, 0), sy.zeros(0, 2)):totable())
    assert.same({ 0, 3 }, sy.matmul(sy.zeros(0, 4), sy.zeros(4, 3)):size())
  end)

  it("names both shapes when they do not match", function()
    local ok, err = pcall(sy.matmul, sy.zeros(2, 3), sy.zeros(4, 5))
    assert.is_false(ok)
    assert.matches("matmul: shapes %[2,3%] and %[4,5%] do not match %(3 vs 4%)", err)
    ok, err = pcall(function() return sy.zeros(3):matmul(sy.zeros(4)) end)
    assert.is_false(ok)
    assert.matches("matmul: shapes %[3%] and %[4%] do not match %(3 vs 4%)", err)
    ok, err = pcall(sy.matmul, sy.zeros(2, 3, 4), sy.zeros(3, 4, 5))
    assert.is_false(ok)
    assert.matches("matmul: batch dimensions of shapes %[2,3,4%] and %[3,4,5%] cannot be broadcast %(2 vs 3%)", err)
    ok, err = pcall(sy.matmul, sy.tensor(2), sy.zeros(2))
    assert.is_false(ok)
    assert.matches("matmul: both arguments must be at least 1%-d, got shapes %[%] and %[2%]", err)
  end)

  it("rejects integer and bool tensors and non-tensors", function()
    local ok, err = pcall(sy.matmul, sy.zeros(2, 2, "int64"), sy.zeros(2, 2))
    assert.is_false(ok)
    assert.matches("matmul: expected float32 or float64 tensors, got int64 and float32", err)
    ok, err = pcall(sy.matmul, sy.zeros(2, 2), sy.zeros(2, 2, "bool"))
    assert.is_false(ok)
    assert.matches("got float32 and bool", err)
    ok, err = pcall(sy.matmul, sy.zeros(2, 2), 3)
    assert.is_false(ok)
    assert.matches("bad argument #2 to '.-matmul' %(tensor expected, got number%)", err)
  end)
end)

describe("mm, bmm, mv, dot", function()
  it("mm multiplies 2-d matrices and only those", function()
    local a, b = mat(3, 4, 5), mat(4, 2, 6)
    assert_close(naive(a, b), sy.mm(sy.tensor(a), sy.tensor(b)):totable())
    assert_close(naive(a, b), sy.tensor(a):mm(sy.tensor(b)):totable())
    local ok, err = pcall(sy.mm, sy.zeros(2, 3, 4), sy.zeros(4, 5))
    assert.is_false(ok)
    assert.matches("mm: expected 2%-d matrices, got shapes %[2,3,4%] and %[4,5%]", err)
    ok, err = pcall(sy.mm, sy.zeros(2, 3), sy.zeros(4, 5))
    assert.is_false(ok)
    assert.matches("mm: shapes %[2,3%] and %[4,5%] do not match %(3 vs 4%)", err)
  end)

  it("bmm multiplies 3-d batches of equal size and does not broadcast", function()
    local a, b = sy.ones(2, 3, 4), sy.full({ 2, 4, 5 }, 2)
    local c = sy.bmm(a, b)
    assert.same({ 2, 3, 5 }, c:size())
    assert.is_true(all_equal(c:totable(), 8))
    local ok, err = pcall(sy.bmm, sy.ones(1, 3, 4), sy.ones(2, 4, 5))
    assert.is_false(ok)
    assert.matches("bmm: batch sizes of shapes %[1,3,4%] and %[2,4,5%] differ %(1 vs 2%)", err)
    ok, err = pcall(sy.bmm, sy.ones(3, 4), sy.ones(4, 5))
    assert.is_false(ok)
    assert.matches("bmm: expected 3%-d batches of matrices, got shapes %[3,4%] and %[4,5%]", err)
    ok, err = pcall(sy.bmm, sy.ones(2, 3, 4), sy.ones(2, 3, 5))
    assert.is_false(ok)
    assert.matches("bmm: shapes %[2,3,4%] and %[2,3,5%] do not match %(4 vs 3%)", err)
  end)

  it("mv multiplies a matrix by a vector", function()
    local m = sy.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.same({ 14, 32 }, m:mv(sy.tensor({ 1, 2, 3 })):totable())
    assert.same({ 14, 32 }, sy.mv(m, sy.tensor({ 1, 2, 3 })):totable())
    local ok, err = pcall(sy.mv, m, m)
    assert.is_false(ok)
    assert.matches("mv: expected a 2%-d matrix and a 1%-d vector, got shapes %[2,3%] and %[2,3%]", err)
  end)

  it("dot gives a 0-d tensor for two 1-d tensors of equal length", function()
    local d = sy.dot(sy.tensor({ 1, 2, 3 }), sy.tensor({ 4, 5, 6 }))
    assert.equals(0, d:dim())
    assert.equals(32, d:item())
    assert.equals(32, sy.tensor({ 1, 2, 3 }):dot(sy.tensor({ 4, 5, 6 })):item())
    -- a strided column of a matrix
    local m = sy.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } })
    assert.equals(1 * 2 + 3 * 4 + 5 * 6, sy.dot(m:select(2, 1), m:select(2, 2)):item())
    local ok, err = pcall(sy.dot, sy.ones(3), sy.ones(4))
    assert.is_false(ok)
    assert.matches("dot: shapes %[3%] and %[4%] do not match %(3 vs 4%)", err)
    ok, err = pcall(sy.dot, sy.ones(1, 3), sy.ones(3))
    assert.is_false(ok)
    assert.matches("dot: expected 1%-d tensors, got shapes %[1,3%] and %[3%]", err)
  end)
end)

describe("benchmark timers", function()
  it("_sgemm_seconds times raw sgemm and checks its arguments", function()
    local s = sy._sgemm_seconds(16, 8, 4, 2)
    assert.is_number(s)
    assert.is_true(s > 0 and s < 10)
    local ok, err = pcall(sy._sgemm_seconds, 0, 8, 4, 2)
    assert.is_false(ok)
    assert.matches("bad argument #1 .-%(m must be at least 1%)", err)
    ok, err = pcall(sy._sgemm_seconds, 4, 8, 4, 1.5)
    assert.is_false(ok)
    assert.matches("number has no integer representation", err)
  end)

  it("_sgemm_seconds times either float32 kernel, operands transposed or not", function()
    local own = sy._gemm_kernel() == "avx512"
    assert.is_true(sy._sgemm_seconds(16, 8, 4, 2, "blas", true, true) > 0)
    if own then
      assert.is_true(sy._sgemm_seconds(16, 8, 4, 2, "avx512", false, true) > 0)
    end
    local ok, err = pcall(sy._sgemm_seconds, 16, 8, 4, 2, "mkl")
    assert.is_false(ok)
    assert.matches("bad argument #5 .-invalid option 'mkl'", err)
  end)

  it("_gemm_kernel reports and switches the float32 kernel", function()
    local start = sy._gemm_kernel()
    assert.is_true(start == "blas" or start == "avx512")
    assert.equals("blas", sy._gemm_kernel("blas"))
    -- the products hold with either kernel
    local a, b = sy.randn(37, 21), sy.randn(21, 19)
    local via_blas = a:matmul(b)
    local ok, err = pcall(sy._gemm_kernel, "fast")
    assert.is_false(ok)
    assert.matches("bad argument #1 .-expected \"blas\"", err)
    assert.equals("blas", sy._gemm_kernel())
    sy._gemm_kernel(start)
    assert.equals(start, sy._gemm_kernel())
    assert.is_true((a:matmul(b) - via_blas):abs():max():item() < 1e-4)
  end)

  it("_now is monotonic", function()
    local t0 = sy._now()
    local t1 = sy._now()
    assert.is_number(t0)
    assert.is_true(t1 >= t0)
  end)
end)
