#!/usr/bin/python3
"""Reference values for tests/spec/stats_spec.lua, computed independently of
lua/synlua/stats.lua. There is no scipy here; instead:

- special functions and distributions with mpmath at 50 digits
  (betainc, gammainc, the t CDF as a beta integral, its quantile by
  findroot, the chi-square survival function, the normal quantile);
- the Nemenyi q: the studentized range CDF with infinite dof,
  k * int phi(z) (Phi(z+q) - Phi(z))^(k-1) dz, by mpmath.quad, inverted by
  findroot, divided by sqrt(2);
- Friedman: ranks and the statistic in exact rational arithmetic
  (fractions), the p-value with mpmath;
- Wilcoxon exact p: brute-force enumeration of all 2^n sign assignments of
  the ranks 1..n (not the counting recurrence stats.lua uses); the normal
  approximation with mpmath's erfc;
- mean, std, t-interval: exact rational mean and sum of squares, square root
  and t quantile with mpmath.

Run: /usr/bin/python3 tests/stats/gen_stats_cases.py > tests/stats/stats_cases.lua
"""
import itertools
import random
from fractions import Fraction

import mpmath as mp

mp.mp.dps = 50


def num(v):
    """A Lua number literal with 17 significant digits (round-trips a double)."""
    if isinstance(v, Fraction):
        v = mp.mpf(v.numerator) / v.denominator
    v = mp.mpf(v)
    if mp.isinf(v):
        return "math.huge" if v > 0 else "-math.huge"
    return mp.nstr(v, 17, min_fixed=-5, max_fixed=5, strip_zeros=False).replace("e+", "e")


def lua(v, indent=""):
    if isinstance(v, dict):
        items = ", ".join(f"{k} = {lua(x)}" for k, x in v.items())
        return "{ " + items + " }"
    if isinstance(v, (list, tuple)):
        return "{ " + ", ".join(lua(x) for x in v) + " }"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return num(v)


# ---------------------------------------------------------------- distributions

def t_cdf(t, df):
    t, df = mp.mpf(t), mp.mpf(df)
    tail = mp.betainc(df / 2, mp.mpf(1) / 2, 0, df / (df + t * t), regularized=True) / 2
    return 1 - tail if t >= 0 else tail


def t_quantile(p, df):
    p = mp.mpf(p)
    z = mp.sqrt(2) * mp.erfinv(2 * p - 1)
    # solve on the tail for precision far out; the t is near z for large dof
    tail = p if p < 0.5 else 1 - p
    sign = -1 if p < 0.5 else 1
    df = mp.mpf(df)
    f = lambda t: mp.betainc(df / 2, mp.mpf(1) / 2, 0, df / (df + t * t), regularized=True) / 2 - tail
    t = mp.findroot(f, (abs(z), abs(z) * 1.5 + 1), solver="anderson")
    return sign * t


betainc_cases = []
for a, b, x in [(0.5, 0.5, 0.3), (1, 1, 0.25), (2, 3, 0.4), (3, 2, 0.4), (10, 0.5, 0.9),
                (0.5, 10, 0.01), (100, 200, 0.33), (1000, 1000, 0.51), (0.1, 5, 1e-4),
                (5, 0.1, 0.999), (50, 50, 0.2), (4.5, 0.5, 0.99)]:
    betainc_cases.append({"a": a, "b": b, "x": x,
                          "want": mp.betainc(a, b, 0, mp.mpf(x), regularized=True)})

gammainc_cases = []
for a, x in [(0.5, 0.1), (0.5, 4), (1, 2), (3.5, 2), (10, 30), (100, 90), (100, 120),
             (0.01, 1e-3), (1e4, 1.01e4), (2.5, 0.5), (7, 7)]:
    a_, x_ = mp.mpf(a), mp.mpf(x)
    gammainc_cases.append({"a": a, "x": x,
                           "p": mp.gammainc(a_, 0, x_, regularized=True),
                           "q": mp.gammainc(a_, x_, mp.inf, regularized=True)})

t_cdf_cases = []
for t, df in [(0.0, 3), (1.0, 1), (-2.5, 1), (2.0, 2.5), (-0.7, 9), (3.1, 9), (-12.0, 4),
              (1.5, 30), (-4.0, 100), (2.2, 1e3), (5.0, 1e5), (-1.3, 0.5), (50.0, 3), (-9.0, 20),
              (2.0, 1e8), (-6.0, 1e12), (0.001, 7)]:
    t_cdf_cases.append({"t": t, "df": df, "want": t_cdf(t, df)})

