-- sy.report: the paper's results section regenerated from a results CSV
-- (sy.experiment's per-trial rows): tables in the layout of the paper's
-- Tables 2-4 beside the published values (synlua.paper_results), figures as
-- SVG (synlua.report.svg), a generated summary of where synaptic pruning
-- wins, loses or ties, and an index.html that shows it all.
--
--   local rows = sy.experiment.read_results("results/grid/trials.csv")
--   sy.report.write(rows, "results/grid/report")     -- or: synlua scripts/report.lua FILE --out DIR
--   local a = sy.report.analyse(rows)                -- the numbers behind the tables
--
-- The statistics are the paper's (REFERENCE.md §4): per configuration
-- (architecture, dataset, method, sequence length) the mean MAE over the
-- trials with a 95% t-interval; per architecture and dataset, each method's
-- row summarises its per-length means (mean, sample std, 95% t-interval with
-- n - 1 dof over the lengths), the Friedman test takes the lengths as blocks
-- and the methods as treatments, the pairwise two-sided Wilcoxon signed-rank
-- tests (exact, zeros dropped) pair the methods' per-length means, and the
-- mean rank ranks the methods within each length ('min' ties). Only lengths
-- where every method has results enter (complete blocks).
--
-- Results are grouped into studies: rows with the same protocol, epoch limit
-- and leaky leads. Each study is labelled with its protocol wherever it
-- appears; the paper's values (from the reference code's protocol) sit
-- beside every study's table.
local sy = require("synlua")
local study = require("synlua.study")
local experiment = require("synlua.experiment")
local paper = require("synlua.paper_results")
local svg = require("synlua.report.svg")
local tables = require("synlua.report.tables")

local M = {}

M.ALPHA = 0.05

M.NAMES = {
  method = { none = "No Dropout", dropout = "Dropout", mc = "MC Dropout", prune = "Synaptic Pruning" },
  dataset = { sp500 = "S&P500", bitcoin = "Bitcoin Daily", airquality = "Air Quality",
              household = "Household Electric Power", etth1 = "ETTh1", etth2 = "ETTh2" },
  model = { rnn = "RNN", lstm = "LSTM", patchtst = "PatchTST" },
  protocol = { paper = "paper protocol (the reference code's)", clean = "clean protocol (corrected)" },
}

local function name_of(kind, v) return M.NAMES[kind][v] or v end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

local function rank_in(list, v)
  for i, x in ipairs(list) do if x == v then return i end end
  return #list + 1
end

