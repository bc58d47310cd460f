-- Mini-batches over (X, y) along the first dimension. Shuffled batches are
-- gathered with index_select from a permutation (sy.randperm); unshuffled
-- ones are views. The last, partial batch is kept.
--
-- With a seed the loader draws its permutations from its own stream of the
-- generator (seed, offset), saving and restoring the global state around the
-- draw: the same seed gives the same order every run, and nothing else that
-- uses the global generator (initialisation, dropout) is disturbed. Without
-- a seed it draws from the global generator, as PyTorch's DataLoader does,
-- so sy.manual_seed fixes it.
local sy = require("synlua")

local M = {}

local Loader = {}
Loader.__index = Loader
M.Loader = Loader

-- sy.data.loader(X, y, {batch_size = 64, shuffle = false, seed = nil})
function M.loader(X, y, opts)
  opts = opts or {}
  if not sy.is_tensor(X) or X:dim() < 1 then error("loader: X must be a tensor with a first dimension", 2) end
  if y ~= nil and (not sy.is_tensor(y) or y:dim() < 1 or y:size(1) ~= X:size(1)) then
    error(string.format("loader: y must be a tensor with %d rows like X", X:size(1)), 2)
  end
  local bs = opts.batch_size or 64
  if math.type(bs) ~= "integer" or bs < 1 then
    error(string.format("loader: batch_size must be a positive integer, got %s", tostring(bs)), 2)
  end
  if opts.seed ~= nil and math.type(opts.seed) ~= "integer" then
    error(string.format("loader: seed must be an integer, got %s", tostring(opts.seed)), 2)
  end
  local self = setmetatable({ X = X, y = y, batch_size = bs, shuffle = opts.shuffle and true or false,
    n = X:size(1) }, Loader)
  if opts.seed ~= nil then self.rng = { seed = opts.seed, offset = 0 } end
  return self
end

function Loader:__len() return (self.n + self.batch_size - 1) // self.batch_size end

function Loader:permutation()
  if not self.rng then return sy.randperm(self.n) end
  local saved = sy.get_rng_state()
  sy.set_rng_state(self.rng)
  local perm = sy.randperm(self.n)
  self.rng = sy.get_rng_state()
  sy.set_rng_state(saved)
  return perm
end

-- for xb, yb, b in loader:iter() do ... end; each call to iter() is one
-- epoch, with a fresh permutation when shuffling.
function Loader:iter()
  local perm = self.shuffle and self.n > 0 and self:permutation() or nil
  local X, y, bs, n = self.X, self.y, self.batch_size, self.n
  local b = 0
  return function()
    local first = b * bs + 1
    if first > n then return nil end
    b = b + 1
    local len = math.min(bs, n - first + 1)
    if perm then
      local idx = perm:narrow(1, first, len)
      return X:index_select(1, idx), y and y:index_select(1, idx), b
    end
    return X:narrow(1, first, len), y and y:narrow(1, first, len), b
  end
end

-- sy.data.batches(X, y, opts): one epoch's iterator (see loader).
function M.batches(X, y, opts)
  return M.loader(X, y, opts):iter()
end

return M
