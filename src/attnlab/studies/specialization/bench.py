"""`attnlab bench specialization`: the batched online-SGD engine against a plain single-replica autograd
loop and against the random-number bound, all on one torch thread in the same process.

Setting [issue 3]: D = 1000, L = 4, H = 4, softmax, nu = 16, flipped spike F = 1, float32.
rates: replica_steps_per_s (engine, R replicas), baseline_steps_per_s (plain loop: sample, forward,
loss.backward(), SGD update), rng_bound_steps_per_s (torch.randn of the L*D numbers a step needs, in big
calls: the generator's own throughput).  Targets: speedup >= 10, rng_fraction >= 0.5."""
from __future__ import annotations

import time

import torch

from ...benchtools import BenchResult, time_rate
from .data import Prior, sample_batch
from .models import MultiHeadSLR
from .train import SGDSetup, run_sgd


def bench_sgd(quick: bool = False) -> BenchResult:
    D, L, H, nu, lr = 1000, 4, 4, 16.0, 0.5
    R = 32 if quick else 64
    engine_steps = 200 if quick else 1500
    base_steps = 60 if quick else 400
    prior = Prior.flipped((0.0,), (1.0,))
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        setup = SGDSetup(D=D, L=L, H=H, prior=prior, nu=nu, noise=0.1, lr=lr, activation="softmax")
        # engine: R replicas advanced together (time includes data generation, logging every 100 steps)
        run_sgd(setup, list(range(R)), t_max=50 / D, log_dt=50 / D, data_seed=0)   # warm-up
        t0 = time.perf_counter()
        run_sgd(setup, list(range(R)), t_max=engine_steps / D, log_dt=100 / D, data_seed=1)
        engine = R * engine_steps / (time.perf_counter() - t0)

        # baseline: one replica, autograd, one sample per step
        g = torch.Generator().manual_seed(0)
        model = MultiHeadSLR(D, H, "softmax", generator=g)
        params = [model.K, model.V]

        def plain_step():
            X, y, _, _ = sample_batch(1, L, D, prior, nu, 0.1, g, dtype=torch.float32)
            loss = 0.5 * ((model(X) - y) ** 2).sum()
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, gr in zip(params, grads):
                    p -= lr * gr            # s <- s - lr dloss/ds  (same update as the engine)
        for _ in range(10):
            plain_step()
        t0 = time.perf_counter()
        for _ in range(base_steps):
            plain_step()
        baseline = base_steps / (time.perf_counter() - t0)

        # RNG bound: the L*D normals per replica-step, drawn in chunks like the engine's
        n = 2 ** 21
        buf = torch.empty(n)
        rng = time_rate(lambda: torch.randn(n, out=buf), n / (L * D), min_time=0.3 if quick else 1.0)
    finally:
        torch.set_num_threads(old)
    return BenchResult(
        name="specialization",
        setting={"D": D, "L": L, "H": H, "activation": "softmax", "nu": nu, "replicas": R, "dtype": "float32",
                 "engine_steps": engine_steps, "baseline_steps": base_steps},
        rates={"replica_steps_per_s": engine, "baseline_steps_per_s": baseline, "rng_bound_steps_per_s": rng},
        ratios={"speedup": engine / baseline, "rng_fraction": engine / rng},
        targets={"speedup": 10.0, "rng_fraction": 0.5},
        threads=1,
        notes="per-replica steps/s of the batched manual-gradient engine vs a plain single-replica autograd loop "
              "and vs the Gaussian generator's own throughput (L*D numbers per step)",
    )
