"""CPU cost of a preset, per task kind, from a shortened run (how the paper preset's cost in the docs was measured).

One seed of every task configuration is run with every GD horizon divided by ``shrink``; ``time.process_time`` is
taken for the task and, apart, for its GD loop.  The GD part is scaled back by ``shrink`` (a GD step costs the same
at every K), the rest (initialization, NTK features, SVM, Lanczos, power iterations, evaluation) is counted as
measured, and each configuration is multiplied by its number of seeds:

    est(task) = (t_task - t_gd) + shrink * t_gd,   cost(kind) = sum over configurations of seeds * est(task).

The K-proportional-to-n generalization runs are measured at K = n and scaled by K_per_n.  One thread.

    python -m attnlab.studies.gd_heads.cost paper 10
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import sys
import time

import torch

from . import experiments


@contextlib.contextmanager
def _timed_gd(log: list):
    """experiments.gd with its CPU time appended to ``log``."""
    orig = experiments.gd

    def gd(*args, **kwargs):
        t = time.process_time()
        try:
            return orig(*args, **kwargs)
        finally:
            log.append(time.process_time() - t)

    experiments.gd = gd
    try:
        yield
    finally:
        experiments.gd = orig


def shortened(config, shrink: int):
    """The config with every GD horizon divided by ``shrink`` (checkpoint 0 kept; at least 1 elsewhere)."""
    div = lambda ks: tuple(sorted({k // shrink if k == 0 else max(1, k // shrink) for k in ks}))  # noqa: E731
    return dataclasses.replace(config, K_wc=div(config.K_wc), K_rates=div(config.K_rates), K_bound=div(config.K_bound),
                               K_rates_large_eta=max(1, config.K_rates_large_eta // shrink),
                               K_lazy=max(1, config.K_lazy // shrink), K_gen=max(1, config.K_gen // shrink),
                               K_init=max(1, config.K_init // shrink), K_per_n=1)


def estimate(config, shrink: int = 10, report=print) -> dict:
    """{kind: estimated CPU seconds of all its tasks} plus "_total" and "_longest" (the largest task per kind)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    small = shortened(config, shrink)
    tasks = experiments.tasks(config)
    configs = collections.OrderedDict()
    for t in tasks:                                    # one configuration = the task's params without the seed
        p = {k: v for k, v in t.params.items() if k != "seed"}
        key = json.dumps(p, sort_keys=True)
        configs.setdefault(key, [p, 0])[1] += 1
    cost, longest = collections.defaultdict(float), collections.defaultdict(float)
    try:
        for p, seeds in configs.values():
            kind = p["kind"]
            params = {k: v for k, v in p.items() if k != "kind"} | {"seed": 0}
            log: list = []
            t0 = time.process_time()
            with _timed_gd(log):
                experiments.EXPERIMENTS[kind](small, params)
            total, gd = time.process_time() - t0, sum(log)
            scale = config.K_per_n if params.get("protocol") == "K_prop_n" else shrink
            est = total - gd + scale * gd
            cost[kind] += seeds * est
            longest[kind] = max(longest[kind], est)
            report(f"{kind} {params} x{seeds}: {total:.2f} s measured (GD {gd:.2f} s) -> {est:.1f} s a task")
    finally:
        torch.set_num_threads(threads)
    out = {k: round(v, 1) for k, v in cost.items()}
    out["_total"] = round(sum(cost.values()), 1)
    out["_longest"] = {k: round(v, 1) for k, v in longest.items()}
    return out


def main(argv=None):
    from ...runner import resolve

    argv = sys.argv[1:] if argv is None else argv
    preset = argv[0] if argv else "paper"
    shrink = int(argv[1]) if len(argv) > 1 else 10
    _, _, config = resolve("gd-heads", preset, None, None)
    print(json.dumps(estimate(config, shrink), indent=1))


if __name__ == "__main__":
    main()
