"""The normalization matrix hook: the study's normalization-sensitive experiment (selectivity of one attention
row set) under any registry normalization, on synthetic logits and token vectors.

Logits l = q.k / sqrt(d) with q, k ~ N(0, I_d) (one layer of H heads, every row sees all L keys), token
vectors x_i uniform on the unit sphere.  Any registry entry runs through ``attend`` by its declared axes (per key
row, or jointly over the heads and keys of the layer); entries with a bias get a bias logit of 0.  Headline metrics (means over heads and rows):
  L_max_alpha  = L * max_i alpha_i        (1 for uniform weights; Lemma 1 keeps it O(1) for softmax)
  d_sum_over_L = d~(N = 5) / L            (reading B of the distance)
  separability = N_s / N at N = 16
  support_fraction = #nonzero weights / L
"""
from __future__ import annotations

import torch

from ... import rng
from ...normalizations import attend, available, has_bias
from . import metrics as M

SCALES = {"smoke": dict(H=4, L=128, d=32), "quick": dict(H=8, L=512, d=64)}


def matrix_metrics(normalization: str, scale: str = "smoke", seed: int = 0) -> dict[str, float] | str:
    if normalization not in available():
        return f"{normalization!r} is not in the normalization registry"
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    H, L, d = SCALES[scale]["H"], SCALES[scale]["L"], SCALES[scale]["d"]
    g = rng.torch_generator(seed, "matrix", scale)                     # the same draws for every normalization
    q = torch.randn((H, L, d), generator=g, dtype=torch.float64)
    k = torch.randn((H, L, d), generator=g, dtype=torch.float64)
    X = torch.randn((H, L, d), generator=g, dtype=torch.float64)
    X = X / X.norm(dim=-1, keepdim=True)
    scores = q @ k.transpose(-1, -2) / d ** 0.5                      # (H, L, L)
    valid = torch.ones((1, L, L), dtype=torch.bool)
    bias = torch.zeros((H, 1, 1), dtype=scores.dtype) if has_bias(normalization) else None   # bias logit 0
    a = attend(scores, normalization, head_dim=0, bias=bias)         # by the entry's declared axes
    ok = torch.ones((1, L), dtype=torch.bool)
    d5 = M.distance_metrics(a, X, valid, 5, bound=False)
    sep = M.separability(a, X, valid, 16)
    return {
        "L_max_alpha": float(M.row_mean(a.amax(-1) * L, ok).mean()),
        "d_sum_over_L": float(M.row_mean(d5["d_sum"] / L, d5["row_ok"]).mean()),
        "separability": float(M.row_mean(sep["ratio"], sep["row_ok"]).mean()),
        "support_fraction": float(M.row_mean((a != 0).sum(-1).to(a.dtype) / L, ok).mean()),
    }
