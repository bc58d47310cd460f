-- sy.stats: the statistics of the paper's tables, in plain Lua (no C, no
-- scipy): mean, sample std and Student-t interval; Student t, normal and
-- chi-square distributions (from the regularized incomplete beta and gamma
-- functions); ranks with 'average' and 'min' ties; the Friedman test; the
-- two-sided Wilcoxon signed-rank test; the Nemenyi critical difference.
--
--   local st = sy.stats
--   local ci = st.t_interval({ 1.2, 0.9, 1.1 })         -- ci.mean, ci.lower, ci.upper
--   local f = st.friedman({ { 1, 2, 3 }, { 2, 1, 3 } }) -- rows are blocks, columns treatments
--   local w = st.wilcoxon(mae_a, mae_b)                -- w.statistic, w.pvalue, w.method
--   local cd = st.nemenyi_cd(4, 24)                    -- k treatments, N blocks, alpha 0.05
--
-- Samples are Lua arrays of finite numbers. Errors are raised without a
-- position (level 0) and name the function, the argument and the value.
-- Results match scipy.stats where scipy has the function; where synlua
-- differs, the function's comment says so.
local M = {}

local abs, exp, log, sqrt, floor, ceil = math.abs, math.exp, math.log, math.sqrt, math.floor, math.ceil
local huge, pi = math.huge, math.pi
local nan = 0 / 0

local EPS = 2.220446049250313e-16 -- 2^-52
local TINY = 1e-300               -- keeps Lentz's denominators away from zero
local MAX_ITER = 100000           -- continued fractions need O(sqrt(max(a, b))) terms

-- ------------------------------------------------------------ argument checks

local function fail(who, fmt, ...)
  error(("stats.%s: " .. fmt):format(who, ...), 0)
end

local function is_finite(v)
  return v == v and v ~= huge and v ~= -huge
end

local function check_number(who, name, v)
  if type(v) ~= "number" then fail(who, "%s must be a number, got %s", name, type(v)) end
  if v ~= v then fail(who, "%s is NaN", name) end
  return v
end

local function check_sample(who, name, x, min_n)
  if type(x) ~= "table" then fail(who, "%s must be an array of numbers, got %s", name, type(x)) end
  local n = #x
  if n < (min_n or 1) then
    if n == 0 then fail(who, "%s is empty", name) end
    fail(who, "%s has %d values, needs at least %d", name, n, min_n)
  end
  for i = 1, n do
    local v = x[i]
    if type(v) ~= "number" then fail(who, "%s[%d] must be a number, got %s", name, i, type(v)) end
    if not is_finite(v) then fail(who, "%s[%d] is %s, not a finite number", name, i, tostring(v)) end
  end
  return n
end

local function check_probability(who, name, p)
  check_number(who, name, p)
  if p < 0 or p > 1 then fail(who, "%s must be in [0, 1], got %s", name, tostring(p)) end
  return p
end

local function check_positive(who, name, v)
  check_number(who, name, v)
  if v <= 0 then fail(who, "%s must be positive, got %s", name, tostring(v)) end
  return v
end

-- ------------------------------------------------------------ special functions

-- log Gamma(x) for x > 0: Lanczos' approximation (g = 7, 9 terms; relative
-- error about 1e-15), with the reflection formula below 1/2.
local LANCZOS = {
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
}
local HALF_LOG_2PI = 0.5 * log(2 * pi)

local function lgamma(x)
  if x < 0.5 then
    return log(pi / abs(math.sin(pi * x))) - lgamma(1 - x)
  end
  x = x - 1
  local s = LANCZOS[1]
  for i = 2, #LANCZOS do s = s + LANCZOS[i] / (x + i - 1) end
  local t = x + 7.5
  return HALF_LOG_2PI + (x + 0.5) * log(t) - t + log(s)
end

-- log(1 + u), accurate for small u: the rounding of 1 + u is divided out.
local function log1p(u)
  local w = 1 + u
  if w == 1 then return u end
  return log(w) * u / (w - 1)
end

-- lgamma(x) - Stirling's approximation, by its asymptotic series (for
-- x >= 20 the first omitted term, 1/(1188 x^9), is below 2e-15).
local function stirling_rest(x)
  local r = 1 / (x * x)
  return (1 / 12 - r * (1 / 360 - r * (1 / 1260 - r / 1680))) / x
