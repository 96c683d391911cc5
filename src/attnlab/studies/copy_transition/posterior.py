"""The reduced posterior over the logit matrix S with the readout W integrated out (brief 5.1-5.3).

    -ln p(S | D) = ||S||_F^2 L/(2 sigma_a2)
                   + (1/2kappa) [ n - tr (Z^T Y)^T (c I + Z^T Z)^{-1} (Z^T Y) ]
                   + (V/2) ln det(I_V + Z^T Z / c) + const,            c = kappa V / sigma_w2
    Z^T Z = sum_{s,s'} (alpha_T^T alpha_T)_{ss'} C[s, s'],   Z^T Y = sum_{t in T, s} alpha_ts C[s, t-1]

[reconstruction; Woodbury form].  Everything is batched over a leading chain axis B; the cost of one
evaluation is O(B (L^3 + L^2 V^2)) whatever P is (the data enter only through C).
"""
from __future__ import annotations

import math

import torch

from ...errors import DivergenceError
from ...normalizations import has_bias, normalize
from .data import attention_mask, target_rows


class Geometry:
    """Index helpers for one (L, boundary): target rows T, their previous positions, the shift pattern."""

    def __init__(self, L: int, boundary: str, device="cpu"):
        self.L, self.boundary = L, boundary
        rows = torch.as_tensor(target_rows(L, boundary), device=device)
        self.rows = rows                                   # (R,)
        self.prev = (rows - 1) % L                         # (R,)
        nxt = (torch.arange(L, device=device) + 1) % L     # position whose previous token is s'
        self.nxt = nxt
        valid = torch.zeros(L, dtype=torch.bool, device=device)
        valid[self.prev] = True
        self.valid = valid                                 # (L,) s' is the previous position of a target
        self.mask = attention_mask(L, boundary, device)    # (L, L) or None
        shift = torch.zeros(L, L, dtype=torch.bool, device=device)
        shift[rows, self.prev] = True
        self.shift = shift                                 # (L, L) the copy pattern on target rows

    @property
    def n_rows(self) -> int:
        return int(self.rows.numel())


def attention(S: torch.Tensor, name: str, geo: Geometry, bias: torch.Tensor | None = None) -> torch.Tensor:
    """alpha = any registry normalization of the logits S (..., L, L) over keys, with the boundary's mask.
    One head: an entry normalizing jointly over heads and keys reduces to its per-key form (the study's
    matrix marks it not applicable).  ``bias`` (..., 1, 1): the head's bias logit, passed on only to entries
    that declare one (has_bias); None = the entry's default."""
    kw = {"bias": bias} if bias is not None and has_bias(name) else {}
    return normalize(S, name, dim=-1, mask=geo.mask, **kw)


