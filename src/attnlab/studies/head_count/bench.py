"""Benchmark: training epochs per second of the CLS-query model (fast form: scores x_hat . u_i, values
pooled before W_V, no (T, T) attention) against the straightforward baseline built on
torch.nn.MultiheadAttention with the CLS token appended (Q/K/V on all T+1 positions, (T+1)^2 scores).
Same encoder, head FFN, batch size, optimizer and data; one torch thread; ratio measured in one process."""
from __future__ import annotations

import time

import torch

from ...benchtools import BenchResult
from .data import make_dataset, task_vectors
from .models import HeadCountModel, MHABaselineModel


def _epoch_fn(model, x, y, batch):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch():
        for i in range(0, x.shape[0], batch):                     # (batch, T, d) per step
            loss = torch.mean((model(x[i:i + batch]) - y[i:i + batch]) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return epoch


def _rate(fn, min_time: float) -> float:
    """Epochs per second: one warm-up epoch, then whole epochs for at least min_time seconds."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        dt = time.perf_counter() - start
        if dt >= min_time:
            return calls / dt


def bench_epochs(quick: bool = False) -> BenchResult:
    T, h, n, N, B, n_seq = (32, 4, 8, 32, 128, 512) if quick else (64, 4, 8, 32, 128, 2048)
    min_time = 0.3 if quick else 5.0
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = task_vectors(4, 4, 1234)
        x, y = make_dataset(n_seq, T, 4, a, seed=0)
        torch.manual_seed(0)
        fast = HeadCountModel(4, h, n, N)
        base = MHABaselineModel(4, h, n, N)
        with torch.no_grad():
            err = float((fast(x[:256]) - fast.forward_reference(x[:256])).abs().max())
        # interleave the two measurements so that load from other processes hits both alike
        rf, rb = [], []
        for _ in range(1 if quick else 2):
            rf.append(_rate(_epoch_fn(fast, x, y, B), min_time / 2))
            rb.append(_rate(_epoch_fn(base, x, y, B), min_time / 2))
        fast_rate, base_rate = max(rf), max(rb)
    finally:
        torch.set_num_threads(old)
    return BenchResult(
        name="head-count",
        setting={"T": T, "h": h, "n": n, "N": N, "batch": B, "sequences_per_epoch": n_seq, "dtype": "float32"},
        rates={"fast_epochs_per_s": fast_rate, "mha_baseline_epochs_per_s": base_rate},
        ratios={"speedup": fast_rate / base_rate},
        targets={"speedup": 1.5},
        threads=1,
        notes=f"baseline: nn.MultiheadAttention over the T+1 tokens (CLS appended); "
              f"fast vs textbook eq. 4 max |diff| = {err:.1e}",
    )
