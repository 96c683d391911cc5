"""Benchmark helpers: the result record and a rate timer (the studies' ``bench.py`` files import these).

A benchmark measures a hot loop against a straightforward baseline run beside it, in the same process, and
reports *ratios* (absolute times depend on the machine).  The registry of benchmarks is ``attnlab.bench``.
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