t_quantile_cases = []
for p, df in [(0.975, 1), (0.975, 2), (0.975, 9), (0.975, 30), (0.995, 9), (0.9, 4.5),
              (0.6, 3), (0.025, 9), (1e-10, 5), (0.999999, 2), (0.975, 100), (0.975, 1e4),
              (0.95, 1e7), (0.3, 0.5), (0.975, 19), (0.975, 29)]:
    t_quantile_cases.append({"p": p, "df": df, "want": t_quantile(mp.mpf(p), df)})

chi2_cases = []
for x, df in [(3.0, 1), (3.0, 3), (7.81, 3), (0.5, 5), (40.0, 20), (120.0, 100), (80.0, 100),
              (1e-3, 1), (60.0, 4), (11.07, 5), (0.2, 0.7)]:
    x_, k = mp.mpf(x), mp.mpf(df)
    chi2_cases.append({"x": x, "df": df, "sf": mp.gammainc(k / 2, x_ / 2, mp.inf, regularized=True),
                       "cdf": mp.gammainc(k / 2, 0, x_ / 2, regularized=True)})

def normal_quantile(p):
    # findroot on the CDF, not erfinv(2p - 1): that rounds to -1 for tiny p
    # (on a log scale, so that p = 1e-100 converges)
    p = mp.mpf(p)
    if p == 0.5:
        return mp.mpf(0)
    if p > 0.5:
        return -normal_quantile(1 - p)
    return mp.findroot(lambda z: mp.log(mp.ncdf(z)) - mp.log(p), -mp.sqrt(-2 * mp.log(p)))


normal_cases = []
for p in [0.5, 0.975, 0.995, 0.8, 1e-10, 0.3, 1e-100, 0.999999]:
    normal_cases.append({"p": p, "z": normal_quantile(p)})


# ---------------------------------------------------------------- Nemenyi

def range_cdf(q, k):
    f = lambda z: mp.npdf(z) * (mp.ncdf(z + q) - mp.ncdf(z)) ** (k - 1)
    return k * mp.quad(f, [-mp.inf, -3, 0, 3, mp.inf])


nemenyi_cases = []
mp.mp.dps = 30
for alpha in (0.05, 0.10):
    for k in list(range(2, 11)) + [20]:
        g = lambda q: range_cdf(q, k) - (1 - mp.mpf(alpha))
        q = mp.findroot(g, (mp.mpf(2.5), mp.mpf(4.5)), solver="anderson")
        nemenyi_cases.append({"k": k, "alpha": alpha, "q": q / mp.sqrt(2)})
mp.mp.dps = 50


# ---------------------------------------------------------------- ranks

def ranks(values, method):
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [None] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        r = Fraction(i + 1) if method == "min" else Fraction(i + j + 2, 2)
        for p in range(i, j + 1):
            out[order[p]] = r
        i = j + 1
    return out


rng = random.Random(20240611)

mean_rank_cases = []
for n, k in [(6, 4), (12, 3), (1, 5), (24, 4)]:
    rows = [[rng.randint(0, 6) / 2 for _ in range(k)] for _ in range(n)]
    entry = {"rows": rows}
    for method in ("average", "min"):
        sums = [sum(ranks(r, method)[j] for r in rows) / n for j in range(k)]
        entry[method] = sums
    mean_rank_cases.append(entry)


# ---------------------------------------------------------------- Friedman

def friedman(blocks):
    n, k = len(blocks), len(blocks[0])
    R = [Fraction(0)] * k
    ties = 0
    for b in blocks:
        r = ranks([Fraction(v) for v in b], "average")
        for j in range(k):
            R[j] += r[j]
        for v in set(b):
            t = b.count(v)
            ties += t ** 3 - t
    chi2 = Fraction(12, n * k * (k + 1)) * sum(x * x for x in R) - 3 * n * (k + 1)
    c = 1 - Fraction(ties, n * k * (k * k - 1))
    stat = chi2 / c
    p = mp.gammainc(mp.mpf(k - 1) / 2, mp.mpf(stat.numerator) / stat.denominator / 2, mp.inf,
                    regularized=True)
    return stat, p, [x / n for x in R]


friedman_cases = []
for n, k, spread in [(6, 4, 40), (10, 3, 3), (5, 5, 4), (3, 2, 2), (20, 6, 100), (8, 4, 2)]:
    blocks = [[rng.randint(0, spread) / 2 for _ in range(k)] for _ in range(n)]
    stat, p, mr = friedman(blocks)
    friedman_cases.append({"blocks": blocks, "statistic": mp.mpf(stat.numerator) / stat.denominator,
                           "pvalue": p, "mean_ranks": mr})


