"""PyTorch twin of bench/layers.lua: the same layers, shapes and timing
protocol; prints one JSON object per case. Run by bench/layers.lua with
Debian's python3-torch:  /usr/bin/python3 bench/layers_torch.py THREADS REPS
"""
import json
import sys
import time

import torch

threads, reps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)


class Block(torch.nn.Module):
    """Post-norm encoder block of the paper's PatchTST (REFERENCE.md 3)."""

    def __init__(self, d, heads, ff):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.out = (torch.nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.ff1, self.ff2 = torch.nn.Linear(d, ff), torch.nn.Linear(ff, d)

    def forward(self, x):
        b, l, d = x.shape
        h, e = self.heads, d // self.heads
        q = self.q(x).view(b, l, h, e).transpose(1, 2)
        k = self.k(x).view(b, l, h, e).transpose(1, 2)
        v = self.v(x).view(b, l, h, e).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-1, -2) / e ** 0.5, dim=-1)
        a = (p @ v).transpose(1, 2).reshape(b, l, d)
        x = self.ln1(x + self.out(a))
        return self.ln2(x + self.ff2(torch.relu(self.ff1(x))))


def case(name, model, x):
    def step():
        model.zero_grad(set_to_none=True)
        y = model(x)
        y = y[0] if isinstance(y, tuple) else y
        y.sum().backward()

    for _ in range(3):
        step()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        best = min(best, (time.perf_counter() - t0) / reps)
    print(json.dumps({"case": name, "seconds": best}), flush=True)


case("lstm", torch.nn.LSTM(10, 64, batch_first=True), torch.randn(64, 60, 10))
case("rnn", torch.nn.RNN(10, 64, batch_first=True), torch.randn(64, 60, 10))
case("encoder", torch.nn.Sequential(Block(64, 4, 256), Block(64, 4, 256)), torch.randn(64, 15, 64))