-- The keys of t in the paper's order for `kind`, then alphabetical.
local function ordered_keys(t, kind)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  local order = experiment.ORDER[kind] or {}
  table.sort(keys, function(a, b)
    local ra, rb = rank_in(order, a), rank_in(order, b)
    if ra ~= rb then return ra < rb end
    if type(a) == type(b) then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local function mean(list)
  local s, n = 0, 0
  for _, v in ipairs(list) do if finite(v) then s, n = s + v, n + 1 end end
  return n > 0 and s / n or nil
end

local function parse_list(s)
  local out = {}
  for item in tostring(s or ""):gmatch("[^;,]+") do out[#out + 1] = tonumber(item) end
  return out
end

-- ------------------------------------------------------------ analysis

-- One configuration's trials (distinct seeds; the first row of a seed wins).
local function new_cell(rows)
  local c = { rows = {}, maes = {}, by_seed = {}, nonfinite = 0 }
  for _, r in ipairs(rows) do
    if c.by_seed[r.seed] == nil then
      if finite(r.mae) then
        c.by_seed[r.seed] = r.mae
        c.rows[#c.rows + 1] = r
        c.maes[#c.maes + 1] = r.mae
      else
        c.nonfinite = c.nonfinite + 1
      end
    end
  end
  c.n = #c.maes
  if c.n > 0 then
    local ci = sy.stats.t_interval(c.maes)
    c.mean, c.std, c.ci_low, c.ci_high = ci.mean, ci.std, ci.lower, ci.upper
  end
  local function col(field)
    local v = {}
    for _, r in ipairs(c.rows) do v[#v + 1] = r[field] end
    return v
  end
  c.rmse, c.epochs, c.sparsity = mean(col("rmse")), mean(col("epochs")), mean(col("sparsity"))
  c.seconds_per_epoch, c.tensor_peak_mb = mean(col("seconds_per_epoch")), mean(col("tensor_peak_mb"))
  local rss
  for _, r in ipairs(c.rows) do
    if finite(r.peak_rss_mb) and (rss == nil or r.peak_rss_mb > rss) then rss = r.peak_rss_mb end
  end
  c.peak_rss_mb = rss
  -- sparsity after each epoch, a stopped trial holding its last value
  local curves, longest = {}, 0
  for _, r in ipairs(c.rows) do
    local s = parse_list(r.sparsity_by_epoch)
    if #s > 0 then
      curves[#curves + 1] = s
      longest = math.max(longest, #s)
    end
  end
  if #curves > 0 then
    c.sparsity_curve = {}
    for e = 1, longest do
      local sum = 0
      for _, s in ipairs(curves) do sum = sum + (s[e] or s[#s]) end
      c.sparsity_curve[e] = sum / #curves
    end
  end
  return c
end

-- The exact test, as the paper's tables have it (REFERENCE.md §7), also
-- when |differences| tie (equal MAE gaps); beyond 50 pairs the normal
-- approximation.
local function wilcoxon(x, y)
  local ok, w = pcall(sy.stats.wilcoxon, x, y, { method = #x <= 50 and "exact" or "approx" })
  return ok and w or nil
end

local function analyse_dataset(model, dataset, by_method)
  local ds = { model = model, dataset = dataset, methods = ordered_keys(by_method, "method"), cells = {},
               lengths = {}, complete = {} }
  local lengths = {}
  for _, m in ipairs(ds.methods) do
    ds.cells[m] = {}
    for L, rows in pairs(by_method[m]) do
      local c = new_cell(rows)
      if c.n > 0 then
        ds.cells[m][L] = c
        lengths[L] = true
      end
    end
  end
  ds.lengths = ordered_keys(lengths, "seq_len")
  for _, L in ipairs(ds.lengths) do
    local all = true
    for _, m in ipairs(ds.methods) do if ds.cells[m][L] == nil then all = false end end
    if all then ds.complete[#ds.complete + 1] = L end
  end
  -- each method over the complete lengths (its own lengths when none is)
  ds.agg = {}
  for _, m in ipairs(ds.methods) do
    local use = #ds.complete > 0 and ds.complete or ordered_keys(ds.cells[m], "seq_len")
    local means = {}
    for _, L in ipairs(use) do
      if ds.cells[m][L] then means[#means + 1] = ds.cells[m][L].mean end
    end
    local a = { n = #means, lengths = use, means = means }
    if #means > 0 then
      local ci = sy.stats.t_interval(means)
      a.mean, a.std, a.ci_low, a.ci_high = ci.mean, ci.std, ci.lower, ci.upper
    end
    ds.agg[m] = a
  end
  local k, nb = #ds.methods, #ds.complete
  local blocks = {}
  for i, L in ipairs(ds.complete) do
    blocks[i] = {}
    for j, m in ipairs(ds.methods) do blocks[i][j] = ds.cells[m][L].mean end
  end
  ds.blocks = blocks
  if k >= 2 and nb >= 2 then
    ds.friedman = sy.stats.friedman(blocks)
  end
  if k >= 1 and nb >= 1 then
    local ranks = sy.stats.mean_ranks(blocks, "min")
    local order = {}
    for j, m in ipairs(ds.methods) do
      ds.agg[m].mean_rank = ranks[j]
      order[j] = m
    end
    table.sort(order, function(a, b)
      if ds.agg[a].mean_rank ~= ds.agg[b].mean_rank then return ds.agg[a].mean_rank < ds.agg[b].mean_rank end
      return (ds.agg[a].mean or 0) < (ds.agg[b].mean or 0)
    end)
    for pos, m in ipairs(order) do ds.agg[m].rank = pos end
  end
  ds.wilcoxon = {}
  for _, a in ipairs(ds.methods) do
    ds.wilcoxon[a] = {}
    for _, b in ipairs(ds.methods) do
      if a ~= b and nb >= 1 then
        local x, y = {}, {}
        for i, L in ipairs(ds.complete) do x[i], y[i] = ds.cells[a][L].mean, ds.cells[b][L].mean end
        ds.wilcoxon[a][b] = wilcoxon(x, y)
      end
    end
  end
  -- per length: each method against the others over the trials, paired by seed
  ds.paired = {}
  for _, L in ipairs(ds.complete) do
    ds.paired[L] = {}
    for _, a in ipairs(ds.methods) do
      ds.paired[L][a] = {}
      for _, b in ipairs(ds.methods) do
        if a ~= b then
          local x, y = {}, {}
          for seed, v in pairs(ds.cells[a][L].by_seed) do
            local w = ds.cells[b][L].by_seed[seed]
            if w then x[#x + 1], y[#y + 1] = v, w end
          end
          if #x > 0 then
            local t = wilcoxon(x, y)
            if t then t.diff = mean(x) - mean(y) end
            ds.paired[L][a][b] = t
          end
        end
      end
    end
  end
  ds.paper = paper.lookup(model, dataset)
  return ds
end

-- Architecture level: mean ranks over every complete (dataset, length) block
-- of the methods the datasets share (average ties, as the Nemenyi test wants)
-- and the critical difference.
local function analyse_cd(arch)
  local shared
  for _, ds in ipairs(arch.datasets) do
    local set = {}
    for _, m in ipairs(ds.methods) do set[m] = true end
    if shared == nil then shared = set
    else
      for m in pairs(shared) do if not set[m] then shared[m] = nil end end
    end
  end
  local methods = ordered_keys(shared or {}, "method")
  local blocks = {}
  for _, ds in ipairs(arch.datasets) do
    for _, L in ipairs(ds.lengths) do
      local row, ok = {}, true
      for j, m in ipairs(methods) do
        local c = ds.cells[m][L]
        if c == nil then ok = false else row[j] = c.mean end
      end
      if ok then blocks[#blocks + 1] = row end
    end
  end
  if #methods < 2 or #blocks < 1 then return nil end
  return { methods = methods, ranks = sy.stats.mean_ranks(blocks, "average"), n = #blocks,
           cd = sy.stats.nemenyi_cd(#methods, #blocks, M.ALPHA) }
end

local function study_of(r)
  local leads = r.leaky_leads and tostring(r.leaky_leads) or ""
  return r.protocol .. "|" .. tostring(r.max_epochs or "?") .. "|" .. leads
end

--- report.analyse(rows) -> { studies = { { id, slug, label, protocol,
-- max_epochs, leaky_leads, rows, archs = { { model, datasets = { ds... },
-- cd } } } } }, where each ds has methods, lengths, complete (the lengths
-- with every method), cells[method][L] (n, mean, std, ci_low, ci_high, rmse,
-- epochs, sparsity, seconds_per_epoch, tensor_peak_mb, peak_rss_mb,
-- sparsity_curve, by_seed), agg[method] (over the complete lengths: n, mean,
-- std, ci_low, ci_high, mean_rank, rank), friedman, wilcoxon[a][b],
-- paired[L][a][b] (trials paired by seed) and paper (the published entry);
-- and failed: the rows of failed trials (status "failed"), which no
-- statistic includes.
function M.analyse(rows)
  local groups, list, failed, finished = {}, {}, {}, {}
  for _, r in ipairs(rows) do
    if study.failed(r) then failed[#failed + 1] = r else finished[#finished + 1] = r end
  end
  for _, r in ipairs(finished) do
    local id = study_of(r)
    local g = groups[id]
    if g == nil then
      g = { id = id, protocol = r.protocol, max_epochs = r.max_epochs, leaky_leads = r.leaky_leads, rows = {} }
      groups[id] = g
      list[#list + 1] = g
    end
    g.rows[#g.rows + 1] = r
  end
  table.sort(list, function(a, b)
    local pa, pb = rank_in(experiment.ORDER.protocol, a.protocol), rank_in(experiment.ORDER.protocol, b.protocol)
    if pa ~= pb then return pa < pb end
    return a.id < b.id
  end)
  local per_protocol = {}
  for _, s in ipairs(list) do per_protocol[s.protocol] = (per_protocol[s.protocol] or 0) + 1 end
  for _, s in ipairs(list) do
    s.slug = s.protocol:gsub("[^%w]", "")
    if per_protocol[s.protocol] > 1 then
      s.slug = s.slug .. "_e" .. tostring(s.max_epochs or "x")
      if s.leaky_leads then s.slug = s.slug .. "_leads" .. tostring(s.leaky_leads):gsub("[^%d]", "-") end
    end
    s.label = ("%s, at most %s epochs%s"):format(name_of("protocol", s.protocol), tostring(s.max_epochs or "?"),
      s.leaky_leads and (", target leads " .. tostring(s.leaky_leads):gsub(";", ",")) or "")
    local tree, seeds = {}, {}
    for _, r in ipairs(s.rows) do
      tree[r.model] = tree[r.model] or {}
      tree[r.model][r.dataset] = tree[r.model][r.dataset] or {}
      local t = tree[r.model][r.dataset]
      t[r.method] = t[r.method] or {}
      t[r.method][r.seq_len] = t[r.method][r.seq_len] or {}
      local cell = t[r.method][r.seq_len]
      cell[#cell + 1] = r
      seeds[r.seed] = true
    end
    s.seeds = ordered_keys(seeds, "seed")
    s.archs = {}
    for _, model in ipairs(ordered_keys(tree, "model")) do
      local arch = { model = model, datasets = {} }
      for _, dataset in ipairs(ordered_keys(tree[model], "dataset")) do
        arch.datasets[#arch.datasets + 1] = analyse_dataset(model, dataset, tree[model][dataset])
      end
      arch.cd = analyse_cd(arch)
      s.archs[#s.archs + 1] = arch
    end
  end
  return { studies = list, failed = failed }
end

-- The line on failed trials (nil when none): how many, and their keys.
local function failed_line(failed)
  if #failed == 0 then return nil end
  local keys = {}
  for i, r in ipairs(failed) do keys[i] = r.key end
  return ("Failed trials: %d (a NaN or infinite loss stopped them; no statistic includes them): %s.")
    :format(#failed, table.concat(keys, ", "))
end

-- ------------------------------------------------------------ formatting

local function fmt_num(x)
  if not finite(x) then return "-" end
  local a = math.abs(x)
  if a >= 1000 then return ("%.1f"):format(x) end
  if a >= 100 then return ("%.2f"):format(x) end
  if a >= 1e-3 or a == 0 then return ("%.4f"):format(x) end
  return ("%.3e"):format(x)
end
M.format_number = fmt_num

local function fmt_p(p)
  if not finite(p) then return "-" end
  local s = p < 1e-4 and ("%.1e"):format(p) or ("%.4f"):format(p)
  return p < M.ALPHA and s .. "*" or s
end
M.format_p = fmt_p

local function fmt_ci(lo, hi)
  if not (finite(lo) and finite(hi)) then return "-" end
  return ("[%s, %s]"):format(fmt_num(lo), fmt_num(hi))
end

local function raw(x)
  if x == nil then return nil end
  if type(x) == "number" then
    if not finite(x) then return nil end
    if math.type(x) == "integer" then return tostring(x) end
    return ("%.10g"):format(x)
  end
  return tostring(x)
end

local function paper_pairwise_text(pm)
  if pm == nil then return "" end
  if pm.note then return pm.note end
  local parts = {}
  for _, m in ipairs(experiment.ORDER.method) do
    if pm.pairwise and pm.pairwise[m] then
      parts[#parts + 1] = ("vs %s p=%s*"):format(name_of("method", m), ("%.4g"):format(pm.pairwise[m]))
    end
  end
  return table.concat(parts, ", ")
end

local function paper_friedman_text(pf)
  if pf == nil then return "-" end
  local star = pf.marked and "*" or ""
  if pf.chi2 then return ("χ²=%.2f, p=%s%s"):format(pf.chi2, ("%.6f"):format(pf.p), star) end
  return ("p=%s%s"):format(("%.6f"):format(pf.p), star)
end

-- The table of one architecture in a study: the paper's layout plus the
-- published values and our difference.
local function arch_table(arch)
  local methods, seen = {}, {}
  for _, ds in ipairs(arch.datasets) do
    for _, m in ipairs(ds.methods) do
      if not seen[m] then seen[m] = true; methods[#methods + 1] = m end
    end
  end
  table.sort(methods, function(a, b) return rank_in(experiment.ORDER.method, a) < rank_in(experiment.ORDER.method, b) end)
  local has_pairwise_text = arch.model == "patchtst"
  local headers = { "Dataset", "Method", "Lengths", "Mean MAE", "Std", "95% CI", "Friedman χ²", "Friedman p",
                    "Mean rank" }
  for _, m in ipairs(methods) do headers[#headers + 1] = "p vs " .. name_of("method", m) end
  for _, h in ipairs({ "Paper mean MAE", "Paper std", "Paper 95% CI", "Paper Friedman", "Paper rank" }) do
    headers[#headers + 1] = h
  end
  if has_pairwise_text then headers[#headers + 1] = "Paper pairwise" end
  headers[#headers + 1] = "Ours − paper"
  headers[#headers + 1] = "Ours / paper"
  local align = { "l", "l" }
  for i = 3, #headers do align[i] = "r" end
  if has_pairwise_text then align[#headers - 2] = "l" end
  local t = { headers = headers, rows = {}, align = align, group_col = 1 }

  local csv_rows = {}
  for _, ds in ipairs(arch.datasets) do
    for i, m in ipairs(ds.methods) do
      local a = ds.agg[m]
      local pm = ds.paper and ds.paper.methods[m]
      local row = { i == 1 and name_of("dataset", ds.dataset) or "", name_of("method", m),
        tostring(a.n), fmt_num(a.mean), fmt_num(a.std), fmt_ci(a.ci_low, a.ci_high),
        i == 1 and ds.friedman and ("%.2f"):format(ds.friedman.statistic) or (i == 1 and "-" or ""),
        i == 1 and (ds.friedman and fmt_p(ds.friedman.pvalue) or "-") or "",
        a.mean_rank and ("%.2f"):format(a.mean_rank) or "-" }
      for _, b in ipairs(methods) do
        local w = ds.wilcoxon[m] and ds.wilcoxon[m][b]
        row[#row + 1] = m == b and "—" or (w and fmt_p(w.pvalue) or "-")
      end
      row[#row + 1] = pm and fmt_num(pm.mean) or "-"
      row[#row + 1] = pm and fmt_num(pm.std) or "-"
      row[#row + 1] = pm and pm.ci and fmt_ci(pm.ci[1], pm.ci[2]) or "-"
      row[#row + 1] = i == 1 and paper_friedman_text(ds.paper and ds.paper.friedman) or ""
      row[#row + 1] = pm and pm.rank and tostring(pm.rank) or "-"
      if has_pairwise_text then row[#row + 1] = paper_pairwise_text(pm) end
      local diff = pm and finite(a.mean) and a.mean - pm.mean or nil
      row[#row + 1] = diff and fmt_num(diff) or "-"
      row[#row + 1] = diff and pm.mean ~= 0 and ("%.3g×"):format(a.mean / pm.mean) or "-"
      t.rows[#t.rows + 1] = row

      -- cells may be nil: the row is indexed explicitly, never by #
      local tp = paper.tables[arch.model]
      local function pv(b)
        local w = ds.wilcoxon[m] and ds.wilcoxon[m][b]
        return w and w.pvalue
      end
      csv_rows[#csv_rows + 1] = {
        arch.model, ds.dataset, m, a.n, table.concat(a.lengths, ";"), a.mean, a.std, a.ci_low, a.ci_high,
        ds.friedman and ds.friedman.statistic, ds.friedman and ds.friedman.pvalue, #ds.complete, a.mean_rank, a.rank,
        pv("none"), pv("dropout"), pv("mc"), pv("prune"),
        tp and tp.table, pm and pm.mean, pm and pm.std, pm and pm.ci and pm.ci[1], pm and pm.ci and pm.ci[2],
        ds.paper and ds.paper.friedman.chi2, ds.paper and ds.paper.friedman.p, pm and pm.rank,
        paper_pairwise_text(pm), diff, diff and pm.mean ~= 0 and a.mean / pm.mean or nil,
      }
    end
  end
  return t, csv_rows
end

M.TABLE_CSV_FIELDS = { "study", "protocol", "max_epochs", "model", "dataset", "method", "n_lengths", "lengths",
  "mae_mean", "mae_std", "mae_ci_low", "mae_ci_high", "friedman_chi2", "friedman_p", "friedman_blocks",
  "mean_rank", "rank", "p_vs_none", "p_vs_dropout", "p_vs_mc", "p_vs_prune", "paper_table", "paper_mean",
  "paper_std", "paper_ci_low", "paper_ci_high", "paper_friedman_chi2", "paper_friedman_p", "paper_rank",
  "paper_pairwise", "diff_mean", "ratio_mean" }

M.CONFIG_CSV_FIELDS = { "study", "protocol", "max_epochs", "model", "dataset", "method", "seq_len", "trials",
  "mae_mean", "mae_std", "mae_ci_low", "mae_ci_high", "rmse_mean", "epochs_mean", "sparsity_mean",
  "seconds_per_epoch", "tensor_peak_mb", "peak_rss_mb", "diverged" }

-- Every study's mean MAE and rank per architecture, dataset and method in
-- adjacent columns (the protocols side by side), then the published value.
local function protocols_table(a)
  local rows, seen, cells = {}, {}, {}
  for si, s in ipairs(a.studies) do
    for _, arch in ipairs(s.archs) do
      for _, ds in ipairs(arch.datasets) do
        for _, m in ipairs(ds.methods) do
          local k = arch.model .. "|" .. ds.dataset .. "|" .. m
          if not seen[k] then
            seen[k] = { model = arch.model, dataset = ds.dataset, method = m }
            rows[#rows + 1] = seen[k]
            cells[k] = {}
          end
          cells[k][si] = ds.agg[m]
        end
      end
    end
  end
  local O = experiment.ORDER
  table.sort(rows, function(x, y)
    for _, f in ipairs({ "model", "dataset", "method" }) do
      local rx, ry = rank_in(O[f], x[f]), rank_in(O[f], y[f])
      if rx ~= ry then return rx < ry end
      if x[f] ~= y[f] then return x[f] < y[f] end
    end
    return false
  end)
  local headers, align = { "Model", "Dataset", "Method" }, { "l", "l", "l" }
  local csv_head = { "model", "dataset", "method" }
  for _, s in ipairs(a.studies) do
    headers[#headers + 1] = s.slug .. ": mean MAE"
    headers[#headers + 1] = s.slug .. ": rank"
    csv_head[#csv_head + 1] = s.slug .. "_mae_mean"
    csv_head[#csv_head + 1] = s.slug .. "_rank"
  end
  headers[#headers + 1] = "Paper mean MAE"
  csv_head[#csv_head + 1] = "paper_mean"
  for i = 4, #headers do align[i] = "r" end
  local t = { headers = headers, align = align, rows = {}, group_col = 2 }
  local csv_rows = {}
  local last
  for _, r in ipairs(rows) do
    local k = r.model .. "|" .. r.dataset .. "|" .. r.method
    local group = r.model .. "|" .. r.dataset
    local row = { group ~= last and name_of("model", r.model) or "", group ~= last and name_of("dataset", r.dataset) or "",
                  name_of("method", r.method) }
    local c = { r.model, r.dataset, r.method }
    last = group
    for si = 1, #a.studies do
      local agg = cells[k][si]
      row[#row + 1] = agg and fmt_num(agg.mean) or "-"
      row[#row + 1] = agg and agg.rank and tostring(agg.rank) or "-"
      c[#c + 1] = agg and raw(agg.mean) or ""
      c[#c + 1] = agg and raw(agg.rank) or ""
    end
    local pm = paper.lookup(r.model, r.dataset, r.method)
    row[#row + 1] = pm and fmt_num(pm.mean) or "-"
    c[#c + 1] = pm and raw(pm.mean) or ""
    t.rows[#t.rows + 1] = row
    csv_rows[#csv_rows + 1] = c
  end
  return t, csv_head, csv_rows
end

-- ------------------------------------------------------------ summary

-- Verdicts of pruning against each other method, by the tests: at the
-- dataset level (Wilcoxon over the per-length means, the paper's test) and
-- per length (Wilcoxon over the seeds).
local function verdict(w, diff)
  if w == nil or not finite(w.pvalue) then return "untested" end
  if w.pvalue < M.ALPHA then return diff < 0 and "wins" or "loses" end
  return "ties"
end

function M.summary(s)
  local lines = {}
  for _, arch in ipairs(s.archs) do
    local counts = { wins = {}, loses = {}, ties = {}, untested = {} }
    local per_len = { wins = 0, loses = 0, ties = 0, untested = 0 }
    local fewest = math.huge   -- the fewest trials paired in a per-length test
    local best, best_paper, nds, short = 0, 0, 0, {}
    for _, ds in ipairs(arch.datasets) do
      if ds.agg.prune then
        nds = nds + 1
        -- the exact two-sided p of n pairs is at least 2 / 2^n
        if 2 / 2 ^ #ds.complete >= M.ALPHA then
          short[#short + 1] = ("%s (%d, p >= %.3g)"):format(name_of("dataset", ds.dataset), #ds.complete,
            2 / 2 ^ #ds.complete)
        end
        for _, m in ipairs(ds.methods) do
          if m ~= "prune" then
            local w = ds.wilcoxon.prune[m]
            local diff = (ds.agg.prune.mean or 0) - (ds.agg[m].mean or 0)
            local v = verdict(w, diff)
            table.insert(counts[v], ("%s vs %s (p=%s)"):format(name_of("dataset", ds.dataset), name_of("method", m),
              w and ("%.4g"):format(w.pvalue) or "-"))
            for _, L in ipairs(ds.complete) do
              local pw = ds.paired[L].prune[m]
              local pv = verdict(pw, pw and pw.diff or 0)
              per_len[pv] = per_len[pv] + 1
              fewest = math.min(fewest, ds.cells.prune[L].n, ds.cells[m][L].n)
            end
          end
        end
        local lowest = true
        for _, m in ipairs(ds.methods) do
          if m ~= "prune" and (ds.agg[m].mean or math.huge) < (ds.agg.prune.mean or math.huge) then lowest = false end
        end
        if lowest then best = best + 1 end
        if ds.paper then
          local pl = true
          for m, pm in pairs(ds.paper.methods) do
            if m ~= "prune" and pm.mean < ds.paper.methods.prune.mean then pl = false end
          end
          if pl then best_paper = best_paper + 1 end
        end
      end
    end
    if nds > 0 then
      local total = #counts.wins + #counts.loses + #counts.ties + #counts.untested
      local line = ("%s: synaptic pruning wins %d, loses %d and ties %d of %d comparisons with the other methods "
        .. "(Wilcoxon signed-rank over the per-length mean MAEs, α = %.2f)"):format(name_of("model", arch.model),
        #counts.wins, #counts.loses, #counts.ties, total, M.ALPHA)
      if #counts.untested > 0 then line = line .. (", %d untested"):format(#counts.untested) end
      if #counts.wins > 0 then line = line .. "; wins: " .. table.concat(counts.wins, ", ") end
      if #counts.loses > 0 then line = line .. "; losses: " .. table.concat(counts.loses, ", ") end
      line = line .. "."
      if #short > 0 then
        line = line .. (" Too few complete sequence lengths for any difference to reach p < %.2f on: %s.")
          :format(M.ALPHA, table.concat(short, ", "))
      end
      lines[#lines + 1] = line
      local lt = per_len.wins + per_len.loses + per_len.ties + per_len.untested
      lines[#lines + 1] = ("%s, per sequence length (Wilcoxon over the trials, paired by seed): pruning wins %d, "
        .. "loses %d and ties %d of %d comparisons%s."):format(name_of("model", arch.model), per_len.wins,
        per_len.loses, per_len.ties + per_len.untested, lt,
        fewest < math.huge and 2 / 2 ^ fewest >= M.ALPHA and ("; with %d trials the smallest possible exact p is "
          .. "%.3g, so none can reach p < %.2f"):format(fewest, 2 / 2 ^ fewest, M.ALPHA) or "")
      lines[#lines + 1] = ("%s: pruning has the lowest mean MAE on %d of %d datasets (the paper: %d of %d)."):format(
        name_of("model", arch.model), best, nds, best_paper, nds)
    end
  end
  if #lines == 0 then lines[1] = "No synaptic pruning results in this study." end
  return lines
end

-- ------------------------------------------------------------ figures

local function methods_of(arch)
  local seen, out = {}, {}
  for _, ds in ipairs(arch.datasets) do
    for _, m in ipairs(ds.methods) do
      if not seen[m] then seen[m] = true; out[#out + 1] = m end
    end
  end
  table.sort(out, function(a, b) return rank_in(experiment.ORDER.method, a) < rank_in(experiment.ORDER.method, b) end)
  return out
end

local METHOD_COLOR = { none = svg.PALETTE[1], dropout = svg.PALETTE[2], mc = svg.PALETTE[3], prune = svg.PALETTE[4] }

local function colors_for(methods)
  local out = {}
  for i, m in ipairs(methods) do out[i] = METHOD_COLOR[m] or svg.PALETTE[4 + i] end
  return out
end

local function names(kind, list)
  local out = {}
  for i, v in ipairs(list) do out[i] = name_of(kind, v) end
  return out
end

-- Figures 3-5: MAE by method, one panel per dataset, one group per length.
local function figure_mae(s, arch)
  local methods = methods_of(arch)
  local panels = {}
  for _, ds in ipairs(arch.datasets) do
    local p = { title = name_of("dataset", ds.dataset), groups = {}, values = {}, low = {}, high = {} }
    for g, L in ipairs(ds.lengths) do
      p.groups[g] = "L=" .. L
      p.values[g], p.low[g], p.high[g] = {}, {}, {}
      for si, m in ipairs(methods) do
        local c = ds.cells[m] and ds.cells[m][L]
        if c then p.values[g][si], p.low[g][si], p.high[g][si] = c.mean, c.ci_low, c.ci_high end
      end
    end
    panels[#panels + 1] = p
  end
  return svg.bars({ title = ("%s: MAE by method and sequence length"):format(name_of("model", arch.model)),
    subtitle = s.label,
    ylabel = "MAE (mean, 95% CI)", xlabel = "sequence length", series = names("method", methods),
    colors = colors_for(methods), panels = panels, cols = 2 })
end

-- Sparsity after each epoch of the pruning runs: one panel per
-- architecture, one line per dataset (mean over lengths and trials).
local function figure_sparsity(s)
  local panels, datasets, seen, longest = {}, {}, {}, 0
  for _, arch in ipairs(s.archs) do
    for _, ds in ipairs(arch.datasets) do
      for _, c in pairs(ds.cells.prune or {}) do
        if c.sparsity_curve and not seen[ds.dataset] then
          seen[ds.dataset] = true
          datasets[#datasets + 1] = ds.dataset
        end
      end
    end
  end
  if #datasets == 0 then return nil end
  table.sort(datasets, function(a, b) return rank_in(experiment.ORDER.dataset, a) < rank_in(experiment.ORDER.dataset, b) end)
  for _, arch in ipairs(s.archs) do
    local p = { title = name_of("model", arch.model), x = {}, values = {} }
    local any = false
    for si, dname in ipairs(datasets) do
      for _, ds in ipairs(arch.datasets) do
        if ds.dataset == dname then
          local curves = {}
          for _, c in pairs(ds.cells.prune or {}) do
            if c.sparsity_curve then curves[#curves + 1] = c.sparsity_curve end
          end
          if #curves > 0 then
            any = true
            local n = 0
            for _, cv in ipairs(curves) do n = math.max(n, #cv) end
            longest = math.max(longest, n)
            local v = {}
            for e = 1, n do
              local sum = 0
              for _, cv in ipairs(curves) do sum = sum + (cv[e] or cv[#cv]) end
              v[e] = 100 * sum / #curves
            end
            p.values[si] = v
          end
        end
      end
    end
    if any then panels[#panels + 1] = p end
  end
  for _, p in ipairs(panels) do
    for e = 1, longest do p.x[e] = e end
  end
  return svg.lines({ title = "Global sparsity after each epoch of the pruning runs", subtitle = s.label,
    xlabel = "epoch", ylabel = "sparsity (%)", series = names("dataset", datasets), panels = panels, cols = 3 })
end

-- Runtime or memory against sequence length: one panel per architecture,
-- one line per method, the mean over datasets and trials.
local function figure_by_length(s, field, title, ylabel)
  local lengths, seen_l = {}, {}
  local methods, seen_m = {}, {}
  for _, arch in ipairs(s.archs) do
    for _, ds in ipairs(arch.datasets) do
      for _, L in ipairs(ds.lengths) do if not seen_l[L] then seen_l[L] = true; lengths[#lengths + 1] = L end end
      for _, m in ipairs(ds.methods) do if not seen_m[m] then seen_m[m] = true; methods[#methods + 1] = m end end
    end
  end
  table.sort(lengths)
  table.sort(methods, function(a, b) return rank_in(experiment.ORDER.method, a) < rank_in(experiment.ORDER.method, b) end)
  local panels, any = {}, false
  for _, arch in ipairs(s.archs) do
    local p = { title = name_of("model", arch.model), x = lengths, values = {} }
    for si, m in ipairs(methods) do
      p.values[si] = {}
      for j, L in ipairs(lengths) do
        local vals = {}
        for _, ds in ipairs(arch.datasets) do
          local c = ds.cells[m] and ds.cells[m][L]
          if c then
            for _, r in ipairs(c.rows) do vals[#vals + 1] = r[field] end
          end
        end
        p.values[si][j] = mean(vals)
        if p.values[si][j] then any = true end
      end
    end
    panels[#panels + 1] = p
  end
  if not any then return nil end
  return svg.lines({ title = title, subtitle = s.label, xlabel = "sequence length", ylabel = ylabel,
    series = names("method", methods), colors = colors_for(methods), panels = panels, cols = 3 })
end

local function figure_cd(s, arch)
  local cd = arch.cd
  return svg.cd_diagram({
    title = ("%s: mean ranks of the methods (1 = lowest MAE)"):format(name_of("model", arch.model)),
    subtitle = s.label,
    names = names("method", cd.methods), ranks = cd.ranks, cd = cd.cd,
    note = ("Nemenyi critical difference at α = %.2f over %d blocks (dataset × sequence length); "
      .. "a bar joins methods that do not differ significantly"):format(M.ALPHA, cd.n),
  })
end

-- ------------------------------------------------------------ writing

local function mkdir(dir)
  if not os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'") then
    error(("report: cannot create directory %s"):format(dir), 0)
  end
end

local EXPLAIN = {
  "Each table follows the layout of the paper's Tables 2-4: per architecture, one row per dataset and method. "
    .. "Mean MAE, Std and 95% CI summarise the method's per-sequence-length mean MAEs (each the mean over the trials): "
    .. "their mean, sample standard deviation and Student-t interval with n - 1 degrees of freedom, as the paper "
    .. "computed them (its intervals are reproduced from its means and standard deviations with n = 6).",
  "Friedman χ² and p: the sequence lengths are the blocks and the methods the treatments (ties averaged, tie "
    .. "correction, chi-square p with k - 1 dof). p vs ...: two-sided Wilcoxon signed-rank tests on the same "
    .. "per-length means (exact null distribution; with 6 lengths the smallest possible p is 0.0312). "
    .. "Mean rank: the method's rank within each length (1 = lowest MAE, ties by 'min'), averaged. "
    .. "* marks p < 0.05. Only lengths where every method has results enter (the Lengths column).",
  "Paper columns: the published values (Tables 2-4 of the paper, produced by its reference code's protocol; "
    .. "Table 4 prints no interval and no χ²). Ours − paper and Ours / paper compare the mean MAEs.",
}

--- report.write(rows, dir [, opts]) -> analysis, files: writes into dir
-- tables.md, tables.csv (the table rows), configurations.csv (every
-- configuration), summary.md, the figures (fig_*.svg), index.html, and
-- protocols.csv (the studies side by side) when there are several.
-- opts.title: the page's title.
function M.write(rows, dir, opts)
  opts = opts or {}
  mkdir(dir)
  local a = M.analyse(rows)
  local files = {}
  local function put(name, text)
    study.write_atomic(dir .. "/" .. name, text)
    files[#files + 1] = name
  end
  local title = opts.title or "synlua: the synaptic pruning study"
  local md = { "# " .. title, "" }
  for _, e in ipairs(EXPLAIN) do md[#md + 1] = e; md[#md + 1] = "" end
  local failed_note = failed_line(a.failed)
  if failed_note then md[#md + 1] = failed_note; md[#md + 1] = "" end
  local summary_md = { "# Summary: where synaptic pruning wins, loses or ties", "" }
  local html_body = {}
  local table_csv, config_csv = {}, {}
  local figures = {}

  local function h(s) return tables.html_escape(s) end

  for _, s in ipairs(a.studies) do
    local lens = {}
    for _, arch in ipairs(s.archs) do
      for _, ds in ipairs(arch.datasets) do
        for _, L in ipairs(ds.lengths) do lens[L] = true end
      end
    end
    local lens_list = ordered_keys(lens, "seq_len")
    local trials_min, trials_max = math.huge, 0
    for _, arch in ipairs(s.archs) do
      for _, ds in ipairs(arch.datasets) do
        for _, m in ipairs(ds.methods) do
          for _, c in pairs(ds.cells[m]) do
            trials_min, trials_max = math.min(trials_min, c.n), math.max(trials_max, c.n)
          end
        end
      end
    end
    local about = ("%d trial rows; %s trials per configuration (seeds %s); sequence lengths %s."):format(#s.rows,
      trials_min == trials_max and tostring(trials_max) or (trials_min .. "-" .. trials_max),
      #s.seeds > 0 and (s.seeds[1] .. (#s.seeds > 1 and ("-" .. s.seeds[#s.seeds]) or "")) or "-",
      table.concat(lens_list, ", "))
    local summary = M.summary(s)
    md[#md + 1] = "## " .. s.label
    md[#md + 1] = ""
    md[#md + 1] = about
    md[#md + 1] = ""
    summary_md[#summary_md + 1] = "## " .. s.label
    summary_md[#summary_md + 1] = ""
    for _, l in ipairs(summary) do
      md[#md + 1] = "- " .. l
      summary_md[#summary_md + 1] = "- " .. l
    end
    md[#md + 1] = ""
    summary_md[#summary_md + 1] = ""
    html_body[#html_body + 1] = ('<section><h2>%s</h2>\n<p>%s</p>\n<h3>Summary</h3>\n<ul>'):format(h(s.label), h(about))
    for _, l in ipairs(summary) do html_body[#html_body + 1] = "<li>" .. h(l) .. "</li>" end
    html_body[#html_body + 1] = "</ul>"

    for _, arch in ipairs(s.archs) do
      local t, crow = arch_table(arch)
      local tp = paper.tables[arch.model]
      local heading = ("%s (the paper's %s) — %s"):format(name_of("model", arch.model),
        tp and tp.table or "no table", s.label)
      md[#md + 1] = "### " .. heading
      md[#md + 1] = ""
      md[#md + 1] = tables.markdown(t)
      for _, c in ipairs(crow) do
        local r = { s.slug, s.protocol, raw(s.max_epochs) }
        for j = 1, #M.TABLE_CSV_FIELDS - 3 do r[3 + j] = raw(c[j]) end
        table_csv[#table_csv + 1] = r
      end
      local fig = ("fig_mae_%s_%s.svg"):format(s.slug, arch.model)
      put(fig, figure_mae(s, arch))
      figures[#figures + 1] = fig
      html_body[#html_body + 1] = ("<h3>%s</h3>\n%s"):format(h(heading), tables.html(t))
      html_body[#html_body + 1] = ('<figure><img src="%s" alt="%s"><figcaption>MAE by method and sequence length '
        .. "(the paper's Figures 3-5), error bars: 95%% t-interval over the trials.</figcaption></figure>")
        :format(fig, h(heading))
      if arch.cd then
        local cd = ("fig_cd_%s_%s.svg"):format(s.slug, arch.model)
        put(cd, figure_cd(s, arch))
        figures[#figures + 1] = cd
        html_body[#html_body + 1] = ('<figure><img src="%s" alt="critical difference diagram"><figcaption>'
          .. "Critical-difference diagram (Nemenyi, mean ranks over dataset × length blocks).</figcaption></figure>")
          :format(cd)
      end
      for _, ds in ipairs(arch.datasets) do
        for _, m in ipairs(ds.methods) do
          for _, L in ipairs(ordered_keys(ds.cells[m], "seq_len")) do
            local c = ds.cells[m][L]
            config_csv[#config_csv + 1] = { s.slug, s.protocol, raw(s.max_epochs), arch.model, ds.dataset, m, raw(L),
              raw(c.n), raw(c.mean), raw(c.std), raw(c.ci_low), raw(c.ci_high), raw(c.rmse), raw(c.epochs),
              raw(c.sparsity), raw(c.seconds_per_epoch), raw(c.tensor_peak_mb), raw(c.peak_rss_mb), raw(c.nonfinite) }
          end
        end
      end
    end

    local sp = figure_sparsity(s)
    local notes = {}
    if sp then
      local name = ("fig_sparsity_%s.svg"):format(s.slug)
      put(name, sp)
      figures[#figures + 1] = name
      html_body[#html_body + 1] = ('<figure><img src="%s" alt="sparsity over epochs"><figcaption>Global sparsity '
        .. "after each epoch of the pruning runs (mean over sequence lengths and trials; a run that stopped early "
        .. "keeps its last value).</figcaption></figure>"):format(name)
    else
      notes[#notes + 1] = "No sparsity-over-epochs figure: the results have no pruning runs with a "
        .. "sparsity_by_epoch column (sy.experiment writes it; a study script's per-trial CSV does not)."
    end
    for _, spec in ipairs({
      { "seconds_per_epoch", "runtime", "Training time per epoch against sequence length", "seconds per epoch",
        "Runtime against sequence length (the paper's Figure 6 as its text describes it), mean over datasets and "
          .. "trials." },
      { "tensor_peak_mb", "memory", "Peak tensor memory of a trial against sequence length", "peak MiB",
        "Peak memory held by tensors during a trial (the paper's Figure 7 as its text describes it), mean over "
          .. "datasets and trials." },
    }) do
      local svg_text = figure_by_length(s, spec[1], spec[3], spec[4])
      if svg_text then
        local name = ("fig_%s_%s.svg"):format(spec[2], s.slug)
        put(name, svg_text)
        figures[#figures + 1] = name
        html_body[#html_body + 1] = ('<figure><img src="%s" alt="%s"><figcaption>%s</figcaption></figure>')
          :format(name, h(spec[3]), h(spec[5]))
      else
        notes[#notes + 1] = ("No %s figure: the results have no %s column."):format(spec[2], spec[1])
      end
    end
    for _, n in ipairs(notes) do
      md[#md + 1] = "_" .. n .. "_"
      md[#md + 1] = ""
      html_body[#html_body + 1] = "<p class=\"note\">" .. h(n) .. "</p>"
    end
    html_body[#html_body + 1] = "</section>"
  end
  if #a.studies == 0 then
    md[#md + 1] = "_No results._"
    html_body[#html_body + 1] = "<p>No results.</p>"
  end

  local side_html = ""
  if #a.studies >= 2 then
    local t, head, crows = protocols_table(a)
    local legend = {}
    for _, s in ipairs(a.studies) do legend[#legend + 1] = ("%s = %s"):format(s.slug, s.label) end
    local intro = "Each study's mean MAE (over its per-length means) and rank per method (" .. table.concat(legend, "; ")
      .. "), and the paper's published mean."
    local at = 1
    for i, line in ipairs(md) do
      if line:match("^## ") then at = i; break end
    end
    for j, line in ipairs({ "## Protocols side by side", "", intro, "", tables.markdown(t) }) do
      table.insert(md, at + j - 1, line)
    end
    put("protocols.csv", tables.csv(head, crows))
    side_html = ("<section><h2>Protocols side by side</h2>\n<p>%s</p>\n%s</section>"):format(h(intro),
      tables.html(t))
  end
  put("tables.md", table.concat(md, "\n") .. "\n")
  put("summary.md", table.concat(summary_md, "\n") .. "\n")
  put("tables.csv", tables.csv(M.TABLE_CSV_FIELDS, table_csv))
  put("configurations.csv", tables.csv(M.CONFIG_CSV_FIELDS, config_csv))
  local explain = {}
  for _, e in ipairs(EXPLAIN) do explain[#explain + 1] = "<p>" .. h(e) .. "</p>" end
  if failed_note then explain[#explain + 1] = '<p class="note">' .. h(failed_note) .. "</p>" end
  put("index.html", table.concat({
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8"><title>' .. h(title) .. "</title>",
    "<style>",
    "body{font-family:Helvetica,Arial,sans-serif;margin:2em;max-width:1500px;color:#222}",
    "table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1em}",
    "th,td{padding:3px 6px;border-bottom:1px solid #ddd;white-space:nowrap}",
    "th{background:#f3f3f3;position:sticky;top:0}td.num,th.num{text-align:right}",
    "tr.group td{border-top:2px solid #888}figure{margin:1em 0}img{max-width:100%}",
    "section{border-top:3px solid #4477AA;margin-top:2em}p.note{color:#a33}",
    "</style></head><body>",
    "<h1>" .. h(title) .. "</h1>",
    table.concat(explain, "\n"),
    '<p>Files: <a href="tables.md">tables.md</a>, <a href="tables.csv">tables.csv</a>, '
      .. '<a href="configurations.csv">configurations.csv</a> (every configuration), '
      .. '<a href="summary.md">summary.md</a>' .. (side_html ~= "" and ', <a href="protocols.csv">protocols.csv</a>'
      or "") .. '.</p>',
    side_html,
    table.concat(html_body, "\n"),
    "</body></html>",
  }, "\n") .. "\n")
  a.files, a.figures = files, figures
  return a, files
end

--- report.read(paths) -> rows: the rows of one or more results CSVs, one
-- per trial key (the first wins), in the fixed order.
function M.read(paths)
  local rows, seen = {}, {}
  for _, p in ipairs(paths) do
    local rs = experiment.read_results(p, { must_exist = true })
    for _, r in ipairs(rs) do
      if not seen[r.key] then
        seen[r.key] = true
        rows[#rows + 1] = r
      end
    end
  end
  return experiment.sort_rows(rows)
end

--- report.main(argv): scripts/report.lua's body:
-- synlua scripts/report.lua RESULTS.csv [MORE.csv ...] --out DIR [--title T]
function M.main(argv)
  local script = (arg and arg[0]) or "scripts/report.lua"
  local files, out, title = {}, nil, nil
  local function usage(fmt, ...)
    io.stderr:write(("%s: %s\nusage: synlua %s RESULTS.csv [MORE.csv ...] --out DIR [--title TEXT]\n")
      :format(script, fmt:format(...), script))
    os.exit(2)
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    if name == "--help" then
      io.stdout:write(("usage: synlua %s RESULTS.csv [MORE.csv ...] --out DIR [--title TEXT]\n\n"
        .. "Writes the report of per-trial results (scripts/paper_grid.lua's trials.csv, or a study script's\n"
        .. "*_trials.csv) into DIR: tables.md, tables.csv, configurations.csv, summary.md, fig_*.svg, index.html.\n")
        :format(script))
      return
    elseif name == "--out" or name == "--title" then
      local v = inline
      if v == nil then
        i = i + 1
        v = argv[i]
        if v == nil then usage("%s needs a value", name) end
      end
      if name == "--out" then out = v else title = v end
    elseif a:sub(1, 2) == "--" then
      usage("unknown flag %s", name)
    else
      files[#files + 1] = a
    end
    i = i + 1
  end
  if #files == 0 then usage("no results file given") end
  if out == nil then usage("--out DIR is needed") end
  local ok, err = pcall(function()
    local rows = M.read(files)
    if #rows == 0 then error(("no trial rows in %s"):format(table.concat(files, ", ")), 0) end
    M.write(rows, out, { title = title })
    io.stderr:write(("report: %d trials -> %s/index.html\n"):format(#rows, out))
  end)
  if not ok then
    io.stderr:write(("%s: %s\n"):format(script, tostring(err):gsub("^[^\n]-synlua/[%w_/]+%.lua:%d+: ", "")))
    os.exit(1)
  end
end

return M
