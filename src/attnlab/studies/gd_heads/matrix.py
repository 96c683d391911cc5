"""The study's normalization-sensitive experiment for ``attnlab run matrix``: the curvature law and lazy GD
under any registry normalization (taken by its declared axes and bias through the model; no list of names).

Metrics (deterministic given normalization and scale):
* hessian_slope, grad_slope: OLS slopes of log ||hess Phi|| and log ||grad Phi|| against log H at theta0
  (W0 = 0.3 N(0,1), so that attention is not uniform); the theory's 1/sqrt(H) law predicts -0.5 and 0.
  HVPs by double backward; where an entry's double backward fails or gives non-finite values (entmax15's
  autograd function has no usable second derivative), by central finite differences of gradients along the
  power-iteration direction (eps = 1e-4, brief §3g).  ``hvp_fd`` = 1 marks the finite-difference path.
* train_loss: L^ after K full-batch GD steps at H = 16 (eta = 1).
* ntk_margin: hard-margin NTK margin at theta0 (P0, H = 16).
Every normalization in the registry applies: the model is multi-head, so an entry normalized jointly over
heads and keys (axes "heads_and_keys") is a different model, not a duplicate of its per-key counterpart.
"""
from __future__ import annotations

import numpy as np

from ... import rng
from ...claims import slope_fit
from . import curvature, data, models, theory
from .train import gd

SCALES = {"smoke": dict(n=16, Hs=(1, 4, 16), samples=1, K=20, iters=8),
          "quick": dict(n=100, Hs=(1, 4, 16, 64), samples=3, K=200, iters=30)}


def _curvature_slopes(normalization: str, p: dict, method: str) -> dict[str, float]:
    mix = data.MixtureSpec()
    Hs, hn, gn = [], [], []
    for H in p["Hs"]:
        spec = models.ModelSpec(H=H, T=mix.T, d=mix.d, normalization=normalization)
        for s in range(p["samples"]):
            gen = rng.torch_generator(0, "matrix", H, s)
            X, _, _ = data.sample(mix, 1, gen)
            th = models.pack(*models.init_params(spec, gen, W0_scale=0.3))
            gn.append(float(curvature.ntk_features(th, X, spec).norm()))
            hn.append(float(curvature.hessian_norms(th, X, spec, p["iters"], gen, method)[0]))
            Hs.append(H)
    if not np.all(np.isfinite(hn)):
        raise FloatingPointError(f"non-finite Hessian norm with {method} HVPs")
    return {"hessian_slope": slope_fit(Hs, hn, log_x=True, log_y=True).slope,
            "grad_slope": slope_fit(Hs, gn, log_x=True, log_y=True).slope}


def normalization_experiment(normalization: str, scale: str = "smoke"):
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
    p = SCALES[scale]
    mix = data.MixtureSpec()
    try:
        out: dict[str, float] = {**_curvature_slopes(normalization, p, "autograd"), "hvp_fd": 0.0}
    except (RuntimeError, FloatingPointError):   # no usable double backward: first derivatives only
        out = {**_curvature_slopes(normalization, p, "fd"), "hvp_fd": 1.0}
    H = 16
    spec = models.ModelSpec(H=H, T=mix.T, d=mix.d, normalization=normalization)
    gen = rng.torch_generator(0, "matrix-train")
    X, y, _ = data.sample(mix, p["n"], gen)
    th = models.pack(*models.init_params(spec, gen))
    J = curvature.ntk_features(th, X, spec)
    out["ntk_margin"], _ = theory.svm_dual_margin((J @ J.T).numpy(), y.numpy())
    res = gd(th, X, y, spec, 1.0, p["K"], checkpoints=(p["K"],))   # DivergenceError propagates: a result
    out["train_loss"] = res.records[-1]["train_loss"]
    return {k: float(v) for k, v in out.items()}
