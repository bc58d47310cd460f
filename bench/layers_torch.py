"""PyTorch twin of bench/layers.lua: the same layers, shapes and timing
protocol. Run by bench/layers.lua once per round and thread count with
Debian's python3-torch:

    /usr/bin/python3 bench/layers_torch.py THREADS REPS BLOCKS

Prints one JSON object with the versions, then one per case with the best
block's wall-clock and process CPU seconds per step (each the minimum over
BLOCKS blocks of REPS steps, after 3 warm-up steps).
"""
import json
import sys
import time

import torch

threads, reps, blocks = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)


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
    wall = cpu = float("inf")
    for _ in range(blocks):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            step()
        wall = min(wall, (time.perf_counter() - t0) / reps)
        cpu = min(cpu, (time.process_time() - c0) / reps)
    print(json.dumps({"case": name, "seconds": wall, "cpu_seconds": cpu}), flush=True)


case("lstm", torch.nn.LSTM(10, 64, batch_first=True), torch.randn(64, 60, 10))
case("rnn", torch.nn.RNN(10, 64, batch_first=True), torch.randn(64, 60, 10))
case("encoder", torch.nn.Sequential(Block(64, 4, 256), Block(64, 4, 256)), torch.randn(64, 15, 64))
