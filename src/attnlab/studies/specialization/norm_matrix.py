"""The study's normalization-sensitive experiment for ``attnlab run matrix``: the teacher-aligned
comparison (flipped spike F=1, theta=+-1, H=2 heads with keys +-beta k*, L=4, Delta=0) under any registry
normalization.  Key norm beta (and a logit bias where the normalization takes one) are grid-optimized and
the value scales least-squares fitted on independent samples; the risk is measured on test samples.

Headline metrics: risk at nu = 9 and 25, the Bayes risk there, and excess = risk - Bayes at nu = 25."""
from __future__ import annotations

import numpy as np

from .experiments import FLIP1, _seed
from .config import SpecializationConfig
from .theory import FieldSampler, aligned_errors, fit_aligned, posterior_mean

# registry name -> the study's aligned activation and whether a logit bias is grid-searched
_MAP = {"softmax": ("softmax", False), "softmax1": ("softmax1_bias", True), "bayes_softmax": ("bayes_softmax", False),
        "linear": ("linear", False), "sigmoid": ("sigmoid", True), "sparsemax": ("sparsemax", False),
        "entmax15": ("entmax15", False), "ssmax": ("ssmax", False)}


def normalization_metrics(normalization: str, scale: str = "smoke") -> dict[str, float] | str:
    if normalization not in _MAP:
        return f"no teacher-aligned construction for {normalization!r} in this study"
    act, with_bias = _MAP[normalization]
    cfg = SpecializationConfig()
    N = 4000 if scale == "smoke" else 30000
    keys_dir = FLIP1.support()[0]                       # (2, 1): keys +k*, -k*
    out = {}
    for nu in (9.0, 25.0):
        test = FieldSampler(FLIP1, nu, cfg.L, 0.0, N, _seed(cfg, "matrix-test", nu)).fields
        fit = FieldSampler(FLIP1, nu, cfg.L, 0.0, N // 2, _seed(cfg, "matrix-fit", nu)).fields
        best = fit_aligned(fit, keys_dir, act, 1, "shared", np.arange(0.0, 6.01, 0.5),
                           np.arange(-12.0, 4.01, 1.0) if with_bias else None, refine=scale != "smoke")
        e = aligned_errors(test, best["beta"] * keys_dir, act, best["bias"], best["a"], 1, "shared")
        eb = (posterior_mean(test, FLIP1, nu) - test.y) ** 2
        out[f"risk_nu{nu:g}"] = float(e.mean())
        out[f"bayes_nu{nu:g}"] = float(eb.mean())
    out["excess_nu25"] = out["risk_nu25"] - out["bayes_nu25"]
    return out
