"""PyTorch twin of bench/vs_pytorch.lua: trains one configuration in its own
process and prints one JSON object with the timings. vs_pytorch.lua runs it
with Debian's python3-torch, OMP_NUM_THREADS=threads and
OPENBLAS_NUM_THREADS=1:

    /usr/bin/python3 bench/torch_twin.py --data FILE --model lstm --method prune \
        --threads 1 --epochs 5 [--dropout P] [--prune s_min,s_max,warmup,total,every] \
        [--infer-calls N]

FILE is the safetensors file synlua wrote: S [N + L - 1, D] float32, the
series rows the N training windows cover, y [N, 1] float32 their targets and
L [1] int64 the window length. The windows X [N, L, D] are a view of S
(S.unfold(0, L, 1).transpose(1, 2): window i is rows i .. i+L-1, strides
(D, D, 1)), as synlua's side builds them, so both sides train on identical
values and neither holds N x L x D floats.

The models are the paper's (REFERENCE.md 3) with synlua's parameter names;
the loop is the reference code's (Algorithm 4): forward, MSE, zero_grad,
backward, maybe prune, Adam step, masks multiplied in again, loss.item().
Batches of 64 from a fresh randperm each epoch, gathered by indexing (the
same work as synlua's loader: X[idx] on the view copies whole windows into
a contiguous [B, L, D] batch; a DataLoader over a TensorDataset would
collate sample by sample and be slower). Pruning: the reference code's
mechanics (REFERENCE.md 2): N counts the tensors that still have an active
weight, k = floor(s * N) - (N - active), nothing when k <= 0 or k >= active,
else threshold = kthvalue of the active magnitudes and the weights strictly
below it are pruned; the cubic schedule of Algorithm 2 over 0-based epochs,
an event every `every` batches (counter over all batches) from `warmup` on.
"""
import argparse
import json
import math
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    """{name: tensor} of a safetensors file (F32/F64/I64 only)."""
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, e in header.items():
            if name == "__metadata__":
                continue
            start, end = e["data_offsets"]
            buf = bytearray(end - start)
            f.seek(base + start)
            f.readinto(buf)
            out[name] = torch.frombuffer(buf, dtype=dtypes[e["dtype"]]).reshape(e["shape"])
    return out


# ----------------------------------------------------------------- models

class Recurrent(nn.Module):
    """RNN (tanh) or LSTM -> last hidden state -> Dropout -> fc."""

    def __init__(self, kind, D, H=64, p=0.0):
        super().__init__()
        self.kind = kind
        setattr(self, kind, getattr(nn, kind.upper())(D, H, batch_first=True))
        self.drop = nn.Dropout(p)
        self.fc = nn.Linear(H, 1)

    def forward(self, x):
        out, _ = getattr(self, self.kind)(x)
        return self.fc(self.drop(out[:, -1, :]))


def paper_patch_len(L):
    P = 1 if L <= 7 else 2 if L <= 14 else 3 if L <= 30 else 4
    return min(P, L)


class Attention(nn.Module):
    """Separate q/k/v/out projections, dropout on the probabilities."""

    def __init__(self, d, heads, p):
        super().__init__()
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        self.heads = heads
        self.drop = nn.Dropout(p)

    def forward(self, x):
        b, n, d = x.shape
        e = d // self.heads

        def split(t):
            return t.view(b, n, self.heads, e).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(e), dim=-1)
        return self.out((self.drop(w) @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, d, heads, d_ff, p):
        super().__init__()
        self.attn = Attention(d, heads, p)
        self.ln1 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, d_ff)
        self.ff2 = nn.Linear(d_ff, d)
        self.ln2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        x = self.ln1(x + self.drop(self.attn(x)))
        return self.ln2(x + self.drop(self.ff2(self.drop(F.relu(self.ff1(x))))))


class PaperPatchTST(nn.Module):
    def __init__(self, D, L, d_model=64, heads=4, layers=2, d_ff=256, p=0.0):
        super().__init__()
        self.P = paper_patch_len(L)
        self.n = -(-L // self.P)
        self.patch_embed = nn.Linear(self.P * D, d_model)
        self.pos_embed = nn.Parameter(torch.randn(1, self.n, d_model))
        self.blocks = nn.ModuleList(Block(d_model, heads, d_ff, p) for _ in range(layers))
        self.drop = nn.Dropout(p)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x):
        b, L, D = x.shape
        pad = self.n * self.P - L
        if pad:
            x = torch.cat([x, x[:, -1:, :].expand(b, pad, D)], 1)
        z = self.patch_embed(x.reshape(b, self.n, self.P * D)) + self.pos_embed
        for block in self.blocks:
            z = block(z)
        return self.head(self.norm(self.drop(z)).mean(1))


