"""The paper's single-layer transformer with a classification token as the only query (eq. 4, App. B.1.1).

Shapes: B batch, T tokens, d token dim, h heads, n per-head width, E = n h model width, N MLP width.

    x_hat(t) = P_phi(x_t)                       encoder: Linear(d, N) - ReLU - Linear(N, E)     (B, T, E)
    rho_i(t) = beta (W_Q,i c0)^T (W_K,i x_hat(t))                                               (B, h, T)
    sigma_i  = normalize(rho_i) over the T tokens (softmax by default; the CLS key is not attended)
    head_i   = sum_t sigma_i(t) W_V,i x_hat(t)                                                  (B, h, n)
    y_hat    = F_hat(c0 + W_O concat_i head_i)  F_hat: Linear(E, N) - GELU - Linear(N, 1)        (B,)

Fast form (same function, fewer flops): because c0 is the only query, rho_i(t) = x_hat(t) . u_i with
u_i = W_K,i^T W_Q,i c0 (one (E,) vector per head), and W_V,i commutes with the token sum:
head_i = W_V,i (sum_t sigma_i(t) x_hat(t)).  No (T, T) attention and no per-token K/V projections: the
cost of an epoch is the encoder on all tokens plus O(B T h E).  ``forward_reference`` is the textbook form
(K and V on every token) used by the tests.

With ``layers > 1`` the first layers are ordinary multi-head self-attention among the T tokens
(attnlab.layers.MultiHeadAttention, no LayerNorm), each with a residual z <- z + attn(z) (``token_residual``,
default; ``token_residual=False`` is the earlier form z <- attn(z), which replaces every token by an attention
mixture), and the CLS token queries the last one [reconstruction: the paper's two-layer variant, Table 5, does
not give these details; its "no residual" refers to the one-layer model, where a residual folds into F_hat].
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ...layers import MultiHeadAttention
from ...normalizations import attend, has_bias


def _attend(scores: torch.Tensor, normalization: str, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Weights of scores (B, h, T) under any registry entry, by its declared axes (over the T tokens, or jointly
    over heads and tokens for ``axes == "heads_and_keys"``); ``bias`` (h, 1): per-head logit, used by entries
    that declare one."""
    return attend(scores, normalization, head_dim=1, key_dim=-1, bias=bias)


class ClsQueryAttention(nn.Module):
    """Multi-head attention whose only query is a trainable classification token c0 (paper eq. 4)."""

    def __init__(self, E: int, h: int, n: int, beta: float = 1.0, normalization: str = "softmax",
                 cls_skip: bool = True):
        super().__init__()
        self.E, self.h, self.n, self.beta = E, h, n, beta
        self.normalization, self.cls_skip = normalization, cls_skip
        bound = 1.0 / math.sqrt(E)  # nn.Linear's default init range, fan_in = E
        self.c0 = nn.Parameter(torch.randn(E))
        self.W_Q = nn.Parameter(torch.empty(h, n, E).uniform_(-bound, bound))
        self.W_K = nn.Parameter(torch.empty(h, n, E).uniform_(-bound, bound))
        self.W_V = nn.Parameter(torch.empty(h, n, E).uniform_(-bound, bound))
        self.W_O = nn.Parameter(torch.empty(E, h * n).uniform_(-1 / math.sqrt(h * n), 1 / math.sqrt(h * n)))
        # learnable per-head logit, only for registry entries that declare a bias (softmax1, bayes_softmax, ...)
        self.head_bias = nn.Parameter(torch.zeros(h, 1)) if has_bias(normalization) else None

    def scores(self, xhat: torch.Tensor) -> torch.Tensor:
        """rho (B, h, T) = beta * x_hat . u_i,  u_i = W_K,i^T W_Q,i c0."""
        q = torch.einsum("hne,e->hn", self.W_Q, self.c0)          # (h, n)
        u = torch.einsum("hne,hn->he", self.W_K, q)               # (h, E)
        return self.beta * torch.einsum("bte,he->bht", xhat, u)   # (B, h, T)

    def forward(self, xhat: torch.Tensor) -> torch.Tensor:
        """x_hat (B, T, E) -> c0 + W_O concat(head_i)  (B, E)   [fast form]."""
        w = _attend(self.scores(xhat), self.normalization, self.head_bias)           # (B, h, T)
        pooled = torch.einsum("bht,bte->bhe", w, xhat)               # (B, h, E)
        heads = torch.einsum("bhe,hne->bhn", pooled, self.W_V)       # (B, h, n)
        out = heads.reshape(heads.shape[0], -1) @ self.W_O.T         # (B, E)
        return out + self.c0 if self.cls_skip else out

    def forward_reference(self, xhat: torch.Tensor) -> torch.Tensor:
        """Textbook eq. 4: K_i, V_i on every token, then sigma-weighted sum of V (same result)."""
        q = torch.einsum("hne,e->hn", self.W_Q, self.c0)             # (h, n)
        K = torch.einsum("bte,hne->bhtn", xhat, self.W_K)            # (B, h, T, n)
        V = torch.einsum("bte,hne->bhtn", xhat, self.W_V)            # (B, h, T, n)
        rho = self.beta * torch.einsum("hn,bhtn->bht", q, K)         # (B, h, T)
        w = _attend(rho, self.normalization, self.head_bias)
        heads = torch.einsum("bht,bhtn->bhn", w, V)                  # (B, h, n)
        out = heads.reshape(heads.shape[0], -1) @ self.W_O.T
        return out + self.c0 if self.cls_skip else out


