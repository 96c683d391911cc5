"""Performance benchmarks: each measures a hot loop against a straightforward baseline run beside it, in
the same process, and reports *ratios* (absolute times depend on the machine).

A benchmark is a function ``fn(quick: bool = False) -> BenchResult``.  The core one (the normalization
registry vs a per-row Python loop) is registered here; each study registers its own through
``Study.benchmark``.  ``quick=True`` shrinks the work so tests can check that a benchmark runs.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch


@dataclasses.dataclass
class BenchResult:
    name: str
    setting: dict                  # what was measured (sizes, dtype, ...)
    rates: dict[str, float]        # e.g. {"replica_steps_per_s": ..., "baseline_steps_per_s": ...}
    ratios: dict[str, float]       # e.g. {"speedup": rates[a] / rates[b]}
    targets: dict[str, float] = dataclasses.field(default_factory=dict)  # ratio name -> minimum
    threads: int = dataclasses.field(default_factory=torch.get_num_threads)
    notes: str = ""

    @property
    def met(self) -> bool | None:
        if not self.targets:
            return None
        return all(self.ratios.get(k, float("nan")) >= v for k, v in self.targets.items())

    def to_json(self) -> dict:
        """One flat JSON object: name, setting, threads, every rate and ratio at top level, targets, met."""
        d = {"name": self.name, "setting": self.setting, "threads": self.threads}
        d.update(self.rates)
        d.update(self.ratios)
        d.update({"rates": self.rates, "ratios": self.ratios, "targets": self.targets, "met": self.met,
                  "notes": self.notes})
        return d

    def format(self) -> str:
        lines = [f"bench {self.name}  ({', '.join(f'{k}={v}' for k, v in self.setting.items())}; "
                 f"threads={self.threads})"]
        for k, v in self.rates.items():
            lines.append(f"  {k:<32} {v:12.4g}")
        for k, v in self.ratios.items():
            t = self.targets.get(k)
            verdict = "" if t is None else (f"  (target >= {t:g}: {'met' if v >= t else 'NOT met'})")
            lines.append(f"  ratio {k:<26} {v:12.4g}{verdict}")
        if self.notes:
            lines.append(f"  note: {self.notes}")
        return "\n".join(lines)


def time_rate(fn: Callable[[], object], units_per_call: float, min_time: float = 0.5,
              max_calls: int = 100000) -> float:
    """Units per second of ``fn`` (called repeatedly for at least ``min_time`` s after one warm-up call)."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or calls >= max_calls:
            return calls * units_per_call / elapsed


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