end

-- log B(a, b). When the larger argument is big, lgamma(big) and
-- lgamma(big + small) nearly cancel; their difference is taken from
-- Stirling's formula instead, where it reduces to log1p terms (keeps the t
-- distribution accurate for large dof).
local function lbeta(a, b)
  local small, big = math.min(a, b), math.max(a, b)
  if big < 20 then return lgamma(a) + lgamma(b) - lgamma(a + b) end
  local diff = -(big - 0.5) * log1p(small / big) - small * log(big + small) + small
               + stirling_rest(big) - stirling_rest(big + small)
  return lgamma(small) + diff
end

-- Continued fraction of I_x(a, b) (the even/odd terms d_2m, d_2m+1 of the
-- standard expansion), evaluated by the modified Lentz method. Converges
-- quickly for x < (a + 1) / (a + b + 2).
local function betacf(a, b, x, y)
  -- 1 - (a + b) x / (a + 1), written with y = 1 - x so that it does not
  -- cancel when x is near 1 (the t distribution with many dof)
  local c, d = 1.0, (1 - b + (a + b) * y) / (a + 1)
  if abs(d) < TINY then d = TINY end
  d = 1 / d
  local h = d
  for m = 1, MAX_ITER do
    local m2 = 2 * m
    local num = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
    d = 1 + num * d; if abs(d) < TINY then d = TINY end
    c = 1 + num / c; if abs(c) < TINY then c = TINY end
    d = 1 / d
    h = h * d * c
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
    d = 1 + num * d; if abs(d) < TINY then d = TINY end
    c = 1 + num / c; if abs(c) < TINY then c = TINY end
    d = 1 / d
    local delta = d * c
    h = h * delta
    if abs(delta - 1) < 4 * EPS then return h end
  end
  error(("stats.betainc: continued fraction for a=%g, b=%g, x=%g did not converge"):format(a, b, x), 0)
end

-- log(r) where r = 1 + e is a ratio near 1 whose excess e is known without
-- rounding, or r itself when it is far from 1
local function log_ratio(e, r)
  if abs(e) < 0.5 then return log1p(e) end
  return log(r)
end

-- log(x^a y^b / B(a, b)), the front factor of I_x(a, b). When a and b are
-- both large the terms are huge and cancel; Stirling's formula turns them
-- into a log(x/x0) + b log(y/y0) + ... around the mode x0 = a/(a+b), where
-- the logs are of ratios near 1.
local function lfront_beta(a, b, x, y)
  if math.min(a, b) >= 20 then
    local e = x * b - y * a -- x/x0 - 1 = e/a and y/y0 - 1 = -e/b
    return a * log_ratio(e / a, x * (a + b) / a) + b * log_ratio(-e / b, y * (a + b) / b)
           + 0.5 * log(a * b / (a + b)) - HALF_LOG_2PI
           - stirling_rest(a) - stirling_rest(b) + stirling_rest(a + b)
  end
  -- log x and log y from whichever of x, y is the small one, so that a log x
  -- keeps its precision when x is near 1 and a is large
  local lx = x > 0.5 and log1p(-y) or log(x)
  local ly = y > 0.5 and log1p(-x) or log(y)
  return a * lx + b * ly - lbeta(a, b)
end

-- I_x(a, b) with y = 1 - x passed in separately, so that callers who know
-- 1 - x more precisely than by subtraction (the t distribution) keep it.
local function ibeta(a, b, x, y)
  if x <= 0 then return 0 end
  if y <= 0 then return 1 end
  local front = exp(lfront_beta(a, b, x, y))
  if x < (a + 1) / (a + b + 2) then
    return front * betacf(a, b, x, y) / a
  end
  return 1 - front * betacf(b, a, y, x) / b
end

