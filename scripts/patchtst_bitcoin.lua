-- The paper's PatchTST (its simplified patch transformer, REFERENCE.md §3)
-- forecasting Bitcoin (daily close) one step ahead, with each regularisation
-- method (none, dropout, MC dropout, synaptic pruning) at sequence lengths 7
-- and 30, 3 trials each, under the reference code's protocol.
-- scripts/patchtst_sp500.lua, the flagship, explains the layout.
--
--   synlua scripts/patchtst_bitcoin.lua --data ../shared/datasets
--   synlua scripts/patchtst_bitcoin.lua --seq-len 1,3,7,14,30,60 --trials 10   # the paper's grid
--
-- Model: sy.models.PaperPatchTST{d_model = 64, heads = 4, layers = 2, d_ff = 256}.
-- Data: sy.datasets "bitcoin" (bitcoin.csv, 365 days).
local study = require("synlua.study")

study.main({
  model = "patchtst",
  dataset = "bitcoin",
  defaults = { protocol = "paper", methods = { "none", "dropout", "mc", "prune" }, seq_len = { 7, 30 },
               trials = 3, epochs = 20 },
  description = "The paper's PatchTST on Bitcoin (daily close, one step ahead): MAE (mean and 95% CI), sparsity "
    .. "and time per method and sequence length.",
}, arg)