def build(model, D, L, p):
    if model in ("rnn", "lstm"):
        return Recurrent(model, D, 64, p)
    return PaperPatchTST(D, L, p=p)


# ---------------------------------------------------------------- pruning

class Pruner:
    """The reference code's global magnitude pruning (see the top)."""

    def __init__(self, model, s_min, s_max, warmup, total, every):
        # every weight but the final LayerNorm's (the PatchTST preset excludes it)
        self.params = [p for name, p in model.named_parameters()
                       if "weight" in name and name != "norm.weight"]
        self.masks = [torch.ones_like(p, dtype=torch.bool) for p in self.params]
        self.s_min, self.s_max, self.warmup, self.total, self.every = s_min, s_max, warmup, total, every
        self.batch = 0
        self.seconds = 0.0
        self.events = 0

    def target(self, epoch):
        if epoch < self.warmup:
            return 0.0
        t = min(1.0, max(0.0, (epoch - self.warmup) / (self.total - self.warmup)))
        return self.s_min + (self.s_max - self.s_min) * t ** 3

    @torch.no_grad()
    def update(self, s):
        counts = [int(m.sum()) for m in self.masks]
        n_total = sum(m.numel() for m, c in zip(self.masks, counts) if c > 0)
        active = sum(counts)
        k = math.floor(s * n_total) - (n_total - active)
        if k <= 0 or k >= active:
            return
        mags = torch.cat([p.abs()[m] for p, m in zip(self.params, self.masks)])
        threshold = torch.kthvalue(mags, k).values
        for p, m in zip(self.params, self.masks):
            m &= p.abs() >= threshold
            p.mul_(m)

    def step(self, epoch):
        t0 = time.perf_counter()
        self.batch += 1
        if epoch >= self.warmup and self.batch % self.every == 0:
            self.events += 1
            self.update(self.target(epoch))
        self.seconds += time.perf_counter() - t0

    @torch.no_grad()
    def apply(self):
        t0 = time.perf_counter()
        for p, m in zip(self.params, self.masks):
            p.mul_(m)
        self.seconds += time.perf_counter() - t0

    def sparsity(self):
        total = sum(m.numel() for m in self.masks)
        return 1.0 - sum(int(m.sum()) for m in self.masks) / total


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", choices=("rnn", "lstm", "patchtst"), required=True)
    ap.add_argument("--method", choices=("none", "prune"), default="none")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--prune", default="0.3,0.7,2,20,5", help="s_min,s_max,warmup,total,every")
    ap.add_argument("--infer-calls", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    data = read_safetensors(a.data)
    S, y, L = data["S"], data["y"], int(data["L"][0])
    X = S.unfold(0, L, 1).transpose(1, 2)
    N, _, D = X.shape
    assert N == y.shape[0], "the file's series and targets disagree"
    model = build(a.model, D, L, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    pruner = None
    if a.method == "prune":
        s_min, s_max, warmup, total, every = (float(v) for v in a.prune.split(","))
        pruner = Pruner(model, s_min, s_max, warmup, total, int(every))

    steps = 0
    wall = cpu = 0.0
    loss_sum = 0.0
    for epoch in range(a.epochs):
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(N)
        loss_sum, seen = 0.0, 0
        for first in range(0, N, a.batch):
            idx = perm[first:first + a.batch]
            xb, yb = X[idx], y[idx]
            loss = F.mse_loss(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            if pruner:
                pruner.step(epoch)
            opt.step()
            if pruner:
                pruner.apply()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            steps += 1
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0

    # single-window inference latency: batch 1, eval mode, no grad
    model.eval()
    x1 = X[:1].clone()
    lat = []
    with torch.no_grad():
        for _ in range(20):
            model(x1)
        for _ in range(a.infer_calls):
            t0 = time.perf_counter()
            model(x1)
            lat.append(time.perf_counter() - t0)
    lat.sort()

    print(json.dumps({
        "side": "pytorch", "version": torch.__version__, "model": a.model, "method": a.method,
        "seq_len": L, "features": D, "windows": N, "threads": torch.get_num_threads(),
        "epochs": a.epochs, "steps": steps, "seconds": wall, "cpu_seconds": cpu,
        "seconds_per_epoch": wall / a.epochs, "steps_per_second": steps / wall,
        "prune_seconds": pruner.seconds if pruner else 0.0,
        "prune_events": pruner.events if pruner else 0,
        "sparsity": pruner.sparsity() if pruner else 0.0,
        "prunable": sum(p.numel() for p in pruner.params) if pruner else None,
        "params": sum(p.numel() for p in model.parameters()),
        "final_loss": loss_sum / max(seen, 1), "infer_seconds": lat[len(lat) // 2],
        "peak_rss_mb": peak_rss_mb(),
    }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