-- Regularized incomplete gamma P(a, x) and Q(a, x) = 1 - P(a, x), returned
-- together: the series for P below x = a + 1, the continued fraction for Q
-- (modified Lentz) above, so the smaller of the two is never a difference.
local function igamma(a, x)
  if x <= 0 then return 0, 1 end
  if x == huge then return 1, 0 end
  local lfront
  local u = (x - a) / a
  if a >= 20 and abs(u) < 0.5 then
    -- a log x - x - lgamma(a) cancels for large a with x near a; with
    -- Stirling's formula it becomes a (log1p(u) - u) + ..., u = x/a - 1
    lfront = a * (log1p(u) - u) + 0.5 * log(a) - HALF_LOG_2PI - stirling_rest(a)
  else
    lfront = a * log(x) - x - lgamma(a)
  end
  if x < a + 1 then
    local term = 1 / a
    local sum = term
    for n = 1, MAX_ITER do
      term = term * x / (a + n)
      sum = sum + term
      if abs(term) < abs(sum) * EPS then
        local p = sum * exp(lfront)
        return p, 1 - p
      end
    end
    error(("stats.gammainc: series for a=%g, x=%g did not converge"):format(a, x), 0)
  end
  local b = x + 1 - a
  local c, d = 1 / TINY, 1 / b
  local h = d
  for i = 1, MAX_ITER do
    local num = -i * (i - a)
    b = b + 2
    d = num * d + b; if abs(d) < TINY then d = TINY end
    c = b + num / c; if abs(c) < TINY then c = TINY end
    d = 1 / d
    local delta = d * c
    h = h * delta
    if abs(delta - 1) < 4 * EPS then
      local q = exp(lfront) * h
      return 1 - q, q
    end
  end
  error(("stats.gammainc: continued fraction for a=%g, x=%g did not converge"):format(a, x), 0)
end

--- log Gamma(x), x > 0.
function M.lgamma(x)
  return lgamma(check_positive("lgamma", "x", x))
end

--- Regularized incomplete beta I_x(a, b) (scipy.special.betainc).
function M.betainc(a, b, x)
  check_positive("betainc", "a", a)
  check_positive("betainc", "b", b)
  check_probability("betainc", "x", x)
  return ibeta(a, b, x, 1 - x)
end

--- Regularized lower incomplete gamma P(a, x) (scipy.special.gammainc).
function M.gammainc(a, x)
  check_positive("gammainc", "a", a)
  if check_number("gammainc", "x", x) < 0 then fail("gammainc", "x must be >= 0, got %s", tostring(x)) end
  return (igamma(a, x))
end

--- Regularized upper incomplete gamma Q(a, x) (scipy.special.gammaincc).
function M.gammaincc(a, x)
  check_positive("gammaincc", "a", a)
  if check_number("gammaincc", "x", x) < 0 then fail("gammaincc", "x must be >= 0, got %s", tostring(x)) end
  local _, q = igamma(a, x)
  return q
end

-- ------------------------------------------------------------ distributions

-- Upper tails for t >= 0, and their densities (the derivative of the tail is
-- minus the density), used by the quantile search below.
local function normal_tail(z)
  -- 1 - Phi(z) = erfc(z / sqrt 2) / 2 and erfc(u) = Q(1/2, u^2)
  local _, q = igamma(0.5, 0.5 * z * z)
  return 0.5 * q
end

local function normal_pdf(z)
  return exp(-0.5 * z * z - HALF_LOG_2PI)
end

-- Above LARGE_DF dof the continued fraction of I_x(df/2, 1/2) loses digits
-- (x = df / (df + t^2) is near 1 and its terms cancel: relative error 1e-12
-- at 1e5 dof, 4e-11 at 1e6, 1e-6 at 1e12), so the t distribution comes from
-- the normal by the Cornish-Fisher expansion t = z + g1(z)/df + ... +
-- g4(z)/df^4 (Abramowitz & Stegun 26.7.5). Against mpmath at 1e5 dof it is
-- within 2e-14 for |t| <= 12; the omitted term grows like z^11 / df^5, about
-- 1e-11 relative at the farthest tail a double holds (|t| = 38).
local LARGE_DF = 1e5

local function cornish_fisher(z, df)
  local z2 = z * z
  local g1 = (z2 + 1) * z / 4
  local g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
  local g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
  local g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
  local t = z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
  -- dt/dz, for the Newton steps that invert the expansion
  local d1 = (3 * z2 + 1) / 4
  local d2 = ((25 * z2 + 48) * z2 + 3) / 96
  local d3 = (((21 * z2 + 95) * z2 + 51) * z2 - 15) / 384
  local d4 = ((((711 * z2 + 5432) * z2 + 7410) * z2 - 5760) * z2 - 945) / 92160
  return t, 1 + (d1 + (d2 + (d3 + d4 / df) / df) / df) / df
