-- The paper's published results, transcribed by hand from
-- ../shared/paper/synaptic_pruning.txt (section 4, "Results and Discussion")
-- so that sy.report can print them beside synlua's own numbers. Nothing here
-- is computed: every number is the printed one, with the table it comes from.
--
-- What the printed statistics are (checked in tests/spec/report_spec.lua
-- against sy.stats on these very numbers): Tables 2 and 3 summarise, per
-- dataset and method, the 6 per-sequence-length mean MAEs (L = 1, 3, 7, 14,
-- 30, 60; each the mean of 10 trials): "Mean MAE" and "Std Dev" are their
-- mean and sample std, "95% CI" is mean +- t(0.975, 5) std / sqrt(6); the
-- Friedman test takes the 6 lengths as blocks and the 4 methods as
-- treatments (p = chi-square survival with 3 dof). Table 4 prints the
-- Friedman p without the statistic, a rank per method and the significant
-- pairwise Wilcoxon p-values (0.0312 = 2/2^6: all 6 lengths agree).
--
-- Figures 3-7 are images in the paper ("Refer to caption"): the text has no
-- values to transcribe. Figure 6's caption ("Average pruning sparsity rates
-- by model") and Figure 7's ("Average memory reduction rates by model")
-- disagree with the text of section 4.4, which describes them as runtime and
-- peak memory against sequence length.
--
-- Layout: M.tables[arch] = { table = "Table N", datasets = { [dataset] = {
--   friedman = { chi2 = (nil when not printed), p, marked = printed with '*' },
--   methods = { [method] = { mean, std, ci = {low, high} (Tables 2-3),
--     rank (Table 4), pairwise = { [other method] = p } (Table 4, the
--     comparisons printed for that row), note (Table 4's text, when there is
--     no p-value) } } } }.
-- Methods: none = "No Dropout", dropout = "Dropout", mc = "MC Dropout",
-- prune = "Synaptic Pruning". Datasets: bitcoin = "Bitcoin Daily",
-- sp500 = "S&P500", airquality = "Air Quality", household = "Household
-- Electric Power Consumption".
local M = {}

M.source = "G. Vos, L. van Eijk, Z. Sarnyai, M. Rahimi Azghadi, Synaptic Pruning: A Biological Inspiration "
  .. "for Deep Learning Regularization (../shared/paper/synaptic_pruning.txt), section 4, Tables 2-4"

-- Table 1, for the record (the paper's counts of records and features).
M.datasets = {
  sp500 = { name = "S&P500", records = 1259, features = 20, complexity = "Low" },
  bitcoin = { name = "Bitcoin Daily", records = 365, features = 7, complexity = "Low" },
  household = { name = "Household Electric Power Consumption", records = 2075259, features = 9, complexity = "Low" },
  airquality = { name = "Air Quality", records = 9446, features = 313, complexity = "High" },
}

M.tables = {}

-- Table 2: RNN model experimentation results and statistical significance.
M.tables.rnn = {
  table = "Table 2",
  datasets = {
    bitcoin = {
      friedman = { chi2 = 15.80, p = 0.001246, marked = true },
      methods = {
        none = { mean = 0.3296, std = 0.0346, ci = { 0.2933, 0.3659 } },
        dropout = { mean = 0.2969, std = 0.0443, ci = { 0.2504, 0.3434 } },
        mc = { mean = 0.3119, std = 0.0315, ci = { 0.2788, 0.3450 } },
        prune = { mean = 0.2621, std = 0.0183, ci = { 0.2429, 0.2813 } },
      },
    },
    sp500 = {
      friedman = { chi2 = 16.76, p = 0.000792, marked = true },
      methods = {
        none = { mean = 0.0944, std = 0.0156, ci = { 0.0780, 0.1108 } },
        dropout = { mean = 0.1105, std = 0.0107, ci = { 0.0993, 0.1217 } },
        mc = { mean = 0.1535, std = 0.0082, ci = { 0.1449, 0.1621 } },
        -- printed identical to the No Dropout row
        prune = { mean = 0.0944, std = 0.0156, ci = { 0.0780, 0.1108 } },
      },
    },
    airquality = {
      friedman = { chi2 = 16.40, p = 0.000939, marked = true },
      methods = {
        none = { mean = 0.8298, std = 0.0219, ci = { 0.8068, 0.8528 } },
        dropout = { mean = 0.7569, std = 0.0356, ci = { 0.7195, 0.7943 } },
        mc = { mean = 0.7992, std = 0.0308, ci = { 0.7669, 0.8315 } },
        prune = { mean = 0.7265, std = 0.0273, ci = { 0.6978, 0.7552 } },
      },
    },
    household = {
      friedman = { chi2 = 14.69, p = 0.002097, marked = false },
      methods = {
        none = { mean = 0.0902, std = 0.0043, ci = { 0.0856, 0.0947 } },
        dropout = { mean = 0.0876, std = 0.0046, ci = { 0.0828, 0.0924 } },
        mc = { mean = 0.1108, std = 0.0034, ci = { 0.1073, 0.1144 } },
        prune = { mean = 0.0855, std = 0.0036, ci = { 0.0816, 0.0893 } },
      },
    },
  },
}

-- Table 3: Long Short-Term Memory experimentation results.
M.tables.lstm = {
  table = "Table 3",
  datasets = {
    bitcoin = {
      friedman = { chi2 = 12.80, p = 0.005090, marked = false },
      methods = {
        none = { mean = 0.4804, std = 0.1332, ci = { 0.3406, 0.6202 } },
        dropout = { mean = 0.4666, std = 0.1281, ci = { 0.3321, 0.6010 } },
        mc = { mean = 0.4629, std = 0.1208, ci = { 0.3361, 0.5897 } },
        prune = { mean = 0.4212, std = 0.1083, ci = { 0.3076, 0.5348 } },
      },
    },
    sp500 = {
      friedman = { chi2 = 15.40, p = 0.001505, marked = false },
      methods = {
        none = { mean = 0.4629, std = 0.0914, ci = { 0.3670, 0.5589 } },
        dropout = { mean = 0.5060, std = 0.0703, ci = { 0.4322, 0.5798 } },
        mc = { mean = 0.5102, std = 0.0692, ci = { 0.4376, 0.5828 } },
        prune = { mean = 0.4626, std = 0.0915, ci = { 0.3667, 0.5586 } },
      },
    },
    airquality = {
      friedman = { chi2 = 15.20, p = 0.001653, marked = false },
      methods = {
        none = { mean = 0.8634, std = 0.0394, ci = { 0.8220, 0.9048 } },
        dropout = { mean = 0.8030, std = 0.0415, ci = { 0.7595, 0.8466 } },
        mc = { mean = 0.8431, std = 0.0408, ci = { 0.8002, 0.8859 } },
        prune = { mean = 0.8107, std = 0.0409, ci = { 0.7677, 0.8537 } },
      },
    },
    household = {
      friedman = { chi2 = 11.60, p = 0.008887, marked = false },
      methods = {
        none = { mean = 0.0814, std = 0.0022, ci = { 0.0791, 0.0836 } },
        dropout = { mean = 0.0813, std = 0.0015, ci = { 0.0797, 0.0829 } },
        mc = { mean = 0.1046, std = 0.0011, ci = { 0.1035, 0.1058 } },
        prune = { mean = 0.0808, std = 0.0022, ci = { 0.0784, 0.0831 } },
      },
    },
  },
}

-- Table 4: PatchTST experimentation results ("Std MAE", no interval, no
-- Friedman statistic). "pairwise" holds the row's printed comparisons,
-- "vs MC Dropout (p=0.0312*)" -> { mc = 0.0312 }; every printed p has a '*'.
M.tables.patchtst = {
  table = "Table 4",
  datasets = {
    bitcoin = {
      friedman = { p = 0.000939, marked = true },
      methods = {
        none = { mean = 0.3710, std = 0.1481, rank = 2, pairwise = { dropout = 0.0312, mc = 0.0312 } },
        dropout = { mean = 0.7740, std = 0.1413, rank = 4, note = "Significantly worse than all others" },
        mc = { mean = 0.4620, std = 0.1175, rank = 3, pairwise = { dropout = 0.0312, prune = 0.0312 } },
        prune = { mean = 0.3692, std = 0.1460, rank = 1, note = "Best performer" },
      },
    },
    sp500 = {
      friedman = { p = 0.003071, marked = true },
      methods = {
        none = { mean = 0.3952, std = 0.1086, rank = 3, pairwise = { mc = 0.0312 } },
        dropout = { mean = 0.3312, std = 0.0685, rank = 1, pairwise = { mc = 0.0312 } },
        mc = { mean = 0.5923, std = 0.0604, rank = 4, note = "Significantly worse than No Dropout and Dropout" },
        prune = { mean = 0.3123, std = 0.0538, rank = 2, pairwise = { mc = 0.0312 } },
      },
    },
    airquality = {
      friedman = { p = 0.003847, marked = true },
      methods = {
        none = { mean = 17.6980, std = 2.4818, rank = 3, pairwise = { dropout = 0.0312 } },
        dropout = { mean = 23.4991, std = 2.7051, rank = 4, note = "Significantly worse than MC Dropout and Synaptic" },
        mc = { mean = 16.4987, std = 0.9511, rank = 1, pairwise = { dropout = 0.0312 } },
        prune = { mean = 16.8684, std = 2.2254, rank = 2, pairwise = { dropout = 0.0312 } },
      },
    },
    household = {
      friedman = { p = 0.000440, marked = true },
      methods = {
        none = { mean = 0.1102, std = 0.0093, rank = 2, pairwise = { dropout = 0.0312, mc = 0.0312 } },
        dropout = { mean = 0.3114, std = 0.0208, rank = 4, note = "Significantly worse than all others" },
        mc = { mean = 0.1316, std = 0.0067, rank = 3, pairwise = { dropout = 0.0312, prune = 0.0312 } },
        prune = { mean = 0.1060, std = 0.0083, rank = 1, note = "Best performer" },
      },
    },
  },
}

-- Claims of the text (section 4) that a reader may want to check against the
-- report; each is quoted with its paragraph.
M.claims = {
  { where = "4.1", text = "our method incurs an average overhead of approximately 4.4%" },
  { where = "4.2", text = "an average MAE reduction of 9.8% across all datasets" },
  { where = "4.3", text = "best average MAE at 0.42, [...] no regularization (0.52), dropout (0.55), and "
    .. "Monte Carlo methods (0.56)" },
}

--- paper_results.lookup(arch, dataset [, method]) -> the dataset's entry
-- (friedman, methods) or the method's entry, nil when the paper has none.
function M.lookup(arch, dataset, method)
  local t = M.tables[arch]
  local d = t and t.datasets[dataset]
  if d == nil or method == nil then return d end
  return d.methods[method]
end

return M
