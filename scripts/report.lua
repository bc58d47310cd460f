-- The report of a results file: the paper's Tables 2-4 (with the published
-- values beside ours), the figures as SVG, a summary of where synaptic
-- pruning wins, loses or ties, and an index.html that shows them together.
--
--   synlua scripts/report.lua results/grid/trials.csv --out results/grid/report
--   synlua scripts/report.lua a/trials.csv b/lstm_sp500_paper_trials.csv --out /tmp/rep
--
-- Reads scripts/paper_grid.lua's per-trial CSV (or a study script's); see
-- sy.report (lua/synlua/report.lua) for what each table and figure holds.
require("synlua.report").main(arg)
