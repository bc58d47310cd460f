-- The paper's RNN (one tanh RNN layer of 64 units, its last hidden state,
-- Dropout, Linear(64, 1)) forecasting the UCI household power data (hourly
-- Global_active_power) one step ahead, with each regularisation method (none,
-- dropout, MC dropout, synaptic pruning) at sequence lengths 7 and 30, 3 trials
-- each, under the reference code's protocol. scripts/patchtst_sp500.lua, the
-- flagship, explains the layout.
--
--   synlua scripts/rnn_household.lua --data ../shared/datasets
--   synlua scripts/rnn_household.lua --seq-len 1,3,7,14,30,60 --trials 10   # the paper's grid
--
-- Model: sy.models.RNN{hidden = 64}.
-- Data: sy.datasets "household" (household_power_hourly.csv, 34,589 hours).
local study = require("synlua.study")

study.main({
  model = "rnn",
  dataset = "household",
  defaults = { protocol = "paper", methods = { "none", "dropout", "mc", "prune" }, seq_len = { 7, 30 },
               trials = 3, epochs = 20 },
  description = "The paper's RNN on the UCI household power data (hourly Global_active_power, one step ahead): "
    .. "MAE (mean and 95% CI), sparsity and time per method and sequence length.",
}, arg)
