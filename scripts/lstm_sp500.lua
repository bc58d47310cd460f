-- The paper's LSTM (one LSTM layer of 64 units, its last hidden state, Dropout,
-- Linear(64, 1)) forecasting the S&P 500 ticker AAPL (daily close) one step
-- ahead, with each regularisation method (none, dropout, MC dropout, synaptic
-- pruning) at sequence lengths 7 and 30, 3 trials each, under the reference
-- code's protocol. scripts/patchtst_sp500.lua, the flagship, explains the
-- layout.
--
--   synlua scripts/lstm_sp500.lua --data ../shared/datasets
--   synlua scripts/lstm_sp500.lua --seq-len 1,3,7,14,30,60 --trials 10   # the paper's grid
--
-- Model: sy.models.LSTM{hidden = 64}.
-- Data: sy.datasets "sp500" (AAPL_data.csv, 1,259 days).
local study = require("synlua.study")

study.main({
  model = "lstm",
  dataset = "sp500",
  defaults = { protocol = "paper", methods = { "none", "dropout", "mc", "prune" }, seq_len = { 7, 30 },
               trials = 3, epochs = 20 },
  description = "The paper's LSTM on the S&P 500 ticker AAPL (daily close, one step ahead): MAE (mean and 95% "
    .. "CI), sparsity and time per method and sequence length.",
}, arg)
