"""Students: H heads with keys k_h and values v_h in R^D, no query, no output projection [predecessor /
reconstruction, brief section 2.3]:

    chi_{lh} = x_l . k_h / sqrt(D),   z_{lh} = x_l . v_h / sqrt(D),   f(X) = sum_h sum_l sigma_h(chi)_l z_{lh}

The attention weights sigma come from the normalization registry (:mod:`attnlab.normalizations`) through
:func:`attnlab.normalizations.attend`, by each entry's declared axes: per head over the L tokens
(``axes == "keys"``) or jointly over heads and tokens (``axes == "heads_and_keys"``, e.g. bayes_softmax).

An *activation* of this study is a registry name, optionally with the suffix ``_nobias``:

* ``<name>``: a learnable per-head bias b_h iff the entry declares one (``has_bias(name)``), passed to the
  entry as the entry defines it (softmax1: the sink logit, e^{chi} / (e^{b_h} + sum_l e^{chi});
  bayes_softmax: added to the logits, e^{chi + b_h} / sum_{h', l} e^{chi + b_h'}; sigmoid: added to the logit);
* ``<name>_nobias``: the same entry with its bias held at 0 (e.g. ``softmax1_nobias`` = Miller's softmax-1,
  a sink of logit 0).

Hand-written gradients (the SGD engine's hot loop) exist for softmax, softmax1, bayes_softmax, linear and
their ``_nobias`` variants; any other entry (a normalization registered at run time included) gets its
gradients by autograd on the local fields, so every registry entry trains.

Everything here acts on the *local fields* (chi, z) of shape (..., L, H), so the same code serves the
D-dimensional SGD engine and the low-dimensional Monte-Carlo theory.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ...normalizations import attend, available, has_bias, info

NOBIAS = "_nobias"
ACTIVATIONS = ("softmax", "softmax1_nobias", "softmax1", "bayes_softmax", "linear")
"""The study's trained activations (manual gradients); any registry entry is accepted as well."""


def entry_of(activation: str) -> tuple[str, bool]:
    """(registry entry, learnable bias) of a study activation; raises ValueError for an unknown name."""
    name = activation[:-len(NOBIAS)] if activation.endswith(NOBIAS) else activation
    if name not in available():
        raise ValueError(f"unknown activation {activation!r} (registry entries: {', '.join(available())}, "
                         f"optionally with the suffix {NOBIAS!r})")
    return name, (has_bias(name) and not activation.endswith(NOBIAS))


def learns_bias(activation: str) -> bool:
    """Whether the student of this activation has a learnable per-head bias."""
    return entry_of(activation)[1]


def attention(chi: torch.Tensor, activation: str, bias: torch.Tensor | None = None) -> torch.Tensor:
    """sigma (..., L, H) from logits chi (..., L, H) and the per-head bias b (..., H) (ignored, i.e. 0, when
    the activation has none)."""
    name, learn = entry_of(activation)
    b = bias.unsqueeze(-2) if (learn and bias is not None) else None     # (..., 1, H)
    return attend(chi, name, head_dim=-1, key_dim=-2, bias=b)


def _manual(name: str) -> bool:
    return name in ("softmax", "softmax1", "bayes_softmax", "linear")


def forward_backward(chi: torch.Tensor, z: torch.Tensor, y: torch.Tensor, activation: str,
                     bias: torch.Tensor | None = None):
    """Prediction and the loss derivatives w.r.t. the local fields, for the loss 1/2 (f - y)^2.

    chi, z: (..., L, H); y: (...); bias: (..., H) or None.
    Returns f (...), r = f - y (...), c_k = dloss/dchi (..., L, H), c_v = dloss/dz (..., L, H),
    c_b = dloss/db (..., H) (zeros when the activation has no learnable bias).  Formulas [reconstruction,
    brief 3.3], with f_h = sum_l sigma_lh z_lh and sigma_0h = 1 - sum_l sigma_lh:

      c_v = r sigma
      softmax / softmax1:   c_k = r sigma (z - f_h);     softmax1 (sink logit b): c_b = -r sigma_0h f_h
      bayes_softmax:        c_k = r sigma (z - f);       c_b = r sum_l sigma_lh (z_lh - f)
      linear:               c_k = r z
      any other entry:      autograd on (chi, z, b)
    """
    name, learn = entry_of(activation)
    if not _manual(name):
        return _autograd_fields(chi, z, y, activation, bias)
    sigma = attention(chi, activation, bias)
    fh = (sigma * z).sum(-2)                                     # (..., H)
    f = fh.sum(-1)                                               # (...)
    r = f - y
    rr = r[..., None, None]
    c_v = rr * sigma
    c_b = torch.zeros_like(fh)
    if name in ("softmax", "softmax1"):
        c_k = rr * sigma * (z - fh.unsqueeze(-2))
        if name == "softmax1" and learn:
            c_b = -r[..., None] * (1.0 - sigma.sum(-2)) * fh
    elif name == "bayes_softmax":
        dz = z - f[..., None, None]
        c_k = rr * sigma * dz
        if learn:
            c_b = r[..., None] * (sigma * dz).sum(-2)
    else:                                                        # linear
        c_k = rr * z
    return f, r, c_k, c_v, c_b


def _autograd_fields(chi, z, y, activation, bias):
    """forward_backward by autograd (entries without hand-written gradients)."""
    with torch.enable_grad():
        c = chi.detach().requires_grad_(True)
        zz = z.detach().requires_grad_(True)
        b = None if bias is None else bias.detach().requires_grad_(True)
        f = (attention(c, activation, b) * zz).sum((-2, -1))
        loss = 0.5 * ((f - y) ** 2).sum()
        ins = (c, zz) + ((b,) if b is not None else ())
        grads = torch.autograd.grad(loss, ins, allow_unused=True)
    c_k, c_v = grads[0], grads[1]
    c_b = grads[2] if (b is not None and grads[2] is not None) else torch.zeros(chi.shape[:-2] + chi.shape[-1:],
                                                                                  dtype=chi.dtype, device=chi.device)
    f = f.detach()
    return f, f - y, c_k, c_v, c_b


class MultiHeadSLR(nn.Module):
    """The student as a plain torch module (autograd reference and the benchmark's baseline).

    Parameters: keys K (H, D), values V (H, D), bias b (H,) (used when the activation learns one)."""

    def __init__(self, D: int, H: int, activation: str = "softmax", init_scale: float = 0.1,
                 generator: torch.Generator | None = None, dtype=torch.float32, device="cpu"):
        super().__init__()
        entry_of(activation)
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
        bias = self.b.expand(X.shape[0], self.H) if learns_bias(self.activation) else None
        sigma = attention(chi, self.activation, bias)
        return (sigma * z).sum((-2, -1))


__all__ = ["ACTIVATIONS", "entry_of", "learns_bias", "attention", "forward_backward", "MultiHeadSLR", "info"]
