"""The study's normalization-sensitive experiment for `attnlab run matrix`: reduced-posterior MALA (W
integrated out, uniform start) on the copy task under any registry normalization of the logits S.

Headline metrics at P = 2L, 8L, 32L (softmax's P* ~ 8.5 L at L = 32): the posterior copy overlap m, the
residual 1 - m^2/q and the test MSE per target of the posterior-mean readout.  Applicability is decided from
the entry's declared properties: one head, so an entry normalizing jointly over heads and keys is its per-key
counterpart (not applicable); an entry with a bias logit runs with its default bias (the reduced posterior
samples S only).  Seeds: attnlab.rng under run seed 0, keyed ("matrix", ...).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ... import rng
from ...normalizations import info
from .data import sample_tokens, statistics
from .posterior import Geometry, ReducedPosterior
from .train import mala

SCALES = {"smoke": dict(L=16, burn=150, steps=150, thin=5, chains=2),
          "quick": dict(L=32, burn=1000, steps=1000, thin=10, chains=4)}


def normalization_matrix(normalization: str, scale: str = "smoke"):
    entry = info(normalization)
    if entry.axes == "heads_and_keys":
        return (f"single-head study: {normalization} normalizes jointly over heads and keys, which with one head "
                f"is its per-key counterpart")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    import torch

    cfg = SCALES[scale]
    L, V, K = cfg["L"], 8, cfg["chains"]
    geo = Geometry(L, "cyclic")
    Ps = [2 * L, 8 * L, 32 * L]
    C = torch.stack([statistics(sample_tokens(P, L, V, rng.numpy_rng(0, "matrix", "data", L, P)), V) for P in Ps])
    n = torch.tensor([[float(P * L)] for P in Ps], dtype=C.dtype)
    post = ReducedPosterior(C, n, normalization, geo, V, 1.0, 1.0, 1.0)
    gen = rng.torch_generator(0, "matrix", "mala", normalization, L)
    S0 = torch.zeros(len(Ps), K, L, L, dtype=C.dtype)
    C_test = statistics(sample_tokens(500, L, V, rng.numpy_rng(0, "matrix", "test", L)), V)
    out = mala(post, S0, cfg["burn"], cfg["steps"], cfg["thin"], gen, C_test, 500 * L)
    df = pd.DataFrame(out["samples"])
    df["P"] = np.repeat(Ps, K)[df["chain"].to_numpy()]
    metrics = {}
    for P, g in df.groupby("P"):
        m = g.groupby("chain").m.mean().abs()  # sign-folded (linear-type normalizations are odd in S)
        metrics[f"m_P{P}"] = float(m.mean())
        metrics[f"residual_P{P}"] = float(g.residual.mean())
        metrics[f"test_mse_P{P}"] = float(g.test_mse.mean())
    metrics["accept"] = float(np.mean(out["accept"]))
    return {k: (v if math.isfinite(v) else float("nan")) for k, v in metrics.items()}
