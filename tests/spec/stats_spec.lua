-- sy.stats: REFERENCE.md §7's check vectors; closed forms and identities of
-- the special functions and distributions; and reference values computed
-- independently of lua/synlua/stats.lua by tests/stats/gen_stats_cases.py
-- (there is no scipy here): mpmath at 50 digits for the incomplete beta and
-- gamma functions, the t, chi-square and normal distributions and the
-- studentized range; exact rational arithmetic for ranks, Friedman
-- statistics, means and variances; brute-force enumeration of all 2^n sign
-- patterns for exact Wilcoxon p-values (stats.lua uses the counting
-- recurrence instead). The values are in tests/stats/stats_cases.lua.
local sy = require("synlua")
local st = sy.stats

local source_dir = os.getenv("SYNLUA_SOURCE_DIR") or "."
local cases = dofile(source_dir .. "/tests/stats/stats_cases.lua")

local function close(got, want, rtol, atol, label)
  atol = atol or 0
  local err = math.abs(got - want)
  if not (err <= atol + rtol * math.abs(want)) then
    error(("%s: got %.17g, want %.17g (abs error %.3g, rtol %g, atol %g)")
      :format(label or "value", got, want, err, rtol, atol), 2)
  end
end

local function same_array(got, want, rtol, label)
  assert.are.equal(#want, #got, label .. ": length")
  for i = 1, #want do close(got[i], want[i], rtol, 0, ("%s[%d]"):format(label, i)) end
end

local function is_nan(v) return v ~= v end

local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

local function has(msg, phrase)
  assert.is_truthy(msg:find(phrase, 1, true), ("expected %q in %q"):format(phrase, msg))
end

describe("sy.stats", function()
  it("is the synlua.stats module, loaded on first use", function()
    assert.are.equal(require("synlua.stats"), st)
  end)
end)

describe("REFERENCE.md §7 check vectors", function()
  it("Friedman: [1,2,3],[2,1,3],[1,3,2],[1,2,2] -> 4.13333, p 0.12661", function()
    local f = st.friedman({ { 1, 2, 3 }, { 2, 1, 3 }, { 1, 3, 2 }, { 1, 2, 2 } })
    -- by hand: rank sums 5, 8.5, 10.5; chi2 = 0.25 * 207.5 - 48 = 3.875;
    -- c = 1 - 6/96 = 0.9375; 3.875 / 0.9375 = 62/15; with 2 dof p = exp(-x/2)
    close(f.statistic, 62 / 15, 1e-15, 0, "statistic")
    close(f.pvalue, math.exp(-31 / 15), 1e-14, 0, "pvalue")
    close(f.statistic, 4.13333, 0, 5e-6, "statistic as printed")
    close(f.pvalue, 0.12661, 0, 5e-6, "pvalue as printed")
    assert.are.equal(2, f.df)
    same_array(f.mean_ranks, { 5 / 4, 8.5 / 4, 10.5 / 4 }, 1e-15, "mean_ranks")
  end)

  it("Wilcoxon: d = (1.5, 2.0, -0.5, 3.0, 2.5, 4.0) -> statistic 1, p 0.0625", function()
    local w = st.wilcoxon({ 1.5, 2.0, -0.5, 3.0, 2.5, 4.0 })
    assert.are.equal(1, w.statistic)
    assert.are.equal(0.0625, w.pvalue) -- 4/64, exact in binary
    assert.are.equal("exact", w.method)
    assert.are.equal(20, w.r_plus)
    assert.are.equal(1, w.r_minus)
  end)

  it("Wilcoxon: six positive differences -> p 0.03125 = 2/2^6", function()
    local w = st.wilcoxon({ 0.1, 0.2, 0.3, 0.4, 0.5, 0.6 })
    assert.are.equal(0, w.statistic)
    assert.are.equal(0.03125, w.pvalue)
  end)

  it("Student t quantiles of the paper's tables and the textbook ones", function()
    close(st.t_quantile(0.975, 9), 2.262157, 0, 5e-7, "t(0.975, 9)")
    close(st.t_quantile(0.975, 1), 12.7062, 0, 5e-5, "t(0.975, 1)")
    close(st.t_quantile(0.975, 30), 2.0423, 0, 5e-5, "t(0.975, 30)")
    close(st.t_quantile(0.975, 1e8), 1.95996, 0, 5e-6, "t(0.975, 1e8)")
    close(st.t_quantile(0.975, 1e12), 1.959964, 0, 5e-7, "t(0.975, 1e12)")
    assert.are.equal(st.normal_quantile(0.975), st.t_quantile(0.975, math.huge))
  end)

  it("Nemenyi: q_0.05 for k = 4 is 2.569", function()
    close(st.nemenyi_q(4), 2.569, 0, 5e-4, "q_0.05(4)")
  end)
end)

describe("special functions", function()
  it("lgamma: log factorials, Gamma(1/2) = sqrt(pi), reflection below 1/2", function()
    local logfact = 0.0
    for n = 1, 170 do
      close(st.lgamma(n), logfact, 1e-14, 1e-15, ("lgamma(%d)"):format(n))
      logfact = logfact + math.log(n)
    end
    close(st.lgamma(0.5), 0.5 * math.log(math.pi), 1e-15, 0, "lgamma(1/2)")
    -- Gamma(x) Gamma(1 - x) = pi / sin(pi x) at x = 0.3
    close(st.lgamma(0.3) + st.lgamma(0.7), math.log(math.pi / math.sin(0.3 * math.pi)), 1e-14, 0, "reflection")
    -- Gamma(x + 1) = x Gamma(x)
    for _, x in ipairs({ 0.01, 0.7, 3.3, 25.5, 1e3 }) do
      close(st.lgamma(x + 1), st.lgamma(x) + math.log(x), 1e-13, 1e-15, ("recurrence at %g"):format(x))
    end
  end)

  it("betainc against mpmath", function()
    for _, c in ipairs(cases.betainc) do
      close(st.betainc(c.a, c.b, c.x), c.want, 1e-13, 0, ("I_%g(%g, %g)"):format(c.x, c.a, c.b))
    end
  end)

  it("betainc: closed forms and identities", function()
    for _, x in ipairs({ 0, 0.001, 0.25, 0.5, 0.9, 1 }) do
      close(st.betainc(1, 1, x), x, 1e-14, 0, "I_x(1, 1) = x")
      close(st.betainc(3.5, 1, x), x ^ 3.5, 1e-14, 1e-300, "I_x(a, 1) = x^a")
      close(st.betainc(1, 2.5, x), 1 - (1 - x) ^ 2.5, 1e-14, 1e-16, "I_x(1, b) = 1 - (1-x)^b")
      -- symmetry I_x(a, b) = 1 - I_{1-x}(b, a)
      close(st.betainc(2.5, 7, x) + st.betainc(7, 2.5, 1 - x), 1, 1e-14, 0, "symmetry")
    end
    for _, a in ipairs({ 0.5, 3, 40, 1e4 }) do
      close(st.betainc(a, a, 0.5), 0.5, 1e-13, 0, ("I_1/2(%g, %g)"):format(a, a))
    end
    -- I_x(a + 1, b) = I_x(a, b) - x^a (1 - x)^b / (a B(a, b))
    local a, b, x = 2.5, 4, 0.35
    local lb = st.lgamma(a) + st.lgamma(b) - st.lgamma(a + b)
    close(st.betainc(a + 1, b, x), st.betainc(a, b, x) - math.exp(a * math.log(x) + b * math.log(1 - x) - lb) / a,
          1e-14, 0, "recurrence in a")
  end)

  it("gammainc and gammaincc against mpmath", function()
    for _, c in ipairs(cases.gammainc) do
      local label = ("(%g, %g)"):format(c.a, c.x)
      close(st.gammainc(c.a, c.x), c.p, 1e-13, 0, "P" .. label)
      close(st.gammaincc(c.a, c.x), c.q, 1e-13, 0, "Q" .. label)
    end
  end)

  it("gammainc: closed forms and identities", function()
    for _, x in ipairs({ 0.01, 0.5, 1, 4, 20, 100 }) do
      close(st.gammainc(1, x), 1 - math.exp(-x), 1e-14, 0, "P(1, x) = 1 - exp(-x)")
      close(st.gammaincc(1, x), math.exp(-x), 1e-14, 0, "Q(1, x) = exp(-x)")
      -- Q(n, x) = exp(-x) sum_{j<n} x^j / j! for integer n
      local term, sum = 1.0, 1.0
      for j = 1, 4 do term = term * x / j; sum = sum + term end
      close(st.gammaincc(5, x), math.exp(-x) * sum, 1e-13, 0, "Q(5, x)")
      close(st.gammainc(3.7, x) + st.gammaincc(3.7, x), 1, 1e-15, 0, "P + Q = 1")
      -- P(a + 1, x) = P(a, x) - x^a exp(-x) / Gamma(a + 1); for small x the
      -- right side cancels, so the tolerance is relative to P(a, x)
      local a = 2.3
      close(st.gammainc(a + 1, x), st.gammainc(a, x) - math.exp(a * math.log(x) - x - st.lgamma(a + 1)),
            0, 1e-14 * st.gammainc(a, x), "recurrence in a")
    end
    assert.are.equal(0, st.gammainc(2, 0))
    assert.are.equal(1, st.gammaincc(2, 0))
  end)
end)

describe("distributions", function()
  it("t_cdf against mpmath, including far tails and huge dof", function()
    for _, c in ipairs(cases.t_cdf) do
      close(st.t_cdf(c.t, c.df), c.want, 1e-12, 0, ("t_cdf(%g, %g)"):format(c.t, c.df))
    end
  end)

  it("t_cdf: Cauchy (1 dof) and 2 dof closed forms, symmetry", function()
    -- for t < 0 in forms that do not cancel: 1/2 + atan(t)/pi = atan(-1/t)/pi
    -- and 1/2 + t / (2 sqrt(2 + t^2)) = 1 / (s (s + |t|)), s = sqrt(2 + t^2)
    local function cauchy(t) return t < 0 and math.atan(-1 / t) / math.pi or 0.5 + math.atan(t) / math.pi end
    local function two_dof(t)
      local s = math.sqrt(2 + t * t)
      return t < 0 and 1 / (s * (s - t)) or 0.5 + t / (2 * s)
    end
    for _, t in ipairs({ -1e6, -30, -2, -0.5, 0, 0.1, 1, 7, 1e3 }) do
      close(st.t_cdf(t, 1), cauchy(t), 1e-13, 0, ("Cauchy at %g"):format(t))
      close(st.t_cdf(t, 2), two_dof(t), 1e-13, 0, ("2 dof at %g"):format(t))
      close(st.t_cdf(-t, 4.5), 1 - st.t_cdf(t, 4.5), 1e-14, 1e-16, ("symmetry at %g"):format(t))
    end
    assert.are.equal(0, st.t_cdf(-math.huge, 3))
    assert.are.equal(1, st.t_cdf(math.huge, 3))
  end)

  it("t_quantile against mpmath, closed forms and round trips", function()
    for _, c in ipairs(cases.t_quantile) do
      close(st.t_quantile(c.p, c.df), c.want, 1e-12, 0, ("t_quantile(%g, %g)"):format(c.p, c.df))
    end
    for _, p in ipairs({ 1e-9, 0.01, 0.3, 0.5, 0.8, 0.975, 0.999 }) do
      -- tan(pi (p - 1/2)) = -1 / tan(pi p), which keeps its digits for small p
      local cauchy = p < 0.5 and -1 / math.tan(math.pi * p) or math.tan(math.pi * (p - 0.5))
      close(st.t_quantile(p, 1), cauchy, 1e-12, 1e-300, ("Cauchy quantile %g"):format(p))
      close(st.t_quantile(p, 2), (2 * p - 1) / math.sqrt(2 * p * (1 - p)), 1e-12, 1e-300, ("2 dof quantile %g"):format(p))
      for _, df in ipairs({ 0.7, 3, 9, 250, 5e6 }) do
        close(st.t_cdf(st.t_quantile(p, df), df), p, 1e-13, 0, ("round trip p=%g df=%g"):format(p, df))
      end
    end
    assert.are.equal(-math.huge, st.t_quantile(0, 5))
    assert.are.equal(math.huge, st.t_quantile(1, 5))
  end)

  it("t: no jump where the large-dof expansion takes over (1e5 dof)", function()
    for _, t in ipairs({ 0.3, 1.96, 4, 8, 20 }) do
      local below, above = st.t_cdf(-t, 1e5), st.t_cdf(-t, 1e5 * (1 + 1e-12))
      close(above, below, 1e-11, 0, ("tail at %g"):format(t))
    end
    close(st.t_quantile(0.999, 1e5 * (1 + 1e-12)), st.t_quantile(0.999, 1e5), 1e-12, 0, "quantile")
  end)

  it("normal quantile and CDF against mpmath", function()
    for _, c in ipairs(cases.normal) do
      close(st.normal_quantile(c.p), c.z, 1e-13, 1e-300, ("normal_quantile(%g)"):format(c.p))
      close(st.normal_cdf(c.z), c.p, 1e-13, 0, ("normal_cdf(%g)"):format(c.z))
    end
  end)

  it("chi2_sf and chi2_cdf against mpmath", function()
    for _, c in ipairs(cases.chi2) do
      close(st.chi2_sf(c.x, c.df), c.sf, 1e-13, 0, ("chi2_sf(%g, %g)"):format(c.x, c.df))
      close(st.chi2_cdf(c.x, c.df), c.cdf, 1e-13, 0, ("chi2_cdf(%g, %g)"):format(c.x, c.df))
    end
  end)

  it("chi2_sf: closed forms for 2 and 4 dof, and 1 dof from the normal", function()
    for _, x in ipairs({ 0, 0.1, 1, 4.6, 13.8, 50, 700 }) do
      -- exp(-x/2) itself carries a relative rounding error of about x/2 ulps
      local tol = 1e-14 + x * 1e-16
      close(st.chi2_sf(x, 2), math.exp(-x / 2), tol, 0, ("2 dof at %g"):format(x))
      close(st.chi2_sf(x, 4), math.exp(-x / 2) * (1 + x / 2), tol, 0, ("4 dof at %g"):format(x))
      -- X = Z^2 with 1 dof: P(X > x) = 2 (1 - Phi(sqrt x))
      close(st.chi2_sf(x, 1), 2 * st.normal_cdf(-math.sqrt(x)), 1e-14, 0, ("1 dof at %g"):format(x))
      close(st.chi2_cdf(x, 6) + st.chi2_sf(x, 6), 1, 1e-15, 0, "cdf + sf")
    end
    assert.are.equal(1, st.chi2_sf(-1, 3))
  end)
end)

describe("mean, std, t_interval", function()
  it("known small sample", function()
    local x = { 2, 4, 4, 4, 5, 5, 7, 9 }
    assert.are.equal(5, st.mean(x))
    close(st.std(x), math.sqrt(32 / 7), 1e-15, 0, "sample std")
    close(st.std(x, 0), 2, 1e-15, 0, "population std")
  end)

  it("against exact rational mean and sum of squares, t from mpmath", function()
    for i, c in ipairs(cases.describe) do
      local ci = st.t_interval(c.x)
      local label = ("sample %d (n=%d)"):format(i, #c.x)
      close(st.mean(c.x), c.mean, 1e-15, 0, label .. " mean")
      close(ci.mean, c.mean, 1e-15, 0, label .. " ci.mean")
      close(st.std(c.x), c.std, 1e-14, 0, label .. " std")
      close(ci.t, c.t, 1e-13, 0, label .. " t")
      close(ci.lower, c.lower, 1e-13, 0, label .. " lower")
      close(ci.upper, c.upper, 1e-13, 0, label .. " upper")
      assert.are.equal(#c.x, ci.n)
      assert.are.equal(#c.x - 1, ci.df)
    end
  end)

  it("a 90% interval uses t(0.95, n - 1)", function()
    local x = { 1, 2, 3, 4, 6 }
    local ci = st.t_interval(x, 0.9)
    close(ci.half_width, st.t_quantile(0.95, 4) * st.std(x) / math.sqrt(5), 1e-15, 0, "half width")
    assert.are.equal(0.9, ci.level)
  end)

  it("keeps precision under cancellation", function()
    close(st.mean({ 1e16, 1, -1e16 }), 1 / 3, 1e-15, 0, "compensated mean")
    close(st.std({ 1e9 + 1, 1e9 + 2, 1e9 + 3 }), 1, 1e-15, 0, "std with a large offset")
    assert.are.equal(0, st.std({ 0.1, 0.1, 0.1 }))
  end)

  it("one value: the mean, and NaN for std and the interval", function()
    assert.are.equal(3.5, st.mean({ 3.5 }))
    assert.is_true(is_nan(st.std({ 3.5 })))
    local ci = st.t_interval({ 3.5 })
    assert.are.equal(3.5, ci.mean)
    assert.is_true(is_nan(ci.lower) and is_nan(ci.upper) and is_nan(ci.half_width))
  end)
end)

describe("ranks", function()
  it("rank: 'average' and 'min' ties", function()
    assert.are.same({ 3, 1.5, 4, 1.5, 5 }, st.rank({ 3, 1, 4, 1, 5 }))
    assert.are.same({ 3, 1, 4, 1, 5 }, st.rank({ 3, 1, 4, 1, 5 }, "min"))
    assert.are.same({ 2, 2, 2 }, st.rank({ 7, 7, 7 }))
    assert.are.same({ 1, 1, 1 }, st.rank({ 7, 7, 7 }, "min"))
  end)

  it("mean_ranks by hand: the paper's 'min' rule differs from 'average' only on ties", function()
    local rows = { { 0.5, 0.4, 0.4, 0.9 }, { 1.0, 2.0, 3.0, 4.0 } }
    same_array(st.mean_ranks(rows, "min"), { 2, 1.5, 2, 4 }, 0, "min")
    same_array(st.mean_ranks(rows, "average"), { 2, 1.75, 2.25, 4 }, 0, "average")
    same_array(st.mean_ranks(rows), { 2, 1.75, 2.25, 4 }, 0, "default")
  end)

  it("mean_ranks against exact rational ranks", function()
    for i, c in ipairs(cases.mean_ranks) do
      same_array(st.mean_ranks(c.rows, "average"), c.average, 1e-15, ("case %d average"):format(i))
      same_array(st.mean_ranks(c.rows, "min"), c.min, 1e-15, ("case %d min"):format(i))
    end
  end)
end)

describe("friedman", function()
  it("against exact rational statistics (ties included) and mpmath p-values", function()
    for i, c in ipairs(cases.friedman) do
      local f = st.friedman(c.blocks)
      local label = ("case %d (%dx%d)"):format(i, #c.blocks, #c.blocks[1])
      close(f.statistic, c.statistic, 1e-13, 0, label .. " statistic")
      close(f.pvalue, c.pvalue, 1e-12, 0, label .. " pvalue")
      same_array(f.mean_ranks, c.mean_ranks, 1e-14, label .. " mean_ranks")
      assert.are.equal(#c.blocks[1] - 1, f.df)
    end
  end)

  it("identical rankings in every block, no ties: chi2 = n (k - 1)", function()
    -- n = 4 blocks ranked 1,2,3: rank sums 4, 8, 12; 12/48 * 224 - 48 = 8
    local f = st.friedman({ { 1, 2, 3 }, { 10, 20, 30 }, { -3, 0, 3 }, { 0.1, 0.2, 0.3 } })
    close(f.statistic, 8, 1e-15, 0, "statistic")
    close(f.pvalue, math.exp(-4), 1e-14, 0, "pvalue")
  end)

  it("depends only on the ranks within blocks, not on block order", function()
    local a = st.friedman({ { 1, 5, 2, 2 }, { 3, 1, 4, 2 }, { 0, 0, 1, 2 } })
    local b = st.friedman({ { 30, 10, 40, 20 }, { 0, 0, 10, 20 }, { -1, 9, 0, 0 } })
    close(b.statistic, a.statistic, 1e-15, 0, "statistic")
    close(b.pvalue, a.pvalue, 1e-15, 0, "pvalue")
  end)

  it("every block entirely tied: NaN (0/0), as scipy", function()
    local f = st.friedman({ { 1, 1, 1 }, { 2, 2, 2 } })
    assert.is_true(is_nan(f.statistic) and is_nan(f.pvalue))
  end)
end)

describe("wilcoxon", function()
  it("against brute-force enumeration (exact) and mpmath (approx)", function()
    for i, c in ipairs(cases.wilcoxon) do
      local w = c.d and st.wilcoxon(c.d, nil, { method = c.opt }) or st.wilcoxon(c.x, c.y, { method = c.opt })
      local label = ("case %d (n=%d, %s)"):format(i, c.n, c.opt)
      assert.are.equal(c.method, w.method, label .. " method")
      assert.are.equal(c.n, w.n, label .. " n")
      assert.are.equal(c.statistic, w.statistic, label .. " statistic")
      assert.are.equal(c.r_plus, w.r_plus, label .. " r_plus")
      close(w.pvalue, c.pvalue, 1e-13, 0, label .. " pvalue")
      if c.z then close(w.z, c.z, 1e-13, 0, label .. " z") end
    end
  end)

  it("exact p for n = 20 and n = 50 all-positive differences is 2/2^n", function()
    local d = {}
    for i = 1, 50 do d[i] = i / 8 end
    local w = st.wilcoxon(d)
    assert.are.equal("exact", w.method)
    assert.are.equal(2 ^ -49, w.pvalue)
    d[51] = 51 / 8
    assert.are.equal("approx", st.wilcoxon(d).method) -- over 50: normal approximation
    local d20 = {}
    for i = 1, 20 do d20[i] = -i end
    assert.are.equal(2 ^ -19, st.wilcoxon(d20).pvalue)
  end)

  it("drops zero differences and stays exact (REFERENCE.md §7)", function()
    local base = st.wilcoxon({ 1.5, 2.0, -0.5, 3.0, 2.5, 4.0 })
    local w = st.wilcoxon({ 1.5, 0, 2.0, -0.5, 3.0, 0, 2.5, 4.0 })
    assert.are.equal("exact", w.method)
    assert.are.equal(6, w.n)
    assert.are.equal(2, w.zeros)
    assert.are.equal(base.pvalue, w.pvalue)
    assert.are.equal(base.statistic, w.statistic)
  end)

  it("paired samples give the test of their differences; the sign does not matter", function()
    local x, y = { 10, 12, 9, 15, 11, 14, 13 }, { 8, 13, 9.5, 11, 10, 10, 12.25 }
    local d, neg = {}, {}
    for i = 1, #x do d[i] = x[i] - y[i]; neg[i] = -d[i] end
    local a, b, c = st.wilcoxon(x, y), st.wilcoxon(d), st.wilcoxon(neg)
    assert.are.equal(b.pvalue, a.pvalue)
    assert.are.equal(b.statistic, a.statistic)
    assert.are.equal(b.pvalue, c.pvalue)
    assert.are.equal(b.statistic, c.statistic)
  end)

  it("normal approximation: no continuity correction by default, 0.5 towards the mean with it", function()
    local d = { 1, -2, 3, 4, -5, 6, 7, 8, 9, 10, -11, 12 }
    local plain = st.wilcoxon(d, nil, { method = "approx" })
    local corr = st.wilcoxon(d, nil, { method = "approx", correction = true })
    -- n = 12, untied: mean 39, variance 12*13*25/24 = 162.5; T = r- = 18
    local se = math.sqrt(162.5)
    close(plain.z, (18 - 39) / se, 1e-15, 0, "z")
    close(corr.z, (18 - 39 + 0.5) / se, 1e-15, 0, "corrected z")
    close(plain.pvalue, 2 * st.normal_cdf((18 - 39) / se), 1e-14, 0, "pvalue")
    close(corr.pvalue, 2 * st.normal_cdf((18 - 39 + 0.5) / se), 1e-14, 0, "corrected pvalue")
  end)

  it("all differences zero: exact p = 1, approx p = NaN", function()
    local w = st.wilcoxon({ 1, 2, 3 }, { 1, 2, 3 })
    assert.are.equal(0, w.n)
    assert.are.equal(3, w.zeros)
    assert.are.equal(0, w.statistic)
    assert.are.equal(1, w.pvalue)
    assert.is_true(is_nan(st.wilcoxon({ 0, 0 }, nil, { method = "approx" }).pvalue))
  end)
end)

describe("nemenyi", function()
  it("q against the studentized range computed by mpmath", function()
    for _, c in ipairs(cases.nemenyi) do
      close(st.nemenyi_q(c.k, c.alpha), c.q, 1e-9, 0, ("q_%g(%d)"):format(c.alpha, c.k))
    end
  end)

  it("q agrees with Demšar (2006), Table 5, to the precision printed there", function()
    -- Demšar divided the 3-decimal studentized range table by sqrt(2), so
    -- his last digit can be one off (k = 3: 3.314/sqrt 2 = 2.3434 -> 2.343,
    -- while the unrounded value is 2.34370)
    local q05 = { 1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164 }
    local q10 = { 1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920 }
    for k = 2, 10 do
      close(st.nemenyi_q(k), q05[k - 1], 0, 1e-3, ("q_0.05(%d)"):format(k))
      close(st.nemenyi_q(k, 0.10), q10[k - 1], 0, 1e-3, ("q_0.10(%d)"):format(k))
    end
  end)

  it("k = 2: the range of two normals is sqrt(2) |Z|, so q = z_(1 - alpha/2)", function()
    close(st.nemenyi_q(2), st.normal_quantile(0.975), 1e-10, 0, "q_0.05(2)")
    close(st.nemenyi_q(2, 0.2), st.normal_quantile(0.9), 1e-10, 0, "q_0.20(2)")
  end)

  it("critical difference CD = q sqrt(k (k + 1) / (6 N))", function()
    close(st.nemenyi_cd(4, 24), st.nemenyi_q(4) * math.sqrt(20 / 144), 1e-15, 0, "cd(4, 24)")
    close(st.nemenyi_cd(4, 24), 0.9574, 0, 5e-4, "cd(4, 24) with q = 2.569")
    close(st.nemenyi_cd(5, 10, 0.1), st.nemenyi_q(5, 0.1) * math.sqrt(30 / 60), 1e-15, 0, "cd(5, 10, 0.1)")
  end)
end)

describe("errors a script can cause", function()
  it("empty, non-numeric and non-finite samples", function()
    has(errmsg(st.mean, {}), "stats.mean: x is empty")
    has(errmsg(st.std, "abc"), "stats.std: x must be an array of numbers, got string")
    has(errmsg(st.mean, { 1, "2" }), "stats.mean: x[2] must be a number, got string")
    has(errmsg(st.t_interval, { 1, 0 / 0 }), "x[2] is")
    has(errmsg(st.t_interval, { 1, math.huge }), "not a finite number")
    has(errmsg(st.std, { 1, 2 }, 1.5), "ddof must be a non-negative integer")
    has(errmsg(st.t_interval, { 1, 2 }, 95), "level must be in (0, 1), got 95")
    has(errmsg(st.rank, { 1, 2 }, "max"), "method must be 'average' or 'min', got max")
  end)

  it("wilcoxon: mismatched lengths, empty samples, bad options", function()
    has(errmsg(st.wilcoxon, { 1, 2, 3 }, { 1, 2 }), "stats.wilcoxon: x has 3 values and y has 2")
    has(errmsg(st.wilcoxon, {}), "stats.wilcoxon: x is empty")
    has(errmsg(st.wilcoxon, { 1 }, {}), "stats.wilcoxon: y is empty")
    has(errmsg(st.wilcoxon, { 1 }, nil, { method = "permutation" }), "opts.method must be 'auto', 'exact' or 'approx'")
    has(errmsg(st.wilcoxon, { 1 }, nil, { correction = "yes" }), "opts.correction must be a boolean")
  end)

  it("friedman and mean_ranks: too few treatments, ragged or empty blocks", function()
    has(errmsg(st.friedman, { { 1 }, { 2 } }), "stats.friedman: blocks: 1 treatment, needs at least 2")
    has(errmsg(st.friedman, { { 1, 2 }, { 1, 2, 3 } }), "blocks[2] has 3 values, blocks[1] has 2")
    has(errmsg(st.friedman, {}), "stats.friedman: blocks has no rows")
    has(errmsg(st.friedman, { { 1, 2 }, 3 }), "blocks[2] must be an array of numbers, got number")
    has(errmsg(st.friedman, { { 1, 2 }, {} }), "blocks[2] is empty")
    has(errmsg(st.mean_ranks, { { 1, 2 }, { 1, "x" } }), "stats.mean_ranks: rows[2][2] must be a number, got string")
  end)

  it("distributions: probabilities outside [0, 1], non-positive dof", function()
    has(errmsg(st.t_quantile, 1.5, 3), "stats.t_quantile: p must be in [0, 1], got 1.5")
    has(errmsg(st.t_cdf, 1, 0), "stats.t_cdf: df must be positive, got 0")
    has(errmsg(st.chi2_sf, 1, -2), "stats.chi2_sf: df must be positive, got -2")
    has(errmsg(st.t_cdf, 0 / 0, 3), "stats.t_cdf: t is NaN")
    has(errmsg(st.betainc, 0, 1, 0.5), "stats.betainc: a must be positive, got 0")
    has(errmsg(st.betainc, 1, 1, 2), "stats.betainc: x must be in [0, 1], got 2")
    has(errmsg(st.gammainc, 1, -1), "stats.gammainc: x must be >= 0, got -1")
    has(errmsg(st.normal_quantile, "0.5"), "stats.normal_quantile: p must be a number, got string")
  end)

  it("nemenyi: k < 2, no blocks, alpha outside (0, 1)", function()
    has(errmsg(st.nemenyi_q, 1), "stats.nemenyi_q: k must be an integer >= 2")
    has(errmsg(st.nemenyi_cd, 4, 0), "stats.nemenyi_cd: n must be a positive integer")
    has(errmsg(st.nemenyi_cd, 2.5, 10), "stats.nemenyi_cd: k must be an integer >= 2")
    has(errmsg(st.nemenyi_q, 4, 1.5), "alpha must be in (0, 1), got 1.5")
  end)
end)
