"""The study's normalization-sensitive experiment for ``attnlab run matrix``: the teacher-aligned
comparison (flipped spike F=1, theta=+-1, H=2 heads with keys +-beta k*, L=4, Delta=0) under any registry
normalization, taken by name through :func:`models.attention` (so by the entry's declared axes: per head over
the tokens, or jointly over heads and tokens).  Key norm beta (and the per-head bias logit where the entry
declares one, ``info(name).bias``) are grid-optimized and the value scales least-squares fitted on independent
samples; the risk is measured on test samples.

Applicability is decided from the entry's properties only: every entry applies (the construction needs
nothing but weights over the tokens); a run whose risk is not finite is reported as not applicable.

Headline metrics: risk at nu = 9 and 25, the Bayes risk there, and excess = risk - Bayes at nu = 25."""
from __future__ import annotations

import math

import numpy as np

from ... import rng
from ...normalizations import available, info
from .config import SpecializationConfig
from .experiments import FLIP1
from .theory import FieldSampler, aligned_errors, fit_aligned, posterior_mean


def normalization_metrics(normalization: str, scale: str = "smoke") -> dict[str, float] | str:
    if normalization not in available():
        return f"{normalization!r} is not a registered normalization"
    entry = info(normalization)
    cfg = SpecializationConfig()
    N = 4000 if scale == "smoke" else 30000
    keys_dir = FLIP1.support()[0]                       # (2, 1): keys +k*, -k*
    bias_grid = np.arange(-12.0, 12.01, 1.0) if entry.bias else None
    out = {}
    for nu in (9.0, 25.0):
        test = FieldSampler(FLIP1, nu, cfg.L, 0.0, N, rng.derive_seed(cfg.seed, "matrix-test", nu)).fields
        fit = FieldSampler(FLIP1, nu, cfg.L, 0.0, N // 2, rng.derive_seed(cfg.seed, "matrix-fit", nu)).fields
        best = fit_aligned(fit, keys_dir, normalization, 1, "shared", np.arange(0.0, 6.01, 0.5), bias_grid,
                           refine=scale != "smoke")
        e = aligned_errors(test, best["beta"] * keys_dir, normalization, best["bias"], best["a"], 1, "shared")
        eb = (posterior_mean(test, FLIP1, nu) - test.y) ** 2
        out[f"risk_nu{nu:g}"] = float(e.mean())
        out[f"bayes_nu{nu:g}"] = float(eb.mean())
    out["excess_nu25"] = out["risk_nu25"] - out["bayes_nu25"]
    if not all(math.isfinite(v) for v in out.values()):
        return f"the aligned construction under {normalization!r} gives a non-finite risk ({out})"
    return out
