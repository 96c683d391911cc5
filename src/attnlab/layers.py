"""Attention building blocks that take a normalization by name.

Naming follows TransformerLens: ``scores`` are the pre-normalization logits, ``pattern`` the weights after
the normalization, ``z`` the per-head weighted values, ``out`` the projected sum.

Shapes: B batch, Q queries, K keys, E model width, H heads, Dh head width.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .normalizations import attend, has_bias


@dataclasses.dataclass
class AttentionOutput:
    out: torch.Tensor       # (B, Q, E)       output after W_O
    z: torch.Tensor         # (B, Q, H, Dh)   per-head outputs  z_h = pattern_h @ v_h
    pattern: torch.Tensor   # (B, H, Q, K)    attention weights
    scores: torch.Tensor    # (B, H, Q, K)    logits  q.k / sqrt(Dh)  (before temperature & normalization)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: scores_hqk = (x_q W_Q^h) . (x_k W_K^h) / sqrt(Dh),
    pattern = normalize(scores, normalization, dim=-1, mask, temperature), z_h = pattern_h V_h,
    out = concat_h(z_h) W_O.

    normalization: any name of :mod:`attnlab.normalizations`, applied through
    :func:`attnlab.normalizations.attend` by the entry's declared axes (``bayes_softmax`` jointly over heads
    and keys); with ``head_bias=True`` entries that declare a bias get a learnable per-head one.
    """

    def __init__(self, d_model: int, n_heads: int, d_head: int | None = None, normalization: str = "softmax",
                 temperature: float = 1.0, bias: bool = False, head_bias: bool = False,
                 out_proj: bool = True, device=None, dtype=None, **norm_params):
        super().__init__()
        if d_model <= 0 or n_heads <= 0:
            raise ValueError("d_model and n_heads must be positive")
        self.d_model, self.n_heads = d_model, n_heads
        self.d_head = d_head if d_head is not None else max(1, d_model // n_heads)
        inner = self.n_heads * self.d_head
        kw = dict(device=device, dtype=dtype)
        self.W_Q = nn.Linear(d_model, inner, bias=bias, **kw)
        self.W_K = nn.Linear(d_model, inner, bias=bias, **kw)
        self.W_V = nn.Linear(d_model, inner, bias=bias, **kw)
        self.W_O = nn.Linear(inner, d_model, bias=bias, **kw) if out_proj else None
        self.normalization = normalization
        self.temperature = temperature
        self.norm_params = norm_params
        self.head_bias = (nn.Parameter(torch.zeros(n_heads, 1, 1, **kw))
                          if head_bias and has_bias(normalization) else None)

    def _split(self, t: torch.Tensor) -> torch.Tensor:  # (B, N, H*Dh) -> (B, H, N, Dh)
        B, N, _ = t.shape
        return t.view(B, N, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, x_q: torch.Tensor, x_kv: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> AttentionOutput:
        """x_q: (B, Q, E); x_kv: (B, K, E) (defaults to x_q); mask: broadcastable to (B, H, Q, K), True = keep."""
        x_kv = x_q if x_kv is None else x_kv
        q, k, v = self._split(self.W_Q(x_q)), self._split(self.W_K(x_kv)), self._split(self.W_V(x_kv))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)          # (B, H, Q, K)
        pattern = attend(scores, self.normalization, head_dim=1, key_dim=-1, mask=mask, bias=self.head_bias,
                         temperature=self.temperature, **self.norm_params)
        z = (pattern @ v).transpose(1, 2)                                    # (B, Q, H, Dh)
        flat = z.reshape(z.shape[0], z.shape[1], -1)
        out = self.W_O(flat) if self.W_O is not None else flat
        return AttentionOutput(out=out, z=z, pattern=pattern, scores=scores)
