-- The paper's PatchTST (its simplified patch transformer, REFERENCE.md §3)
-- forecasting the UCI household power data (hourly Global_active_power) one
-- step ahead, with each regularisation method (none, dropout, MC dropout,
-- synaptic pruning) at sequence lengths 7 and 30, 3 trials each, under the
-- reference code's protocol. scripts/patchtst_sp500.lua, the flagship, explains
-- the layout.
--
--   synlua scripts/patchtst_household.lua --data ../shared/datasets
--   synlua scripts/patchtst_household.lua --seq-len 1,3,7,14,30,60 --trials 10   # the paper's grid
--
-- Model: sy.models.PaperPatchTST{d_model = 64, heads = 4, layers = 2, d_ff = 256}.
-- Data: sy.datasets "household" (household_power_hourly.csv, 34,589 hours).
local study = require("synlua.study")

study.main({
  model = "patchtst",
  dataset = "household",
  defaults = { protocol = "paper", methods = { "none", "dropout", "mc", "prune" }, seq_len = { 7, 30 },
               trials = 3, epochs = 20 },
  description = "The paper's PatchTST on the UCI household power data (hourly Global_active_power, one step "
    .. "ahead): MAE (mean and 95% CI), sparsity and time per method and sequence length.",
}, arg)
