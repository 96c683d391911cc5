"""Benchmark: the reduced-posterior sampler's step cost does not grow with P; full-network Langevin's does.

Steps per second (one chain, one torch thread, float64, L = 32, V = 8) of
  * reduced MALA (W integrated out, data through the V x V statistics C) at P = 1e2, 1e4 and 1e5,
  * full-network Langevin on (S, W) on the raw one-hot data at P = 1e4 (float32; the straightforward baseline),
measured in the same process.  Ratios: flat_in_P = rate(1e5) / rate(1e2) (target >= 0.5: flat cost in P) and
speedup_vs_full_P1e4 = reduced(1e4) / Langevin(1e4) (target >= 5).
"""
from __future__ import annotations

import time

import torch

from ... import rng
from ...benchtools import BenchResult, time_rate
from .data import one_hot, sample_tokens, statistics
from .models import CopyHeads
from .posterior import Geometry, ReducedPosterior
from .train import langevin, mala


def benchmark(quick: bool = False) -> BenchResult:
    L, V = 32, 8
    steps = 5 if quick else 20
    min_time = 0.2 if quick else 1.5
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        geo = Geometry(L, "cyclic")
        gen = rng.torch_generator(0, "bench", L)
        rates, build = {}, {}
        C_test = statistics(sample_tokens(10, L, V, rng.numpy_rng(0, "bench", "test", L)), V)
        for P in (100, 10_000, 100_000):
            t0 = time.perf_counter()
            C = statistics(sample_tokens(P, L, V, rng.numpy_rng(0, "bench", "data", L, P)), V)
            build[P] = time.perf_counter() - t0
            post = ReducedPosterior(C[None], torch.tensor([[P * L * 1.0]]), "softmax", geo, V, 1.0, 1.0, 1.0)
            S0 = torch.zeros(1, 1, L, L, dtype=torch.float64)
            rates[f"reduced_steps_per_s_P{P:.0e}".replace("+0", "")] = time_rate(
                lambda: mala(post, S0, steps, 0, 1, gen, C_test, 10 * L), steps, min_time)
        P = 10_000
        X = CopyHeads.layout(one_hot(sample_tokens(P, L, V, rng.numpy_rng(0, "bench", "data", L, P)), V, dtype=torch.float32)[None])
        model = CopyHeads(1, L, V, "softmax", geo, generator=gen, dtype=torch.float32)
        lr = 0.5 * V / (P * L)
        n_full = max(2, steps // 4)
        rates["langevin_steps_per_s_P1e4"] = time_rate(
            lambda: langevin(model, X, lr, n_full, n_full, 1, gen, C_test, 10 * L), n_full, min_time)
    finally:
        torch.set_num_threads(threads)
    r2, r4, r5 = rates["reduced_steps_per_s_P1e2"], rates["reduced_steps_per_s_P1e4"], rates["reduced_steps_per_s_P1e5"]
    return BenchResult(
        name="copy-transition",
        setting={"L": L, "V": V, "chains": 1, "dtype": "float64", "threads": 1},
        rates=rates,
        ratios={"flat_in_P": r5 / r2, "speedup_vs_full_P1e4": r4 / rates["langevin_steps_per_s_P1e4"]},
        targets={"flat_in_P": 0.5, "speedup_vs_full_P1e4": 5.0},
        threads=1,
        notes=("one-time statistics build (X^T X over sequences): "
               + ", ".join(f"P={p:g}: {t:.2f}s" for p, t in build.items())),
    )
