-- sy.models: the paper's models with the reference code's parameter names
-- (DESIGN.md §1.3), so weights move between synlua and PyTorch, and the
-- original PatchTST.
--
--   local model = sy.models.LSTM{input_dim = 5, hidden = 64, dropout = 0.3}
--   local y = model(x)                    -- x [B, L, 5] -> y [B, 1]
--
-- RNN, LSTM          one recurrent layer -> last hidden state -> Dropout -> Linear(hidden, 1)
-- PaperPatchTST      the paper's simplified patch transformer (REFERENCE.md §3)
-- PatchTST           the original of Nie et al. (REFERENCE.md §8): x [B, L, C] -> [B, horizon, C]
-- RevIN              PatchTST's reversible instance normalisation, usable on its own
-- paper_patch_len(L) the reference code's patch length for a window of L steps
local M = {}

for _, modname in ipairs({ "synlua.models.recurrent", "synlua.models.paper_patchtst",
                           "synlua.models.patchtst" }) do
  for name, value in pairs(require(modname)) do M[name] = value end
end

return M