def data_products(alpha: torch.Tensor, C: torch.Tensor, geo: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    """(Z^T Z, Z^T Y), each (..., V, V), from alpha (..., L, L) and the statistics C.

    C is either shared, (L, L, V, V), or one per data set, (D, L, L, V, V) with alpha (D, [K,] L, L) (K chains
    per data set).  One (batched) matmul of the stacked (alpha_T^T alpha_T, H) against C, H[s, s'] =
    alpha[next(s'), s]; a chain batch reads C once per data set."""
    L, V = geo.L, C.shape[-1]
    A = alpha[..., geo.rows, :]                                        # (..., R, L)
    G = A.transpose(-1, -2) @ A                                        # (..., L, L)
    H = (alpha[..., geo.nxt, :] * geo.valid[:, None]).transpose(-1, -2)  # (..., L, L)
    M = torch.stack([G, H], -3)                                        # (..., 2, L, L)
    if C.dim() == 4:
        out = M.reshape(-1, L * L) @ C.reshape(L * L, V * V)           # (N*2, V^2)
    else:
        D = C.shape[0]
        out = M.reshape(D, -1, L * L) @ C.reshape(D, L * L, V * V)     # (D, K*2, V^2)
    out = out.reshape(*alpha.shape[:-2], 2, V, V)
    return out[..., 0, :, :], out[..., 1, :, :]


class ReducedPosterior:
    """-ln p(S | D) for chains S (D, K, L, L): K chains on each of D data sets with statistics C (D, L, L, V, V)
    and n (D, 1) targets."""

    def __init__(self, C: torch.Tensor, n: torch.Tensor, attention_name: str, geo: Geometry, V: int,
                 kappa: float, sigma_w2: float, sigma_a2: float):
        self.C, self.n, self.att, self.geo = C, n, attention_name, geo   # n: (B,) number of targets
        self.V, self.kappa, self.sigma_a2 = V, kappa, sigma_a2
        self.c = kappa * V / sigma_w2

    def energy(self, S: torch.Tensor) -> torch.Tensor:
        """U(S) (D, K) up to a constant."""
        L = self.geo.L
        alpha = attention(S, self.att, self.geo)
        ZZ, ZY = data_products(alpha, self.C, self.geo)
        K = ZZ + self.c * torch.eye(self.V, dtype=S.dtype, device=S.device)
        chol, info = torch.linalg.cholesky_ex(K)
        if bool((info != 0).any()):  # c I + Z^T Z is positive definite unless NaN/inf entered
            raise DivergenceError("reduced posterior: c I + Z^T Z is not finite positive definite (NaN/inf in "
                                  "the logits or the data)")
        quad = (ZY * torch.cholesky_solve(ZY, chol)).sum((-1, -2))
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1) - self.V * math.log(self.c)
        prior = (S**2).sum((-1, -2)) * L / (2 * self.sigma_a2)
        return prior + (self.n - quad) / (2 * self.kappa) + 0.5 * self.V * logdet

    def energy_and_grad(self, S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            S = S.detach().requires_grad_(True)
            U = self.energy(S)
            (g,) = torch.autograd.grad(U.sum(), S)
        return U.detach(), g

    def readout(self, S: torch.Tensor) -> torch.Tensor:
        """Posterior-mean readout given S: W = (Z^T Y)^T (c I + Z^T Z)^{-1}, (..., V, V)."""
        alpha = attention(S, self.att, self.geo)
        ZZ, ZY = data_products(alpha, self.C, self.geo)
        K = ZZ + self.c * torch.eye(self.V, dtype=S.dtype, device=S.device)
        return torch.linalg.solve(K, ZY).transpose(-1, -2)


def mse_from_stats(alpha: torch.Tensor, W: torch.Tensor, C: torch.Tensor, n: float, geo: Geometry) -> torch.Tensor:
    """(1/n) sum_t ||W z_t - y_t||^2 = (tr W ZZ W^T - 2 tr W ZY + n)/n, (...,), from statistics C."""
    ZZ, ZY = data_products(alpha, C, geo)
    quad = ((W @ ZZ) * W).sum((-1, -2))
    cross = (W * ZY.transpose(-1, -2)).sum((-1, -2))
    return (quad - 2 * cross + n) / n


def order_parameters(S: torch.Tensor, alpha: torch.Tensor, geo: Geometry) -> dict[str, torch.Tensor]:
    """m = mean_t alpha_{t,t-1}, q = mean_t sum_s alpha_ts^2, residual = 1 - m^2/q, logit gap
    <S_{t,t-1}> - <S_ts>_{s != t-1} over target rows (allowed keys only). Each (B,)."""
    A = alpha[..., geo.rows, :]
    m = alpha[..., geo.rows, geo.prev].mean(-1)
    q = (A**2).sum(-1).mean(-1)
    copy_logit = S[..., geo.rows, geo.prev].mean(-1)
    other = ~geo.shift[geo.rows]
    if geo.mask is not None:
        other = other & geo.mask[geo.rows]
    gap = copy_logit - (S[..., geo.rows, :] * other).sum((-1, -2)) / other.sum()
    return dict(m=m, q=q, residual=1 - m**2 / q.clamp_min(1e-300), logit_gap=gap)
