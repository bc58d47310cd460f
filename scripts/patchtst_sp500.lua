-- The flagship study: the paper's PatchTST (its simplified patch transformer,
-- REFERENCE.md §3) forecasting one S&P 500 ticker (AAPL, daily close) one step
-- ahead, with each regularisation method of the paper (none, dropout 0.3,
-- MC dropout, synaptic pruning) at sequence lengths 7 and 30, 3 trials each,
-- under the reference code's protocol. About half a minute on one core.
--
--   synlua scripts/patchtst_sp500.lua --data ../shared/datasets
--   synlua scripts/patchtst_sp500.lua --epochs 2 --trials 1 --seq-len 7 --json
--   synlua scripts/patchtst_sp500.lua --protocol clean --out results/
--
-- A script is the description of its study; synlua.study does the rest: the
-- flags (--help lists them), the data pipeline (sy.datasets.load ->
-- sy.data.prepare), one sy.train.trial per seed, the table or JSON lines,
-- the CSV files and the checkpoints.
local study = require("synlua.study")

study.main({
  model = "patchtst",   -- sy.models.PaperPatchTST{d_model = 64, heads = 4, layers = 2, d_ff = 256}
  dataset = "sp500",    -- sy.datasets "sp500": AAPL_data.csv, target "close"
  defaults = {
    protocol = "paper", -- the reference code's split, scaling and early stopping (REFERENCE.md §4)
    methods = { "none", "dropout", "mc", "prune" },
    seq_len = { 7, 30 },
    trials = 3,         -- seeds 42, 43, 44
    epochs = 20,
  },
  description = "The paper's PatchTST on the S&P 500 ticker AAPL (daily close, one step ahead): "
    .. "MAE (mean and 95% CI), sparsity and time per method and sequence length.",
}, arg)
