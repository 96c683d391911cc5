"""The study's normalization-sensitive experiment for `attnlab run matrix`: reduced-posterior MALA (W
integrated out, uniform start) on the copy task under any registry normalization of the logits S.

Headline metrics at P = 2L, 8L, 32L (softmax's P* ~ 8.5 L at L = 32): the posterior copy overlap m, the
residual 1 - m^2/q and the test MSE per target of the posterior-mean readout.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from .data import sample_tokens, statistics
from .posterior import Geometry, ReducedPosterior
from .train import mala

SCALES = {"smoke": dict(L=16, burn=150, steps=150, thin=5, chains=2),
          "quick": dict(L=32, burn=1000, steps=1000, thin=10, chains=4)}


def normalization_matrix(normalization: str, scale: str = "smoke"):
    if normalization == "bayes_softmax":
        return ("single-head study: bayes_softmax (a joint softmax over heads and keys) with one head is softmax "
                "plus a constant bias, which the softmax row already covers")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    cfg = SCALES[scale]
    L, V, K = cfg["L"], 8, cfg["chains"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        geo = Geometry(L, "cyclic")
        Ps = [2 * L, 8 * L, 32 * L]
        C = torch.stack([statistics(sample_tokens(P, L, V, 1000 + P), V) for P in Ps])
        n = torch.tensor([[float(P * L)] for P in Ps], dtype=C.dtype)
        post = ReducedPosterior(C, n, normalization, geo, V, 1.0, 1.0, 1.0)
        gen = torch.Generator().manual_seed(7)
        S0 = torch.zeros(len(Ps), K, L, L, dtype=C.dtype)
        C_test = statistics(sample_tokens(500, L, V, 99), V)
        out = mala(post, S0, cfg["burn"], cfg["steps"], cfg["thin"], gen, C_test, 500 * L)
    finally:
        torch.set_num_threads(threads)
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