end

local function t_tail(t, df)
  if df == huge then return normal_tail(t) end
  if t == huge then return 0 end
  if df > LARGE_DF then
    -- beyond t = 40 the tail is below the smallest double (about 1e-348)
    if t > 40 then return 0 end
    local z = t
    for _ = 1, 50 do
      local f, df_dz = cornish_fisher(z, df)
      local step = (f - t) / df_dz
      z = z - step
      if abs(step) <= EPS * abs(z) then break end
    end
    return normal_tail(z)
  end
  -- P(T > t) = I_x(df/2, 1/2) / 2 with x = df / (df + t^2)
  local t2 = t * t
  return 0.5 * ibeta(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2))
end

local function t_pdf(t, df)
  return exp(lgamma(0.5 * (df + 1)) - lgamma(0.5 * df) - 0.5 * log(df * pi)
             - 0.5 * (df + 1) * log(1 + t * t / df))
end

-- The t >= 0 with tail(t) = q, for 0 < q < 1/2: double an upper bound until
-- it brackets the root, then Newton steps on tail(t) - q, falling back to
-- bisection whenever a step leaves the bracket, until the bracket or the
-- step is at rounding level. Working on the tail (not the CDF) keeps full
-- relative precision for quantiles far out (p = 1e-12).
local function invert_tail(tail, pdf, q)
  local lo, hi = 0.0, 1.0
  while tail(hi) > q do
    lo, hi = hi, 2 * hi
    if hi == huge then return huge end
  end
  local t = 0.5 * (lo + hi)
  for _ = 1, 400 do
    local g = tail(t) - q
    if g == 0 then return t end
    if g > 0 then lo = t else hi = t end
    local step = g / pdf(t)
    local nt = t + step
    if not (nt > lo and nt < hi) then
      nt = 0.5 * (lo + hi)
    end
    if abs(nt - t) <= 4 * EPS * nt or hi - lo <= 4 * EPS * hi then return nt end
    t = nt
  end
  return t
end

--- Standard normal CDF Phi(z).
function M.normal_cdf(z)
  check_number("normal_cdf", "z", z)
  if z >= 0 then return 1 - normal_tail(z) end
  return normal_tail(-z)
end

--- Standard normal quantile Phi^-1(p); -inf and inf at p = 0 and 1.
function M.normal_quantile(p)
  check_probability("normal_quantile", "p", p)
  if p == 0.5 then return 0.0 end
  if p < 0.5 then
    if p == 0 then return -huge end
    return -invert_tail(normal_tail, normal_pdf, p)
  end
  if p == 1 then return huge end
  return invert_tail(normal_tail, normal_pdf, 1 - p)
end

--- Student t CDF with df > 0 degrees of freedom (any real df; math.huge is the normal).
function M.t_cdf(t, df)
  check_number("t_cdf", "t", t)
  check_positive("t_cdf", "df", df)
  if t >= 0 then return 1 - t_tail(t, df) end
  return t_tail(-t, df)
end

--- Student t quantile: the t with t_cdf(t, df) = p; -inf and inf at p = 0 and 1.
function M.t_quantile(p, df)
  check_probability("t_quantile", "p", p)
  check_positive("t_quantile", "df", df)
  if p == 0.5 then return 0.0 end
  if df > LARGE_DF then
    local z = M.normal_quantile(p)
    if df == huge or z == huge or z == -huge then return z end
    return (cornish_fisher(z, df))
  end
  local tail = function(t) return t_tail(t, df) end
  local pdf = function(t) return t_pdf(t, df) end
  if p < 0.5 then
    if p == 0 then return -huge end
    return -invert_tail(tail, pdf, p)
  end
  if p == 1 then return huge end
  return invert_tail(tail, pdf, 1 - p)
end

--- Chi-square CDF with df > 0 degrees of freedom.
function M.chi2_cdf(x, df)
  check_number("chi2_cdf", "x", x)
  check_positive("chi2_cdf", "df", df)
  return (igamma(0.5 * df, math.max(x, 0) * 0.5))
