-- sy.report, its SVG figures and scripts/report.lua, on a hand-made results
-- file whose statistics are known: the table values against sy.stats (and
-- the Friedman statistic by hand), the layout of the Markdown and CSV
-- tables, the published values beside ours, the generated summary, SVG that
-- is well-formed XML with one mark per bar or point, both protocols side by
-- side; and the transcribed paper values against the statistics they claim.
local sy = require("synlua")
local util = require("testutil")
local report = sy.report
local svg = require("synlua.report.svg")
local paper = require("synlua.paper_results")
local ex = sy.experiment

local BIN = assert(os.getenv("SYNLUA_BIN"), "SYNLUA_BIN is not set")
local SOURCE_DIR = os.getenv("SYNLUA_SOURCE_DIR") or "."
local q = util.quote

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. q(d)))
  return d
end

local function has(s, needle)
  assert(s and s:find(needle, 1, true), ("%q not found in:\n%s"):format(needle, tostring(s)))
end

local function count(s, needle)
  local n, pos = 0, 1
  while true do
    local a, b = s:find(needle, pos, true)
    if not a then return n end
    n, pos = n + 1, b + 1
  end
end

-- A small XML well-formedness check: balanced and properly nested tags, one
-- root, quoted attributes, and every '&' starting a known entity.
local function check_xml(s)
  local function entities(text, where)
    for e in text:gmatch("&([^;%s]*);?") do
      assert(e == "amp" or e == "lt" or e == "gt" or e == "quot" or e == "apos" or e:match("^#%d+$")
        or e:match("^#x%x+$"), ("bad entity '&%s' in %s"):format(e, where))
    end
  end
  local stack, roots, pos = {}, 0, 1
  while true do
    local lt = s:find("<", pos, true)
    local text = s:sub(pos, (lt or #s + 1) - 1)
    entities(text, "text")
    if #stack == 0 then assert(text:match("^%s*$"), "text outside the root element: " .. text) end
    if not lt then break end
    local gt = s:find(">", lt, true)
    assert(gt, "unterminated tag at " .. lt)
    local tag = s:sub(lt + 1, gt - 1)
    pos = gt + 1
    if tag:sub(1, 1) == "?" or tag:sub(1, 3) == "!--" then
      -- prolog or comment
    elseif tag:sub(1, 1) == "/" then
      local name = tag:sub(2):match("^%s*([%w:_%-]+)%s*$")
      assert(name, "bad end tag <" .. tag .. ">")
      assert(stack[#stack] == name, ("</%s> closes <%s>"):format(name, tostring(stack[#stack])))
      stack[#stack] = nil
    else
      local name, rest = tag:match("^([%w:_%-]+)(.*)$")
      assert(name, "bad tag <" .. tag .. ">")
      local self_closing = rest:sub(-1) == "/"
      if self_closing then rest = rest:sub(1, -2) end
      local seen = {}
      local left = rest:gsub('%s+([%w:_%-]+)="([^"<]*)"', function(k, v)
        assert(not seen[k], ("attribute %s twice in <%s>"):format(k, name))
        seen[k] = true
        entities(v, "attribute " .. k)
        return ""
      end)
      assert(left:match("^%s*$"), ("bad attributes in <%s>: %s"):format(name, left))
      if #stack == 0 then roots = roots + 1 end
      if not self_closing then stack[#stack + 1] = name end
    end
  end
  assert(#stack == 0, "unclosed <" .. tostring(stack[#stack]) .. ">")
  assert(roots == 1, ("%d root elements"):format(roots))
end

-- ------------------------------------------------------------ the data

local LENGTHS = { 1, 3, 7, 14, 30, 60 }
local SEEDS = { 42, 43, 44 }
local NOISE = { 0.0, 0.02, -0.01 }
-- per method: the MAE level; dropout and mc are equal (ties in the ranks)
local LEVEL = { none = 0.50, dropout = 0.40, mc = 0.40, prune = 0.30 }
local AIR_LEVEL = { none = 0.50, dropout = 0.40, mc = 0.45, prune = 0.60 }

local function mae(level, L, i) return level + 0.01 * L + NOISE[i] end

-- lstm on sp500 (pruning lowest at every length), bitcoin (prune missing at
-- L = 60: 5 complete lengths), airquality (pruning highest everywhere);
-- protocol "clean" copies sp500 for the side-by-side study.
local function make_rows()
  local rows = {}
  local function add(protocol, dataset, levels, skip)
    for _, m in ipairs({ "none", "dropout", "mc", "prune" }) do
      for _, L in ipairs(LENGTHS) do
        if not (skip and skip.method == m and skip.L == L) then
          for i, seed in ipairs(SEEDS) do
            rows[#rows + 1] = {
              model = "lstm", dataset = dataset, protocol = protocol, seq_len = L, method = m, trial = i, seed = seed,
              max_epochs = 5, mc_samples = m == "mc" and (protocol == "paper" and 1 or 50) or nil, epochs = 5,
              mae = mae(levels[m], L, i), rmse = 2 * mae(levels[m], L, i),
              sparsity = m == "prune" and 0.7 or 0, seconds_per_epoch = 0.001 * L + (m == "prune" and 0.002 or 0),
              tensor_peak_mb = 1 + 0.1 * L, peak_rss_mb = 50,
              sparsity_by_epoch = m == "prune" and "0;0;0.35;0.6;0.7" or nil,
            }
            rows[#rows].key = ex.key(rows[#rows])
          end
        end
      end
    end
  end
  add("paper", "sp500", LEVEL)
  add("paper", "bitcoin", LEVEL, { method = "prune", L = 60 })
  add("paper", "airquality", AIR_LEVEL)
  add("clean", "sp500", LEVEL)
  return rows
end

-- The per-length mean MAE of a method, computed here.
local function length_means(levels, skip_last)
  local out = {}
  for j, L in ipairs(LENGTHS) do
    if not (skip_last and j == #LENGTHS) then
      out[#out + 1] = (mae(levels, L, 1) + mae(levels, L, 2) + mae(levels, L, 3)) / 3
    end
  end
  return out
end

local function close(a, b, tol, what)
  assert(math.abs(a - b) <= (tol or 1e-12), ("%s: %.17g vs %.17g"):format(what or "value", a, b))
end

local function find_ds(study, dataset)
  for _, arch in ipairs(study.archs) do
    for _, ds in ipairs(arch.datasets) do
      if ds.dataset == dataset then return ds, arch end
    end
  end
end

local function split_csv_line(line)
  local cells, pos = {}, 1
  while pos <= #line + 1 do
    if line:sub(pos, pos) == '"' then
      local e = line:find('"', pos + 1, true)
      while line:sub(e + 1, e + 1) == '"' do e = line:find('"', e + 2, true) end
      cells[#cells + 1] = line:sub(pos + 1, e - 1):gsub('""', '"')
      pos = e + 2
    else
      local e = line:find(",", pos, true) or #line + 1
      cells[#cells + 1] = line:sub(pos, e - 1)
      pos = e + 1
    end
  end
  return cells
end

local function csv_records(text)
  local lines = {}
  for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
  local head = split_csv_line(lines[1])
  local out = {}
  for i = 2, #lines do
    local cells = split_csv_line(lines[i])
    assert(#cells == #head, ("line %d has %d cells, the header %d"):format(i, #cells, #head))
    local r = {}
    for j, h in ipairs(head) do r[h] = cells[j] end
    out[#out + 1] = r
  end
  return out
end

-- ------------------------------------------------------------ specs

describe("sy.report", function()
  local rows = make_rows()
  local a = report.analyse(rows)
  local paper_study, clean_study = a.studies[1], a.studies[2]

  it("groups the rows into one study per protocol, labelled", function()
    assert.are.equal(2, #a.studies)
    assert.are.equal("paper", paper_study.protocol)
    assert.are.equal("paper", paper_study.slug)
    assert.are.equal("clean", clean_study.slug)
    has(paper_study.label, "paper protocol")
    has(paper_study.label, "at most 5 epochs")
    has(clean_study.label, "clean protocol")
  end)

  it("computes each method's row over the per-length means as sy.stats does", function()
    local ds = find_ds(paper_study, "sp500")
    assert.are.same(LENGTHS, ds.complete)
    for _, m in ipairs({ "none", "dropout", "mc", "prune" }) do
      local means = length_means(LEVEL[m])
      local ci = sy.stats.t_interval(means)
      local agg = ds.agg[m]
      assert.are.equal(6, agg.n)
      close(ci.mean, agg.mean, 1e-12, m .. " mean")
      close(ci.std, agg.std, 1e-12, m .. " std")
      close(ci.lower, agg.ci_low, 1e-12, m .. " ci low")
      close(ci.upper, agg.ci_high, 1e-12, m .. " ci high")
      -- and the interval is mean +- t(0.975, 5) std / sqrt 6
      close(agg.mean + 2.5705818366147395 * agg.std / math.sqrt(6), agg.ci_high, 1e-9, m .. " t quantile")
    end
    -- a configuration: the mean over its 3 trials
    local c = ds.cells.prune[7]
    assert.are.equal(3, c.n)
    close((mae(0.3, 7, 1) + mae(0.3, 7, 2) + mae(0.3, 7, 3)) / 3, c.mean, 1e-12, "cell mean")
  end)

  it("runs the Friedman test over the lengths (18.0 by hand: ties averaged, tie-corrected)", function()
    local ds = find_ds(paper_study, "sp500")
    -- every length ranks prune 1, dropout = mc 2.5, none 4: R = 6, 15, 15, 24,
    -- chi2 = 12/(6*4*5) * 1062 - 90 = 16.2, tie correction 1 - 36/360 = 0.9
    close(18.0, ds.friedman.statistic, 1e-9, "chi2")
    close(sy.stats.chi2_sf(18.0, 3), ds.friedman.pvalue, 1e-15, "p")
    local blocks = {}
    for j = 1, 6 do
      blocks[j] = {}
      for i, m in ipairs({ "none", "dropout", "mc", "prune" }) do blocks[j][i] = length_means(LEVEL[m])[j] end
    end
    local f = sy.stats.friedman(blocks)
    close(f.statistic, ds.friedman.statistic, 1e-9, "chi2 vs sy.stats")
  end)

  it("pairs the per-length means in the Wilcoxon tests and ranks with 'min' ties", function()
    local ds = find_ds(paper_study, "sp500")
    close(0.03125, ds.wilcoxon.prune.none.pvalue, 1e-15, "prune vs none")
    close(0.03125, ds.wilcoxon.none.prune.pvalue, 1e-15, "none vs prune")
    assert.are.equal(1, ds.wilcoxon.dropout.mc.pvalue)   -- all differences zero
    -- exact even though the gaps tie (a constant 0.1 apart)
    local w = sy.stats.wilcoxon(length_means(LEVEL.mc), length_means(LEVEL.none), { method = "exact" })
    close(w.pvalue, ds.wilcoxon.mc.none.pvalue, 1e-15, "mc vs none")
    assert.are.equal(1, ds.agg.prune.mean_rank)
    assert.are.equal(2, ds.agg.dropout.mean_rank)   -- 'min': 2, not 2.5
    assert.are.equal(2, ds.agg.mc.mean_rank)
    assert.are.equal(4, ds.agg.none.mean_rank)
    assert.are.equal(1, ds.agg.prune.rank)
    assert.are.equal(4, ds.agg.none.rank)
  end)

  it("uses only the lengths where every method has results", function()
    local ds = find_ds(paper_study, "bitcoin")
    assert.are.same({ 1, 3, 7, 14, 30 }, ds.complete)
    assert.are.same(LENGTHS, ds.lengths)
    assert.are.equal(5, ds.agg.none.n)
    close(sy.stats.t_interval(length_means(LEVEL.none, true)).mean, ds.agg.none.mean, 1e-12, "bitcoin none")
    close(0.0625, ds.wilcoxon.prune.none.pvalue, 1e-15, "5 pairs")
    assert.are.equal(5, ds.friedman.n)
  end)

  it("ranks over every dataset and length block for the critical difference", function()
    local _, arch = find_ds(paper_study, "sp500")
    assert.are.equal(17, arch.cd.n)   -- 6 + 5 + 6
    close(sy.stats.nemenyi_cd(4, 17), arch.cd.cd, 1e-12, "CD")
  end)

  it("summarises wins, losses and ties by the tests", function()
    local lines = report.summary(paper_study)
    has(lines[1], "LSTM: synaptic pruning wins 3, loses 3 and ties 3 of 9 comparisons")
    has(lines[1], "wins: S&P500 vs No Dropout (p=0.03125), S&P500 vs Dropout (p=0.03125), S&P500 vs MC Dropout")
    has(lines[1], "losses: Air Quality vs No Dropout (p=0.03125)")
    has(lines[1], "Too few complete sequence lengths for any difference to reach p < 0.05 on: Bitcoin Daily (5, "
      .. "p >= 0.0625).")
    -- 3 seeds: the smallest exact p per length is 0.25
    has(lines[2], "pruning wins 0, loses 0 and ties 51 of 51 comparisons; with 3 trials the smallest possible "
      .. "exact p is 0.25, so none can reach p < 0.05.")
    has(lines[3], "pruning has the lowest mean MAE on 2 of 3 datasets (the paper: 2 of 3)")
  end)

  it("finds a per-length win when enough trials agree (paired by seed)", function()
    local few = {}
    for i, seed in ipairs({ 1, 2, 3, 4, 5, 6 }) do
      for _, m in ipairs({ "none", "prune" }) do
        few[#few + 1] = { model = "rnn", dataset = "bitcoin", protocol = "paper", seq_len = 7, method = m, seed = seed,
                          max_epochs = 5, mae = (m == "none" and 2.0 or 1.0) + 0.1 * i + (m == "none" and 0.01 * i or 0) }
        few[#few].key = ex.key(few[#few])
      end
    end
    local s = report.analyse(few).studies[1]
    local lines = report.summary(s)
    has(lines[1], "RNN: synaptic pruning wins 0, loses 0 and ties 1 of 1")   -- one length: p = 1
    has(lines[2], "RNN, per sequence length (Wilcoxon over the trials, paired by seed): pruning wins 1, loses 0 and "
      .. "ties 0 of 1 comparisons.")
    close(0.03125, s.archs[1].datasets[1].paired[7].prune.none.pvalue, 1e-15, "6 seeds")
  end)

  describe("written", function()
    local dir, files
    local function read(name) return util.slurp(dir .. "/" .. name) end

    setup(function()
      dir = tmpdir()
      files = select(2, report.write(rows, dir, { title = "test report" }))
    end)
    teardown(function() os.execute("rm -rf " .. q(dir)) end)

    it("lists its files", function()
      for _, f in ipairs({ "tables.md", "tables.csv", "configurations.csv", "summary.md", "index.html", "protocols.csv",
                           "fig_mae_paper_lstm.svg", "fig_mae_clean_lstm.svg", "fig_cd_paper_lstm.svg",
                           "fig_sparsity_paper.svg", "fig_runtime_paper.svg", "fig_memory_paper.svg" }) do
        local found = false
        for _, g in ipairs(files) do if g == f then found = true end end
        assert(found, f .. " not written")
        assert(read(f) and #read(f) > 0, f .. " is empty")
      end
    end)

    it("writes the Markdown table in the paper's layout with the published values and the difference", function()
      local md = read("tables.md")
      has(md, "## paper protocol (the reference code's), at most 5 epochs")
      has(md, "## clean protocol (corrected), at most 5 epochs")
      has(md, "### LSTM (the paper's Table 3) — paper protocol (the reference code's), at most 5 epochs")
      has(md, "| Dataset | Method | Lengths | Mean MAE | Std | 95% CI | Friedman χ² | Friedman p | Mean rank | "
        .. "p vs No Dropout | p vs Dropout | p vs MC Dropout | p vs Synaptic Pruning | Paper mean MAE | Paper std | "
        .. "Paper 95% CI | Paper Friedman | Paper rank | Ours − paper | Ours / paper |")
      local ds = find_ds(paper_study, "sp500")
      local n = ds.agg.none
      local expect = ("| S&P500 | No Dropout | 6 | %.4f | %.4f | [%.4f, %.4f] | 18.00 | %.4f* | 4.00 | — | "
        .. "0.0312* | 0.0312* | 0.0312* | 0.4629 | 0.0914 | [0.3670, 0.5589] | χ²=15.40, p=0.001505 | - | %.4f | %.3g× |")
        :format(n.mean, n.std, n.ci_low, n.ci_high, ds.friedman.pvalue, n.mean - 0.4629, n.mean / 0.4629)
      has(md, expect)
      has(md, ("|  | Synaptic Pruning | 6 | %.4f |"):format(ds.agg.prune.mean))
      -- the dataset's Friedman cells only on its first row
      has(md, ("|  | Dropout | 6 | %.4f | %.4f | [%.4f, %.4f] |  |  | 2.00 |"):format(ds.agg.dropout.mean,
        ds.agg.dropout.std, ds.agg.dropout.ci_low, ds.agg.dropout.ci_high))
      has(md, "| Bitcoin Daily | No Dropout | 5 |")
      -- both protocols side by side, before the studies
      local side = md:find("## Protocols side by side", 1, true)
      assert(side and side < md:find("## paper protocol", 1, true), "no side-by-side table before the studies")
      has(md, "| Model | Dataset | Method | paper: mean MAE | paper: rank | clean: mean MAE | clean: rank | "
        .. "Paper mean MAE |")
      has(md, ("| LSTM | S&P500 | No Dropout | %.4f | 4 | %.4f | 4 | 0.4629 |"):format(n.mean,
        find_ds(clean_study, "sp500").agg.none.mean))
      has(md, ("|  |  | Synaptic Pruning | %.4f | 1 |"):format(ds.agg.prune.mean))
      has(md, ("| LSTM | Air Quality | No Dropout | %.4f | 3 | - | - | 0.8634 |"):format(
        find_ds(paper_study, "airquality").agg.none.mean))
      assert.are.equal(3 * 4, #csv_records(read("protocols.csv")))
    end)

    it("writes the table rows as CSV with the raw values", function()
      local recs = csv_records(read("tables.csv"))
      assert.are.equal(3 * 4 + 4, #recs)   -- paper: 3 datasets x 4 methods; clean: 1 x 4
      local r = recs[4]   -- paper, sp500, prune
      assert.are.equal("paper", r.study)
      assert.are.equal("sp500", r.dataset)
      assert.are.equal("prune", r.method)
      assert.are.equal("1;3;7;14;30;60", r.lengths)
      close(0.03125, tonumber(r.p_vs_none), 1e-12)
      assert.are.equal("", r.p_vs_prune)
      assert.are.equal("Table 3", r.paper_table)
      close(0.4626, tonumber(r.paper_mean), 1e-12)
      local ds = find_ds(paper_study, "sp500")
      close(ds.agg.prune.mean - 0.4626, tonumber(r.diff_mean), 1e-9)
      close(18.0, tonumber(r.friedman_chi2), 1e-9)
      assert.are.equal("1", r.rank)
      local configs = csv_records(read("configurations.csv"))
      assert.are.equal(3 * 4 * 6 - 1 + 4 * 6, #configs)
    end)

    it("writes the summary", function()
      local s = read("summary.md")
      has(s, "# Summary: where synaptic pruning wins, loses or ties")
      has(s, "- LSTM: synaptic pruning wins 3, loses 3 and ties 3 of 9")
      has(s, "## clean protocol (corrected), at most 5 epochs\n\n- LSTM: synaptic pruning wins 3, loses 0 and ties 0 of 3")
    end)

    it("draws well-formed SVG with one bar per configuration and one point per value", function()
      for _, f in ipairs(files) do
        if f:match("%.svg$") then
          local ok, err = pcall(check_xml, read(f))
          assert(ok, f .. ": " .. tostring(err))
        end
      end
      local bars = read("fig_mae_paper_lstm.svg")
      assert.are.equal(4 * 6 * 3 - 1, count(bars, 'class="bar"'))
      assert.are.equal(4 * 6 * 3 - 1, count(bars, 'class="errorbar"'))
      has(bars, "S&amp;P500")
      has(bars, 'data-group="L=60"')
      assert.are.equal(4 * 6, count(read("fig_mae_clean_lstm.svg"), 'class="bar"'))
      -- one panel (lstm), a line per method over the 6 lengths
      assert.are.equal(4 * 6, count(read("fig_runtime_paper.svg"), 'class="point"'))
      assert.are.equal(4 * 6, count(read("fig_memory_paper.svg"), 'class="point"'))
      -- one line per dataset over 5 epochs, in percent
      local sp = read("fig_sparsity_paper.svg")
      assert.are.equal(3 * 5, count(sp, 'class="point"'))
      assert.are.equal(3, count(sp, 'data-value="70"'))
      local cd = read("fig_cd_paper_lstm.svg")
      assert.are.equal(4, count(cd, 'class="cd-method"'))
      has(cd, ("CD = %.3f"):format(sy.stats.nemenyi_cd(4, 17)))
      has(cd, "Synaptic Pruning (")
    end)

    it("shows tables and figures together in index.html", function()
      local html = read("index.html")
      has(html, "<title>test report</title>")
      has(html, "<h2>paper protocol (the reference code's), at most 5 epochs</h2>")
      has(html, "<h2>clean protocol (corrected), at most 5 epochs</h2>")
      for _, f in ipairs(files) do
        if f:match("%.svg$") then has(html, ('<img src="%s"'):format(f)) end
      end
      assert.are.equal(3, count(html, '<table class="results">'))
      has(html, "<h2>Protocols side by side</h2>")
      has(html, "<td>S&amp;P500</td>")
    end)
  end)

  it("says which figure it cannot draw when the results lack its column", function()
    local dir = tmpdir()
    local bare = {}
    for _, r in ipairs(make_rows()) do
      if r.protocol == "paper" and r.dataset == "sp500" then
        r.sparsity_by_epoch, r.tensor_peak_mb = nil, nil
        bare[#bare + 1] = r
      end
    end
    report.write(bare, dir)
    local md = util.slurp(dir .. "/tables.md")
    has(md, "No sparsity-over-epochs figure: the results have no pruning runs with a sparsity_by_epoch column")
    has(md, "No memory figure: the results have no tensor_peak_mb column.")
    assert.is_nil(io.open(dir .. "/fig_sparsity_paper.svg"))
    os.execute("rm -rf " .. q(dir))
  end)

  it("leaves failed trials out of every statistic and counts them", function()
    local with_failed = make_rows()
    for _, seed in ipairs({ 100, 101 }) do
      local r = { model = "lstm", dataset = "sp500", protocol = "paper", seq_len = 7, method = "prune", trial = seed,
                  seed = seed, max_epochs = 5, status = "failed", error = "sy.train: non-finite training loss (nan)" }
      r.key = ex.key(r)
      with_failed[#with_failed + 1] = r
    end
    local b = report.analyse(with_failed)
    assert.are.equal(2, #b.failed)
    assert.are.equal(#paper_study.rows, #b.studies[1].rows)
    local ds = find_ds(b.studies[1], "sp500")
    local expect = find_ds(paper_study, "sp500")
    assert.are.same(expect.cells.prune[7].n, ds.cells.prune[7].n)
    assert.are.equal(expect.agg.prune.mean, ds.agg.prune.mean)
    local dir = tmpdir()
    report.write(with_failed, dir)
    has(util.slurp(dir .. "/tables.md"), "Failed trials: 2 (a NaN or infinite loss stopped them; no statistic "
      .. "includes them): paper/lstm/sp500/L7/prune/e5/s100, paper/lstm/sp500/L7/prune/e5/s101.")
    has(util.slurp(dir .. "/index.html"), '<p class="note">Failed trials: 2')
    assert.are.equal(0, #a.failed)
    os.execute("rm -rf " .. q(dir))
  end)

  describe("scripts/report.lua", function()
    local function run(args)
      local d = tmpdir()
      local _, _, status = os.execute(("cd %s && %s scripts/report.lua %s >%s/out 2>%s/err"):format(q(SOURCE_DIR),
        q(BIN), args, q(d), q(d)))
      local out, err = util.slurp(d .. "/out"), util.slurp(d .. "/err")
      os.execute("rm -rf " .. q(d))
      return status, out, err
    end

    it("writes the report of a results file", function()
      local dir = tmpdir()
      ex.write_results(dir .. "/trials.csv", make_rows())
      local status, _, err = run(q(dir .. "/trials.csv") .. " --out " .. q(dir .. "/rep"))
      assert.are.equal(0, status, err)
      has(err, "report: " .. #make_rows() .. " trials -> ")
      has(util.slurp(dir .. "/rep/index.html"), '<img src="fig_mae_paper_lstm.svg"')
      os.execute("rm -rf " .. q(dir))
    end)

    it("rejects bad use with a clear message", function()
      local status, _, err = run("--out /tmp/x")
      assert.are.equal(2, status)
      has(err, "no results file given")
      status, _, err = run("/nonexistent/trials.csv --out /tmp/x")
      assert.are.equal(1, status)
      has(err, "cannot read results /nonexistent/trials.csv: no such file")
      status, _, err = run("a.csv --colour red")
      assert.are.equal(2, status)
      has(err, "unknown flag --colour")
      status, _, err = run("a.csv")
      assert.are.equal(2, status)
      has(err, "--out DIR is needed")
    end)
  end)
end)

describe("synlua.report.svg", function()
  it("picks 1-2-5 ticks that cover the range", function()
    assert.are.same({ 0, 0.2, 0.4, 0.6000000000000001, 0.8, 1 }, (svg.ticks(0, 0.87)))
    local t, step = svg.ticks(0, 27000)
    assert.are.equal(10000, step)
    assert.are.equal(0, t[1])
    assert.are.equal(30000, t[#t])
    assert.are.equal("30000", svg.number(30000))
    assert.are.equal("0.015", svg.number(0.015))
    assert.are.equal("2e+07", svg.number(2e7))
  end)

  it("escapes text and attribute values", function()
    local doc = svg.doc(10, 10, 'a<b & "c"')
    doc:text(1, 1, "S&P <500>", { data_x = '"q"' })
    local s = doc:tostring()
    check_xml(s)
    has(s, "<title>a&lt;b &amp; &quot;c&quot;</title>")
    has(s, 'data-x="&quot;q&quot;">S&amp;P &lt;500&gt;</text>')
  end)
end)

describe("synlua.paper_results", function()
  local METHODS = { "none", "dropout", "mc", "prune" }
  local DATASETS = { "sp500", "bitcoin", "airquality", "household" }

  it("has every architecture, dataset and method of Tables 2-4", function()
    for arch, name in pairs({ rnn = "Table 2", lstm = "Table 3", patchtst = "Table 4" }) do
      assert.are.equal(name, paper.tables[arch].table)
      for _, d in ipairs(DATASETS) do
        for _, m in ipairs(METHODS) do
          local e = paper.lookup(arch, d, m)
          assert(e and e.mean > 0 and e.std > 0, ("%s %s %s"):format(arch, d, m))
        end
      end
    end
    assert.is_nil(paper.lookup("gru", "sp500"))
  end)

  -- The printed intervals come from the printed mean and std with n = 6
  -- lengths: each bound within the rounding of three 4-decimal numbers.
  it("has Tables 2 and 3 intervals equal to mean +- t(0.975, 5) std / sqrt 6", function()
    local t = sy.stats.t_quantile(0.975, 5)
    for _, arch in ipairs({ "rnn", "lstm" }) do
      for _, d in ipairs(DATASETS) do
        for _, m in ipairs(METHODS) do
          local e = paper.lookup(arch, d, m)
          local h = t * e.std / math.sqrt(6)
          close(e.mean - h, e.ci[1], 1.5e-4, ("%s %s %s low"):format(arch, d, m))
          close(e.mean + h, e.ci[2], 1.5e-4, ("%s %s %s high"):format(arch, d, m))
        end
      end
    end
  end)

  it("has Friedman p-values that match the printed statistics (3 dof, chi2 rounded to 2 decimals)", function()
    for _, arch in ipairs({ "rnn", "lstm" }) do
      for _, d in ipairs(DATASETS) do
        local f = paper.lookup(arch, d).friedman
        local hi, lo = sy.stats.chi2_sf(f.chi2 - 0.005, 3), sy.stats.chi2_sf(f.chi2 + 0.005, 3)
        assert(f.p <= hi and f.p >= lo, ("%s %s: p %g outside [%g, %g]"):format(arch, d, f.p, lo, hi))
      end
    end
    for _, d in ipairs(DATASETS) do
      local f = paper.lookup("patchtst", d).friedman
      assert(f.p > 0 and f.p < 0.05 and f.marked)
      local ranks = {}
      for _, m in ipairs(METHODS) do ranks[#ranks + 1] = paper.lookup("patchtst", d, m).rank end
      table.sort(ranks)
      assert.are.same({ 1, 2, 3, 4 }, ranks)
    end
    -- household's PatchTST p is the largest statistic 6 lengths allow: n (k - 1) = 18
    close(sy.stats.chi2_sf(18, 3), paper.lookup("patchtst", "household").friedman.p, 5e-7)
  end)
end)