# ---------------------------------------------------------------- Wilcoxon

def wilcoxon(d, method):
    d = [Fraction(v) for v in d if v != 0]
    n = len(d)
    r = ranks([abs(v) for v in d], "average")
    r_plus = sum(ri for ri, v in zip(r, d) if v > 0)
    r_minus = sum(ri for ri, v in zip(r, d) if v < 0)
    tie_groups = [d_abs for d_abs in set(abs(v) for v in d)]
    tie_sum = sum(c ** 3 - c for c in ([abs(v) for v in d].count(g) for g in tie_groups))
    if method == "auto":
        method = "exact" if n <= 50 and tie_sum == 0 else "approx"
    stat = min(r_plus, r_minus)
    if method == "exact":
        # all 2^n sign patterns of the untied ranks 1..n
        lo, hi = r_plus.__floor__(), r_plus.__ceil__()
        ge = le = 0
        for signs in itertools.product((0, 1), repeat=n):
            s = sum(i + 1 for i, sgn in enumerate(signs) if sgn)
            ge += s >= lo
            le += s <= hi
        p = min(Fraction(1), 2 * Fraction(min(ge, le), 2 ** n))
        return {"statistic": stat, "pvalue": mp.mpf(p.numerator) / p.denominator, "method": method,
                "r_plus": r_plus, "n": n}
    mn = Fraction(n * (n + 1), 4)
    var = Fraction(n * (n + 1) * (2 * n + 1), 24) - Fraction(tie_sum, 48)
    z = (mp.mpf(stat.numerator) / stat.denominator - mp.mpf(mn.numerator) / mn.denominator) \
        / mp.sqrt(mp.mpf(var.numerator) / var.denominator)
    p = min(mp.mpf(1), mp.erfc(abs(z) / mp.sqrt(2)))
    return {"statistic": stat, "pvalue": p, "method": method, "r_plus": r_plus, "n": n, "z": z}


wilcoxon_cases = []
# differences given directly, quarter steps so that ties and zeros occur and
# every value is exact in binary
for n in (5, 7, 9, 10, 12, 14):
    d = [rng.randint(-8, 16) / 4 for _ in range(n)]
    for method in ("auto", "exact", "approx"):
        w = wilcoxon(d, method)
        wilcoxon_cases.append(dict(d=d, opt=method, **w))
# paired samples x, y (the difference is exact in binary)
for n in (6, 11):
    x = [rng.randint(0, 40) / 4 for _ in range(n)]
    y = [rng.randint(0, 40) / 4 for _ in range(n)]
    w = wilcoxon([a - b for a, b in zip(x, y)], "auto")
    wilcoxon_cases.append(dict(x=x, y=y, opt="auto", **w))
# large n: the normal approximation (auto), untied
d = [(rng.random() - 0.3) for _ in range(60)]
d = [float(mp.nstr(v, 12)) for v in d]
wilcoxon_cases.append(dict(d=d, opt="auto", **wilcoxon(d, "auto")))


# ---------------------------------------------------------------- descriptive

describe_cases = []
for n in (2, 3, 10, 25):
    x = [round(rng.uniform(5, 50), 3) for _ in range(n)]
    fx = [Fraction(v) for v in x]  # the exact doubles
    m = sum(fx) / n
    ss = sum((v - m) ** 2 for v in fx)
    std = mp.sqrt(mp.mpf(ss.numerator) / ss.denominator / (n - 1))
    tq = t_quantile(mp.mpf("0.975"), n - 1)
    mean = mp.mpf(m.numerator) / m.denominator
    h = tq * std / mp.sqrt(n)
    describe_cases.append({"x": x, "mean": mean, "std": std, "t": tq, "lower": mean - h, "upper": mean + h})


print("-- Generated by tests/stats/gen_stats_cases.py (mpmath " + mp.__version__ + ", fractions,")
print("-- brute-force enumeration); do not edit. See the script for how each value is computed.")
print("return {")
for name, cases in [("betainc", betainc_cases), ("gammainc", gammainc_cases), ("t_cdf", t_cdf_cases),
                    ("t_quantile", t_quantile_cases), ("chi2", chi2_cases), ("normal", normal_cases),
                    ("nemenyi", nemenyi_cases), ("mean_ranks", mean_rank_cases),
                    ("friedman", friedman_cases), ("wilcoxon", wilcoxon_cases),
                    ("describe", describe_cases)]:
    print(f"  {name} = {{")
    for c in cases:
        print("    " + lua(c) + ",")
    print("  },")
print("}")