end

--- Chi-square survival function P(X > x) = Q(df/2, x/2).
function M.chi2_sf(x, df)
  check_number("chi2_sf", "x", x)
  check_positive("chi2_sf", "df", df)
  local _, q = igamma(0.5 * df, math.max(x, 0) * 0.5)
  return q
end

-- ------------------------------------------------------------ descriptive

-- Neumaier's compensated sum: a mean does not depend on the order of the
-- trials beyond its last digit.
local function fsum(x, n)
  local s, c = 0.0, 0.0
  for i = 1, n do
    local v = x[i]
    local t = s + v
    if abs(s) >= abs(v) then c = c + ((s - t) + v) else c = c + ((v - t) + s) end
    s = t
  end
  return s + c
end

local function mean_std(x, n, ddof)
  local m = fsum(x, n) / n
  if n - ddof <= 0 then return m, nan end
  -- two passes, with the first-order correction of the rounding in m
  local ss, sd = 0.0, 0.0
  for i = 1, n do
    local d = x[i] - m
    ss = ss + d * d
    sd = sd + d
  end
  return m, sqrt(math.max(ss - sd * sd / n, 0) / (n - ddof))
end

--- Arithmetic mean of a non-empty sample.
function M.mean(x)
  local n = check_sample("mean", "x", x)
  return fsum(x, n) / n
end

--- Standard deviation with ddof (default 1: the sample std, numpy's
--- std(x, ddof=1)); NaN when the sample has no more than ddof values.
function M.std(x, ddof)
  local n = check_sample("std", "x", x)
  if ddof == nil then ddof = 1 end
  if math.type(ddof) ~= "integer" or ddof < 0 then
    fail("std", "ddof must be a non-negative integer, got %s", tostring(ddof))
  end
  local _, s = mean_std(x, n, ddof)
  return s
end

--- Student-t confidence interval for the mean (default level 0.95):
--- mean +- t(1 - (1 - level)/2, n - 1) * std / sqrt(n). Returns
--- { mean, std, n, df, level, t, half_width, lower, upper }; with one value
--- std, t and the interval are NaN.
function M.t_interval(x, level)
  local n = check_sample("t_interval", "x", x)
  if level == nil then level = 0.95 end
  check_number("t_interval", "level", level)
  if not (level > 0 and level < 1) then fail("t_interval", "level must be in (0, 1), got %s", tostring(level)) end
  local m, s = mean_std(x, n, 1)
  local tq, h = nan, nan
  if n > 1 then
    tq = M.t_quantile(1 - 0.5 * (1 - level), n - 1)
    h = tq * s / sqrt(n)
  end
  return { mean = m, std = s, n = n, df = n - 1, level = level, t = tq,
           half_width = h, lower = m - h, upper = m + h }
end

-- ------------------------------------------------------------ ranks

