"""Students: H heads with keys k_h and values v_h in R^D, no query, no output projection [predecessor /
reconstruction, brief section 2.3]:

    chi_{lh} = x_l . k_h / sqrt(D),   z_{lh} = x_l . v_h / sqrt(D),   f(X) = sum_h sum_l sigma_h(chi)_l z_{lh}

The attention weights sigma come from the normalization registry (:mod:`attnlab.normalizations`):

| activation     | registry entry | weights                                                              |
|----------------|----------------|----------------------------------------------------------------------|
| softmax        | softmax        | e^{chi_lh} / sum_l' e^{chi_l'h}                                       |
| softmax1       | softmax1       | e^{chi_lh} / (1 + sum_l' e^{chi_l'h})         (sink of logit 0)        |
| softmax1_bias  | softmax1       | e^{chi_lh + b_h} / (1 + sum_l' e^{chi_l'h + b_h})   (registry sink logit = -b_h) |
| bayes_softmax  | bayes_softmax  | e^{chi_lh + b_h} / sum_{h', l'} e^{chi_l'h' + b_h'}   (joint over heads and tokens) |
| linear         | linear         | chi_lh                                                                |

``attention`` also accepts the registry's sigmoid (logit bias b), sparsemax, entmax15 and ssmax (over the
tokens) for the teacher-aligned comparisons; the SGD engine's hand-written gradients cover the five above.

Everything here acts on the *local fields* (chi, z) of shape (..., L, H), so the same code serves the
D-dimensional SGD engine and the low-dimensional Monte-Carlo theory.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ...normalizations import normalize

ACTIVATIONS = ("softmax", "softmax1", "softmax1_bias", "bayes_softmax", "linear")
HAS_BIAS = {"softmax": False, "softmax1": False, "softmax1_bias": True, "bayes_softmax": True, "linear": False,
            "sigmoid": True, "sparsemax": False, "entmax15": False, "ssmax": False}


def attention(chi: torch.Tensor, activation: str, bias: torch.Tensor | None = None) -> torch.Tensor:
    """sigma (..., L, H) from logits chi (..., L, H) and per-head logit bias b (..., H) (or None = 0)."""
    b = None if bias is None else bias.unsqueeze(-2)             # (..., 1, H)
    if activation == "softmax":
        return normalize(chi, "softmax", dim=-2)
    if activation in ("softmax1", "softmax1_bias"):
        if activation == "softmax1" or b is None:
            return normalize(chi, "softmax1", dim=-2)
        return normalize(chi, "softmax1", dim=-2, bias=-b)      # e^{chi+b}/(1+sum e^{chi+b})
    if activation == "bayes_softmax":
        return normalize(chi, "bayes_softmax", dim=(-2, -1), bias=b)
    if activation == "linear":
        return normalize(chi, "linear")
    if activation == "sigmoid":                                  # elementwise, logit bias b
        return normalize(chi, "sigmoid", bias=0.0 if b is None else b)
    if activation in ("sparsemax", "entmax15", "ssmax"):         # other registry entries, over tokens
        return normalize(chi, activation, dim=-2)
    raise ValueError(f"unknown activation {activation!r} (known: {ACTIVATIONS})")


def forward_backward(chi: torch.Tensor, z: torch.Tensor, y: torch.Tensor, activation: str,
                     bias: torch.Tensor | None = None):
    """Prediction and the loss derivatives w.r.t. the local fields, for the loss 1/2 (f - y)^2.

    chi, z: (..., L, H); y: (...); bias: (..., H) or None.
    Returns f (...), r = f - y (...), c_k = dloss/dchi (..., L, H), c_v = dloss/dz (..., L, H),
    c_b = dloss/db (..., H) (zeros when the activation has no bias).  Formulas [reconstruction, brief 3.3]:

      c_v = r sigma
      softmax / softmax1(+bias):  c_k = r sigma (z - f_h),  f_h = sum_l sigma_lh z_lh
                                  c_b = r sigma_0h f_h (softmax1, sigma_0h = 1 - sum_l sigma_lh)
      bayes_softmax:              c_k = r sigma (z - f),    c_b = r sum_l sigma_lh (z_lh - f)
      linear:                     c_k = r z
    """
    sigma = attention(chi, activation, bias)
    fh = (sigma * z).sum(-2)                                     # (..., H)
    f = fh.sum(-1)                                               # (...)
    r = f - y
    rr = r[..., None, None]
    c_v = rr * sigma
    c_b = torch.zeros_like(fh)
    if activation in ("softmax", "softmax1", "softmax1_bias"):
        c_k = rr * sigma * (z - fh.unsqueeze(-2))
        if activation == "softmax1_bias":
            c_b = r[..., None] * (1.0 - sigma.sum(-2)) * fh
    elif activation == "bayes_softmax":
        dz = z - f[..., None, None]
        c_k = rr * sigma * dz
        c_b = r[..., None] * (sigma * dz).sum(-2)
    elif activation == "linear":
        c_k = rr * z
    else:
        raise ValueError(f"unknown activation {activation!r}")
    return f, r, c_k, c_v, c_b


class MultiHeadSLR(nn.Module):
    """The student as a plain torch module (autograd reference and the benchmark's baseline).

    Parameters: keys K (H, D), values V (H, D), bias b (H,) (used by softmax1_bias and bayes_softmax)."""

    def __init__(self, D: int, H: int, activation: str = "softmax", init_scale: float = 0.1,
                 generator: torch.Generator | None = None, dtype=torch.float32, device="cpu"):
        super().__init__()
        self.D, self.H, self.activation = D, H, activation
        g = generator
        self.K = nn.Parameter(init_scale * torch.randn(H, D, generator=g, dtype=dtype, device=device))
        self.V = nn.Parameter(init_scale * torch.randn(H, D, generator=g, dtype=dtype, device=device))
        self.b = nn.Parameter(torch.zeros(H, dtype=dtype, device=device))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X (n, L, D) -> f (n,)."""
        s = 1.0 / math.sqrt(self.D)
        chi = X @ self.K.T * s                                   # (n, L, H)
        z = X @ self.V.T * s                                     # (n, L, H)
        bias = self.b.expand(X.shape[0], self.H) if HAS_BIAS[self.activation] else None
        sigma = attention(chi, self.activation, bias)
        return (sigma * z).sum((-2, -1))
