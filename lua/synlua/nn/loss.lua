-- sy.nn's losses as modules: MSELoss, L1Loss and HuberLoss, called as
-- loss_fn(input, target) and computed by the fused C ops (sy.mse_loss, ...).
local sy = require("synlua.core")
local base = require("synlua.nn.module")

local Module, options = base.Module, base.options
local M = {}

local REDUCTIONS = { "mean", "sum", "none" }

--- nn.MSELoss{reduction = "mean"}: reduction "mean", "sum" or "none".
local MSELoss = Module:extend("MSELoss")
M.MSELoss = MSELoss

function MSELoss:__init(...)
  self.reduction = options("nn.MSELoss", { { "reduction", REDUCTIONS, "mean" } }, ...).reduction
end

function MSELoss:forward(input, target) return sy.mse_loss(input, target, self.reduction) end

--- nn.L1Loss{reduction = "mean"}
local L1Loss = Module:extend("L1Loss")
M.L1Loss = L1Loss

function L1Loss:__init(...)
  self.reduction = options("nn.L1Loss", { { "reduction", REDUCTIONS, "mean" } }, ...).reduction
end

function L1Loss:forward(input, target) return sy.l1_loss(input, target, self.reduction) end

--- nn.HuberLoss{reduction = "mean", delta = 1.0} (PyTorch's positional order).
local HuberLoss = Module:extend("HuberLoss")
M.HuberLoss = HuberLoss

function HuberLoss:__init(...)
  local o = options("nn.HuberLoss", { { "reduction", REDUCTIONS, "mean" }, { "delta", "posnumber", 1.0 } }, ...)
  self.reduction, self.delta = o.reduction, o.delta
end

function HuberLoss:forward(input, target) return sy.huber_loss(input, target, self.delta, self.reduction) end

local function reduction_repr(self)
  return self.reduction == "mean" and "" or ("reduction=%q"):format(self.reduction)
end

MSELoss.extra_repr = reduction_repr
L1Loss.extra_repr = reduction_repr

function HuberLoss:extra_repr()
  local s = reduction_repr(self)
  if self.delta ~= 1 then s = s .. (s == "" and "" or ", ") .. ("delta=%g"):format(self.delta) end
  return s
end

return M