-- Ranks (1 = smallest) with ties by `method`: 'average' (the mean of the
-- positions the tied values occupy) or 'min' (the lowest of them), as
-- scipy.stats.rankdata and pandas' rank. Also returns the sizes of the tie
-- groups (only groups larger than one).
local function rank_values(v, n, method)
  local order = {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(a, b)
    if v[a] ~= v[b] then return v[a] < v[b] end
    return a < b
  end)
  local ranks, ties = {}, {}
  local i = 1
  while i <= n do
    local j = i
    while j < n and v[order[j + 1]] == v[order[i]] do j = j + 1 end
    local r = method == "min" and i or 0.5 * (i + j)
    for p = i, j do ranks[order[p]] = r end
    if j > i then ties[#ties + 1] = j - i + 1 end
    i = j + 1
  end
  return ranks, ties
end

local function check_method(who, method)
  if method == nil then return "average" end
  if method ~= "average" and method ~= "min" then
    fail(who, "method must be 'average' or 'min', got %s", tostring(method))
  end
  return method
end

--- Ranks of a sample (1 = smallest); ties by method 'average' (default) or 'min'.
function M.rank(x, method)
  local n = check_sample("rank", "x", x)
  method = check_method("rank", method)
  local ranks = rank_values(x, n, method)
  return ranks
end

-- A table of rows, each with the same number (>= min_k) of finite numbers.
local function check_rows(who, name, rows, min_k)
  if type(rows) ~= "table" then fail(who, "%s must be an array of rows, got %s", name, type(rows)) end
  local n = #rows
  if n == 0 then fail(who, "%s has no rows", name) end
  local k
  for i = 1, n do
    local row = rows[i]
    if type(row) ~= "table" then fail(who, "%s[%d] must be an array of numbers, got %s", name, i, type(row)) end
    local ki = check_sample(who, ("%s[%d]"):format(name, i), row)
    if k == nil then
      k = ki
    elseif ki ~= k then
      fail(who, "%s[%d] has %d values, %s[1] has %d", name, i, ki, name, k)
    end
  end
  if k < min_k then fail(who, "%s: %d treatment%s, needs at least %d", name, k, k == 1 and "" or "s", min_k) end
  return n, k
end

--- Mean rank of each column: every row is ranked on its own (1 = smallest,
--- ties by 'average' (default) or 'min') and the ranks are averaged over the
--- rows. rows[i][j] is treatment j's score in block i.
function M.mean_ranks(rows, method)
  method = check_method("mean_ranks", method)
  local n, k = check_rows("mean_ranks", "rows", rows, 1)
  local sums = {}
  for j = 1, k do sums[j] = 0.0 end
  for i = 1, n do
    local r = rank_values(rows[i], k, method)
    for j = 1, k do sums[j] = sums[j] + r[j] end
  end
  for j = 1, k do sums[j] = sums[j] / n end
  return sums
end

-- ------------------------------------------------------------ Friedman

--- Friedman test (scipy.stats.friedmanchisquare): blocks[i][j] is treatment
--- j's value in block i (n blocks, k >= 2 treatments). Ranks within each
--- block with average ties; chi2 = 12/(n k (k+1)) sum R_j^2 - 3 n (k+1),
--- divided by the tie correction 1 - sum(t^3 - t) / (n k (k^2 - 1)); p from
--- the chi-square survival function with k - 1 dof. Returns { statistic,
--- pvalue, df, n, k, mean_ranks }. When every block is entirely tied the
--- statistic is 0/0 and statistic and pvalue are NaN (as in scipy). Unlike
--- scipy, two treatments are allowed (the test is then the sign test with
--- the normal approximation).
function M.friedman(blocks)
  local n, k = check_rows("friedman", "blocks", blocks, 2)
  local sums, tie_sum = {}, 0.0
  for j = 1, k do sums[j] = 0.0 end
  for i = 1, n do
    local r, ties = rank_values(blocks[i], k, "average")
    for j = 1, k do sums[j] = sums[j] + r[j] end
    for _, t in ipairs(ties) do tie_sum = tie_sum + (t * t * t - t) end
  end
  local ss = 0.0
  for j = 1, k do ss = ss + sums[j] * sums[j] end
  local chi2 = 12 / (n * k * (k + 1)) * ss - 3 * n * (k + 1)
  local c = 1 - tie_sum / (n * k * (k * k - 1))
  local mean_ranks = {}
  for j = 1, k do mean_ranks[j] = sums[j] / n end
  local statistic, p = nan, nan
  if c > 0 then
    statistic = math.max(chi2 / c, 0)
    p = M.chi2_sf(statistic, k - 1)
  end
  return { statistic = statistic, pvalue = p, df = k - 1, n = n, k = k, mean_ranks = mean_ranks }
end

-- ------------------------------------------------------------ Wilcoxon

-- Null distribution of T+ for n untied ranks 1..n: c[s + 1] = P(T+ = s),
-- by the counting recurrence c[s] += c[s - r] for r = 1..n, s from n(n+1)/2
-- down to r, halving at each r so that the table holds probabilities. The
-- halvings are exact in binary floating point, so for n <= 50 every entry is
-- the exact count / 2^n.
local function signed_rank_null(n)
  local top = n * (n + 1) // 2
  local c = { 1.0 }
  for s = 1, top do c[s + 1] = 0.0 end
  for r = 1, n do
    local reach = r * (r + 1) // 2 -- the largest sum the first r ranks can reach
    for s = reach, r, -1 do c[s + 1] = 0.5 * (c[s + 1] + c[s - r + 1]) end
    for s = r - 1, 0, -1 do c[s + 1] = 0.5 * c[s + 1] end
  end
  return c, top
end

local EXACT_MAX_N = 50

--- Two-sided Wilcoxon signed-rank test of x - y (or of x itself when y is
--- nil) against symmetry about zero, as scipy.stats.wilcoxon with
--- zero_method='wilcox': zero differences are dropped, |d| ranked with
--- average ties, statistic = min(r+, r-).
---
--- opts.method: 'exact' uses the null distribution of the signed-rank sum,
---   p = min(1, 2 min(P(T+ >= floor(r+)), P(T+ <= ceil(r+)))) (with ties
---   this is the tie-free distribution, only an approximation); 'approx' the
---   normal approximation, z = (T - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24 -
---   sum(t^3 - t)/48) with the tie correction of the variance, p = 2 Phi(-|z|),
---   without continuity correction unless opts.correction is true (scipy's
---   default is none too); 'auto' (default) is exact when at most 50 nonzero
---   differences remain and their absolute values have no ties, else approx.
---   scipy's 'auto' has changed across versions: zeros sent it to approx, and
---   since 1.15 small samples with ties or zeros get a permutation test;
---   synlua drops zeros and stays exact, as REFERENCE.md §7 prescribes for
---   the paper's tables.
--- Returns { statistic, pvalue, method, n (nonzero differences), zeros,
--- r_plus, r_minus, z (approx only) }. With all differences zero, the exact
--- p is 1 and the approximate one NaN.
function M.wilcoxon(x, y, opts)
  local nx = check_sample("wilcoxon", "x", x)
  if y ~= nil then
    local ny = check_sample("wilcoxon", "y", y)
    if ny ~= nx then fail("wilcoxon", "x has %d values and y has %d; paired samples must have the same length", nx, ny) end
  end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then fail("wilcoxon", "opts must be a table, got %s", type(opts)) end
  local method = opts.method or "auto"
  if method ~= "auto" and method ~= "exact" and method ~= "approx" then
    fail("wilcoxon", "opts.method must be 'auto', 'exact' or 'approx', got %s", tostring(method))
  end
  local correction = opts.correction or false
  if type(correction) ~= "boolean" then
    fail("wilcoxon", "opts.correction must be a boolean, got %s", type(correction))
  end

  local d, mag = {}, {}
  for i = 1, nx do
    local di = y and x[i] - y[i] or x[i]
    if di ~= 0 then
      d[#d + 1] = di
      mag[#mag + 1] = abs(di)
    end
  end
  local n = #d
  local ranks, ties = rank_values(mag, n, "average")
  local r_plus, r_minus = 0.0, 0.0
  for i = 1, n do
    if d[i] > 0 then r_plus = r_plus + ranks[i] else r_minus = r_minus + ranks[i] end
  end
  if method == "auto" then
    method = (n <= EXACT_MAX_N and #ties == 0) and "exact" or "approx"
  end

  local result = { statistic = math.min(r_plus, r_minus), method = method, n = n,
                   zeros = nx - n, r_plus = r_plus, r_minus = r_minus }
  if method == "exact" then
    local c, top = signed_rank_null(n)
    local ge_from, le_to = floor(r_plus), ceil(r_plus)
    local p_ge, p_le = 0.0, 0.0
    for s = top, ge_from, -1 do p_ge = p_ge + c[s + 1] end
    for s = 0, le_to do p_le = p_le + c[s + 1] end
    result.pvalue = math.min(1, 2 * math.min(p_ge, p_le))
  else
    local tie_sum = 0.0
    for _, t in ipairs(ties) do tie_sum = tie_sum + (t * t * t - t) end
    local mn = n * (n + 1) / 4
    local se = sqrt((n * (n + 1) * (2 * n + 1) - 0.5 * tie_sum) / 24)
    local num = result.statistic - mn
    if correction and num ~= 0 then num = num - 0.5 * (num > 0 and 1 or -1) end
    local z = num / se
    result.z = z
    result.pvalue = z == z and math.min(1, 2 * normal_tail(abs(z))) or nan
  end
  return result
end

-- ------------------------------------------------------------ Nemenyi

-- CDF of the range of k independent standard normals (the studentized range
-- with infinite dof): F(q) = k * integral phi(z) (Phi(z + q) - Phi(z))^(k-1) dz.
-- The integrand is smooth and decays like phi, so the trapezoid rule on
-- [-10, 10] converges fast: steps 1/8, 1/16 and 1/32 give the same q to
-- 1e-14 for k up to 50.
local RANGE_STEP, RANGE_LIMIT = 1 / 16, 10
local range_grid

local function normal_cdf(z)
  if z >= 0 then return 1 - normal_tail(z) end
  return normal_tail(-z)
end

-- F(q) and its derivative k (k-1) integral phi(z) phi(z+q) (Phi(z+q) - Phi(z))^(k-2) dz
local function range_cdf(q, k)
  if range_grid == nil then
    range_grid = { z = {}, pdf = {}, cdf = {} }
    local m = floor(2 * RANGE_LIMIT / RANGE_STEP + 0.5)
    for i = 0, m do
      local z = -RANGE_LIMIT + i * RANGE_STEP
      range_grid.z[i + 1], range_grid.pdf[i + 1], range_grid.cdf[i + 1] = z, normal_pdf(z), normal_cdf(z)
    end
  end
  local g = range_grid
  local s, ds = 0.0, 0.0
  for i = 1, #g.z do
    local zq = g.z[i] + q
    local inner = normal_cdf(zq) - g.cdf[i]
    if inner > 0 then
      local pw = inner ^ (k - 2)
      s = s + g.pdf[i] * pw * inner
      ds = ds + g.pdf[i] * normal_pdf(zq) * pw
    end
  end
  return k * s * RANGE_STEP, k * (k - 1) * ds * RANGE_STEP
end

local nemenyi_cache = {}

--- The Nemenyi test's q_alpha for k treatments: the (1 - alpha) quantile of
--- the studentized range of k normals with infinite dof, divided by sqrt 2
--- (default alpha 0.05). Computed, not tabulated; for k = 2..10 it agrees
--- with Demšar (2006), Table 5 (q_0.05 = 1.960, 2.343, 2.569, ..., 3.164) to
--- the 3 decimals printed there.
function M.nemenyi_q(k, alpha)
  if math.type(k) ~= "integer" or k < 2 then
    fail("nemenyi_q", "k must be an integer >= 2 (the number of treatments), got %s", tostring(k))
  end
  if alpha == nil then alpha = 0.05 end
  check_number("nemenyi_q", "alpha", alpha)
  if not (alpha > 0 and alpha < 1) then fail("nemenyi_q", "alpha must be in (0, 1), got %s", tostring(alpha)) end
  local key = k .. ":" .. alpha
  if nemenyi_cache[key] then return nemenyi_cache[key] end
  -- Newton on the monotone CDF, bisecting [0, 64] when a step leaves the bracket
  local lo, hi, q = 0.0, 64.0, 3.0
  for _ = 1, 200 do
    local f, dens = range_cdf(q, k)
    local g = f - (1 - alpha)
    if g < 0 then lo = q else hi = q end
    local nq = q - g / dens
    if not (nq > lo and nq < hi) then nq = 0.5 * (lo + hi) end
    local done = abs(nq - q) <= 4 * EPS * nq
    q = nq
    if done then break end
  end
  q = q / sqrt(2)
  nemenyi_cache[key] = q
  return q
end

--- Nemenyi critical difference for k treatments ranked over n blocks:
--- CD = q_alpha sqrt(k (k + 1) / (6 n)). Two mean ranks that differ by more
--- than CD differ significantly at level alpha (default 0.05).
function M.nemenyi_cd(k, n, alpha)
  if math.type(n) ~= "integer" or n < 1 then
    fail("nemenyi_cd", "n must be a positive integer (the number of blocks), got %s", tostring(n))
  end
  if math.type(k) ~= "integer" or k < 2 then
    fail("nemenyi_cd", "k must be an integer >= 2 (the number of treatments), got %s", tostring(k))
  end
  return M.nemenyi_q(k, alpha) * sqrt(k * (k + 1) / (6 * n))
end

return M
