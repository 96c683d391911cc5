"""Benchmark: full-batch GD steps per second at H = 64 with all heads batched (one (n, T, H, T) score tensor,
autograd gradient) against the same GD step with a Python loop over heads (models.phi_loop), one thread,
float64, in the same process."""
from __future__ import annotations

import torch

from ...benchtools import BenchResult, time_rate
from . import data, models
from .train import risk


def bench_gd_heads(quick: bool = False) -> BenchResult:
    H, n = (16, 32) if quick else (64, 100)
    T, d = 8, 16
    min_time = 0.2 if quick else 3.0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec = models.ModelSpec(H=H, T=T, d=d)
        gen = torch.Generator().manual_seed(0)
        X, y, _ = data.sample(data.MixtureSpec(T=T, d=d), n, gen)
        U, W = models.init_params(spec, gen, W0_scale=0.3)
        theta_b = models.pack(U, W).requires_grad_(True)
        Ul = U.clone().requires_grad_(True)
        Wl = W.clone().requires_grad_(True)
        eta = 1e-3   # tiny step: both paths stay at comparable iterates while being timed

        def batched():
            (g,) = torch.autograd.grad(risk(theta_b, X, y, spec), theta_b)
            with torch.no_grad():
                theta_b.sub_(eta * g)

        def loop():
            L = torch.nn.functional.softplus(-y * models.phi_loop(Ul, Wl, X, spec)).mean()
            gU, gW = torch.autograd.grad(L, (Ul, Wl))
            with torch.no_grad():
                Ul.sub_(eta * gU)
                Wl.sub_(eta * gW)

        # same function, same gradient (checked before timing)
        th = models.pack(U, W).requires_grad_(True)
        (g1,) = torch.autograd.grad(risk(th, X, y, spec), th)
        Ua, Wa = U.clone().requires_grad_(True), W.clone().requires_grad_(True)
        gU, gW = torch.autograd.grad(torch.nn.functional.softplus(-y * models.phi_loop(Ua, Wa, X, spec)).mean(),
                                     (Ua, Wa))
        err = float((g1 - models.pack(gU, gW)).abs().max())
        rb = time_rate(batched, 1, min_time)
        rl = time_rate(loop, 1, min_time, max_calls=200)
    finally:
        torch.set_num_threads(threads)
    return BenchResult(
        name="gd-heads",
        setting={"H": H, "n": n, "T": T, "d": d, "dtype": "float64", "threads": 1, "step": "full-batch GD"},
        rates={"batched_steps_per_s": rb, "loop_steps_per_s": rl},
        ratios={"speedup": rb / rl},
        targets={"speedup": 2.0},
        threads=1,
        notes=f"max |grad batched - grad loop| = {err:.1e}",
    )