class HeadCountModel(nn.Module):
    """Encoder MLP -> (layers - 1) token self-attention layers -> CLS-query attention -> head FFN."""

    def __init__(self, d: int, h: int, n: int, N: int, layers: int = 1, beta: float = 1.0,
                 normalization: str = "softmax", cls_skip: bool = True, token_residual: bool = True):
        super().__init__()
        E = n * h
        self.token_residual = token_residual
        self.d, self.h, self.n, self.N, self.E, self.layers = d, h, n, N, E, layers
        self.encoder = nn.Sequential(nn.Linear(d, N), nn.ReLU(), nn.Linear(N, E))
        self.token_layers = nn.ModuleList(
            MultiHeadAttention(E, h, n, normalization=normalization, temperature=1.0 / beta, head_bias=True)
            for _ in range(layers - 1))
        self.attn = ClsQueryAttention(E, h, n, beta, normalization, cls_skip)
        self.ffn = nn.Sequential(nn.Linear(E, N), nn.GELU(), nn.Linear(N, 1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, d) -> token representations entering the last layer (B, T, E)."""
        z = self.encoder(x)
        for layer in self.token_layers:
            z = z + layer(z).out if self.token_residual else layer(z).out
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, d) -> y_hat (B,)."""
        return self.ffn(self.attn(self.embed(x))).squeeze(-1)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.attn.forward_reference(self.embed(x))).squeeze(-1)

    def param_counts(self) -> dict[str, int]:
        """params_ffn = the paper's M (encoder + head FFN weights and biases; attention and CLS not counted,
        paper Sec. 3); params_total = every trainable parameter."""
        ffn = sum(p.numel() for p in self.encoder.parameters()) + sum(p.numel() for p in self.ffn.parameters())
        total = sum(p.numel() for p in self.parameters())
        return {"params_ffn": int(ffn), "params_total": int(total)}


def expected_param_counts(d: int, h: int, n: int, N: int, layers: int = 1) -> dict[str, int]:
    """Closed form [reconstruction, brief Sec. 3]: encoder (d+1)N + (N+1)E, head FFN (E+1)N + N + 1,
    CLS E, attention 4 E^2 per layer (no biases)."""
    E = n * h
    ffn = (d + 1) * N + (N + 1) * E + (E + 1) * N + N + 1
    return {"params_ffn": ffn, "params_total": ffn + E + 4 * E * E * layers}


class MHABaselineModel(nn.Module):
    """Benchmark baseline: the same encoder/FFN around torch.nn.MultiheadAttention with the CLS token appended
    to the sequence (all T+1 positions attend; the output is read at the CLS position). It computes (T+1)^2
    scores and K/V/Q for every token - the straightforward implementation."""

    def __init__(self, d: int, h: int, n: int, N: int):
        super().__init__()
        E = n * h
        self.encoder = nn.Sequential(nn.Linear(d, N), nn.ReLU(), nn.Linear(N, E))
        self.c0 = nn.Parameter(torch.randn(E))
        self.mha = nn.MultiheadAttention(E, h, bias=False, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(E, N), nn.GELU(), nn.Linear(N, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)                                           # (B, T, E)
        seq = torch.cat([z, self.c0.expand(z.shape[0], 1, -1)], 1)   # (B, T+1, E)
        out, _ = self.mha(seq, seq, seq, need_weights=False)          # (B, T+1, E)
        return self.ffn(out[:, -1] + self.c0).squeeze(-1)
