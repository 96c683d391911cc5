"""The benchmark registry (``attnlab bench``): the core benchmark, then one per study.

A benchmark is a function ``fn(quick: bool = False) -> BenchResult`` (:mod:`attnlab.benchtools`).  The core
one (the normalization registry vs a per-row Python loop) is defined here; each study registers its own
through ``Study.benchmark``.  ``quick=True`` shrinks the work so tests can check that a benchmark runs.
"""
from __future__ import annotations

from typing import Callable

import torch

from .benchtools import BenchResult, time_rate

__all__ = ["BenchResult", "time_rate", "bench_normalizations", "registry", "CORE_BENCHMARKS"]


def bench_normalizations(quick: bool = False) -> BenchResult:
    """Registry softmax/sparsemax over a (B, H, Q, K) batch vs a per-row Python loop over the rows."""
    from .normalizations import normalize

    B, H, Q, K = (2, 4, 16, 64) if quick else (8, 8, 128, 128)
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(B, H, Q, K, generator=g)
    rows = scores.reshape(-1, K)
    n_rows = rows.shape[0]
    min_time = 0.05 if quick else 0.5

    def batched():
        normalize(scores, "softmax")

    def per_row():
        out = torch.empty_like(rows)
        for i in range(n_rows):
            r = rows[i]
            e = torch.exp(r - r.max())
            out[i] = e / e.sum()
        return out

    batched_rate = time_rate(batched, n_rows, min_time)
    loop_rate = time_rate(per_row, n_rows, min_time, max_calls=3)
    ref = per_row().reshape_as(scores)
    err = float((normalize(scores, "softmax") - ref).abs().max())
    return BenchResult(
        name="normalizations",
        setting={"shape": [B, H, Q, K], "normalization": "softmax", "dtype": "float32"},
        rates={"batched_rows_per_s": batched_rate, "loop_rows_per_s": loop_rate},
        ratios={"speedup": batched_rate / loop_rate},
        targets={"speedup": 10.0},
        notes=f"max |batched - loop| = {err:.2e}",
    )


CORE_BENCHMARKS: dict[str, Callable[..., BenchResult]] = {"normalizations": bench_normalizations}


def registry() -> dict[str, Callable[..., BenchResult]]:
    """name -> benchmark function: the core ones, then one per present study (imported only when run; a
    study without a benchmark says so)."""
    from .studies import STUDY_MODULES, _module_present, get_study
    from .errors import UserError

    out = dict(CORE_BENCHMARKS)
    for name, path in STUDY_MODULES.items():
        if _module_present(path):
            def run(quick: bool = False, _name=name):
                result = get_study(_name).benchmark(quick=quick)
                if result is None:
                    raise UserError(f"study {_name!r} registers no benchmark")
                return result
            out[name] = run
    return out
