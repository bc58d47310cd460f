"""PyTorch twin of bench/ops.lua: the same ops, shapes and timing (best of 3
blocks of 20 calls after one warm-up call), one line per op: "name" seconds.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/ops_torch.py
"""
import time

import torch

torch.set_num_threads(1)
torch.manual_seed(0)
F = torch.nn.functional
R, C = 3840, 64
x, y, w = torch.randn(R, C), torch.randn(R, C), torch.randn(C, C)
xg = torch.randn(R, C).requires_grad_(True)
pos = x.abs() + 0.5


def mse_bwd():
    xg.grad = None
    F.mse_loss(xg, y).backward()


def tanh_bwd():
    xg.grad = None
    xg.tanh().sum().backward()


OPS = [
    ("add", lambda: x + y),
    ("mul", lambda: x * y),
    ("div", lambda: x / y),
    ("add scalar", lambda: x + 1),
    ("pow 2", lambda: x ** 2),
    ("neg", lambda: -x),
    ("abs", lambda: x.abs()),
    ("sqrt", lambda: pos.sqrt()),
    ("exp", lambda: x.exp()),
    ("log", lambda: pos.log()),
    ("tanh", lambda: x.tanh()),
    ("sigmoid", lambda: x.sigmoid()),
    ("relu", lambda: x.relu()),
    ("gelu", lambda: F.gelu(x)),
    ("clamp", lambda: x.clamp(-1, 1)),
    ("gt scalar", lambda: x > 0),
    ("where", lambda: torch.where(x > 0, x, y)),
    ("sum", lambda: x.sum()),
    ("sum dim 1", lambda: x.sum(0)),
    ("sum dim 2", lambda: x.sum(1)),
    ("mean dim 2", lambda: x.mean(1)),
    ("max dim 2", lambda: x.max(1)),
    ("softmax dim 2", lambda: torch.softmax(x, 1)),
    ("log_softmax dim 2", lambda: torch.log_softmax(x, 1)),
    ("transpose copy", lambda: x.t().contiguous()),
    ("cat dim 2", lambda: torch.cat([x, y], 1)),
    ("matmul [3840,64]x[64,64]", lambda: x @ w),
    ("mse_loss", lambda: F.mse_loss(x, y)),
    ("mse_loss fwd+bwd", mse_bwd),
    ("tanh fwd+bwd", tanh_bwd),
]

for name, f in OPS:
    f()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(20):
            f()
        best = min(best, (time.perf_counter() - t0) / 20)
    print('"%s" %.9g' % (name, best), flush=True)
