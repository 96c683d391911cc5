"""The student: one attention head with positional logits and a linear readout (brief 4.3).

    alpha = normalize(S)               S (L, L) positional logits (one-hot positions: S = A)
    z_t   = sum_s alpha_ts e_{x_s}     (V,)
    f_t   = W z_t                      W (V, V) value/readout
Parametrizations: free S | factorized S = W_Q^T W_K / N (W_Q, W_K in R^{N x L}; a Wishart-like prior).
Priors (brief 4.4): S_ts ~ N(0, sigma_a2/L), W_ij ~ N(0, sigma_w2/V); factorized: W_Q, W_K entries
N(0, s2) with s2 = sqrt(N sigma_a2 / L) so that Var S_ts = sigma_a2 / L.  The joint objective is
J = 1/2 sum ||f - y||^2 + sum_theta (gamma_theta/2) ||theta||^2 with gamma = kappa / prior variance
(gamma_A = kappa L / sigma_a2, gamma_W = kappa V / sigma_w2): J / kappa = -ln posterior.  [reconstruction]

A batch of B independent heads is held in one module (leading axis B).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ...normalizations import has_bias
from .posterior import Geometry, attention, data_products


class CopyHeads(nn.Module):
    """B independent single-head copy models, batched: positional logits S (B, L, L) (or W_Q^T W_K with
    ``parametrization="factorized"``), readout W (B, V, V), attention by registry name (a per-head bias when the
    entry takes one); Gaussian priors of variances sigma_a2 / L and sigma_w2 / V."""

    def __init__(self, B: int, L: int, V: int, attention_name: str, geo: Geometry, *, sigma_a2=1.0,
                 sigma_w2=1.0, kappa=1.0, parametrization="free", width=32, generator=None,
                 dtype=torch.float64, device="cpu"):
        super().__init__()
        self.L, self.V, self.att, self.geo, self.kappa = L, V, attention_name, geo, kappa
        self.parametrization, self.width = parametrization, width
        kw = dict(dtype=dtype, device=device)
        self.prior_var = {"W": sigma_w2 / V}
        self.W = nn.Parameter(torch.randn(B, V, V, generator=generator, **kw) * math.sqrt(sigma_w2 / V))
        if parametrization == "free":
            self.S = nn.Parameter(torch.zeros(B, L, L, **kw))
            self.prior_var["S"] = sigma_a2 / L
        else:
            s2 = math.sqrt(width * sigma_a2 / L)
            self.prior_var["WQ"] = self.prior_var["WK"] = s2
            self.WQ = nn.Parameter(torch.randn(B, width, L, generator=generator, **kw) * math.sqrt(s2) * 1e-2)
            self.WK = nn.Parameter(torch.randn(B, width, L, generator=generator, **kw) * math.sqrt(s2) * 1e-2)
        if has_bias(attention_name):   # a learnable per-head bias logit only for entries that take one
            self.bias = nn.Parameter(torch.zeros(B, 1, 1, **kw))
            self.prior_var["bias"] = 1.0

    # ---- parameters -----------------------------------------------------------------------------------
    def logits(self) -> torch.Tensor:
        """S (B, L, L)."""
        if self.parametrization == "free":
            return self.S
        return self.WQ.transpose(1, 2) @ self.WK / self.width

    def alpha(self) -> torch.Tensor:
        return attention(self.logits(), self.att, self.geo, getattr(self, "bias", None))

    def set_copy_pattern(self, a: float) -> None:
        """Logits a on the copy entries (t, t-1), 0 elsewhere (free parametrization: exact)."""
        with torch.no_grad():
            target = self.geo.shift.to(self.W.dtype) * a
            if self.parametrization == "free":
                self.S.copy_(target.expand_as(self.S))
            else:  # W_Q = sqrt(N a) [I; 0], W_K = sqrt(N a) [shift; 0]
                N, L = self.width, self.L
                k = min(N, L)
                eye = torch.zeros(N, L, dtype=self.W.dtype, device=self.W.device)
                eye[torch.arange(k), torch.arange(k)] = 1.0
                sh = torch.zeros(N, L, dtype=self.W.dtype, device=self.W.device)
                sh[:k] = self.geo.shift.to(self.W.dtype)[:k]  # W_Q^T W_K / N = a E^T F = a shift (rows < N)
                self.WQ.copy_((eye * math.sqrt(N * abs(a))).expand_as(self.WQ))
                self.WK.copy_((sh * math.sqrt(N * abs(a))).expand_as(self.WK))

    def prior_energy(self) -> torch.Tensor:
        """sum_theta ||theta||^2 kappa / (2 prior_var), per head (B,)."""
        out = 0.0
        for name, var in self.prior_var.items():
            p = getattr(self, name)
            out = out + (p**2).sum(tuple(range(1, p.dim()))) * self.kappa / (2 * var)
        return out

    # ---- the network on raw sequences ------------------------------------------------------------------
    @staticmethod
    def layout(X: torch.Tensor) -> torch.Tensor:
        """One-hot data (B, P, L, V) -> the position-major layout (B, L, P, V) used by forward (copy once)."""
        return X.permute(0, 2, 1, 3).contiguous()

    def forward(self, Xl: torch.Tensor) -> torch.Tensor:
        """f (B, L, P, V) from one-hot data in layout (B, L, P, V): f_t = W sum_s alpha_ts e_{x_s}.
        One (L x L) @ (L x P V) matmul per head, then the V x V readout."""
        B, L, P, V = Xl.shape
        z = (self.alpha() @ Xl.reshape(B, L, P * V)).reshape(B, L, P, V)   # z_t = sum_s alpha_ts e_{x_s}
        return z @ self.W.transpose(1, 2)[:, None]

    def data_loss(self, Xl: torch.Tensor) -> torch.Tensor:
        """1/2 sum_{mu, t in T} ||f_t - y_t||^2 with y_t = e_{x_{t-1}}, per head (B,); Xl (B, L, P, V).
        Cost O(B P L^2 V): the straightforward full-network loss."""
        f = self(Xl)[:, self.geo.rows]
        y = Xl[:, self.geo.prev]
        return 0.5 * ((f - y) ** 2).sum((1, 2, 3))

    # ---- the same loss from the sufficient statistics ----------------------------------------------------
    def data_loss_stats(self, C: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """1/2 [tr W ZZ W^T - 2 tr W ZY + n] (B,): equal to data_loss on the data that made C (exact);
        cost O(B (L^3 + L^2 V^2)), independent of P."""
        ZZ, ZY = data_products(self.alpha(), C, self.geo)
        W = self.W
        quad = ((W @ ZZ) * W).sum((-1, -2))
        cross = (W * ZY.transpose(-1, -2)).sum((-1, -2))
        return 0.5 * (quad - 2 * cross + n)
