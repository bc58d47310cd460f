-- sy.data: CSV files into frames, feature engineering, windows, splits,
-- scalers and mini-batches. A typical script:
--
--   local df = sy.data.read_csv("prices.csv")                -- or sy.datasets.load
--   local fe = sy.data.engineer(df, {target = "close", time = "date"})
--   local d  = sy.data.prepare(fe, {seq_len = 7, protocol = "clean"})
--   for xb, yb in sy.data.loader(d.train.X, d.train.y, {batch_size = 64, shuffle = true, seed = 42}):iter() do
--     ...
--   end
--   local pred = d.y_scaler:inverse(model:forward(d.test.X))
local M = {}

for _, part in ipairs({ "frame", "features", "scaler", "windows", "batches" }) do
  for k, v in pairs(require("synlua.data." .. part)) do M[k] = v end
end

return M
