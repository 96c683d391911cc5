"""The student: single-layer multi-head attention classifier (brief §3b, *recollection*), all heads batched.

    Phi(theta; X) = c_H * sum_h < U_h , phi(tau X W_h X^T) X >_F           full readout, U_h in R^{T x d}
    Phi(theta; X) = c_H * sum_h u_h^T X^T phi(tau X W_h^T x_1)              single-query readout, u_h in R^d
(single query = the first row of the full model's attention, scores x_1^T W_h x_s; the brief writes
phi(X W_h x_1), the same family with W_h -> W_h^T)

c_H = 1/sqrt(H) (theory) or 1/H (ablation); tau = 1 or 1/sqrt(d); phi = ANY entry of the normalization registry,
applied by its declared axes through ``attnlab.normalizations.attend`` (over the keys, or jointly over heads and
keys); an entry that declares ``bias`` gets a learnable per-head bias logit b_h (initialized at 0).
Parameters are the tensors U (H, T, d) [or (H, d)], W (H, d, d) and, for a bias entry, b (H,); every head runs
in the same batched matmuls over an (n, T, H, T) score tensor.  ``per_example=True`` takes one parameter copy
per example (U (n, H, ...), W (n, H, d, d), b (n, H)): the gradient of sum_i Phi(theta_i; X_i) w.r.t. the copies
holds the per-example gradients (NTK features) and its HVPs are the per-example Hessian-vector products.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ...normalizations import attend, has_bias


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The one-layer H-head attention classifier Phi(theta; X) = scale * sum_h head_h(X), scale = 1/sqrt(H)
    (``output_scale="sqrt"``) or 1/H; T tokens of dimension d; attention by registry ``normalization``."""

    H: int
    T: int
    d: int
    readout: str = "full"
    output_scale: str = "sqrt"
    temperature: str = "none"
    normalization: str = "softmax"

    @classmethod
    def from_config(cls, config, H: int) -> "ModelSpec":
        return cls(H=H, T=config.T, d=config.d, readout=config.readout, output_scale=config.output_scale,
                   temperature=config.temperature, normalization=config.normalization)

    @property
    def scale(self) -> float:
        return 1.0 / math.sqrt(self.H) if self.output_scale == "sqrt" else 1.0 / self.H

    @property
    def tau(self) -> float:
        return 1.0 / math.sqrt(self.d) if self.temperature == "sqrt_d" else 1.0

    @property
    def U_shape(self) -> tuple[int, ...]:
        return (self.H, self.T, self.d) if self.readout == "full" else (self.H, self.d)

    @property
    def bias(self) -> bool:
        """The normalization takes a per-head bias logit (then theta carries a learnable b, (H,))."""
        return has_bias(self.normalization)

    @property
    def n_U(self) -> int:
        return math.prod(self.U_shape)

    @property
    def n_W(self) -> int:
        return self.H * self.d * self.d

    @property
    def n_params(self) -> int:
        return self.n_U + self.n_W + (self.H if self.bias else 0)


def _weights(scores: torch.Tensor, spec: ModelSpec, b: torch.Tensor | None, per_example: bool) -> torch.Tensor:
    """scores (n, Q, H, T) -> attention weights by the registry entry's declared axes (heads at axis 2, keys
    last); b: the per-head bias logit, (H,) or (n, H) per example, for entries that declare one."""
    bias = None
    if b is not None:
        bias = b[:, None, :, None] if per_example else b[:, None]     # (n, 1, H, 1) or (H, 1)
    return attend(scores, spec.normalization, head_dim=2, key_dim=-1, bias=bias)


def head_outputs(U: torch.Tensor, W: torch.Tensor, X: torch.Tensor, spec: ModelSpec,
                 per_example: bool = False, b: torch.Tensor | None = None) -> torch.Tensor:
    """(n, H) head outputs f_h(X_i) = <U_h, phi(tau X_i W_h X_i^T) X_i> (without c_H).  X (n, T, d).

    The heads are folded into the rows of batched matmuls over examples, (n, T*H, d) @ (n, d, T): the
    whole (n, T, H, T) score tensor is two GEMM-like calls, never a loop over heads."""
    n, T, d = X.shape
    H = spec.H
    if per_example:                                                      # W (n, H, d, d)
        Wf = W.permute(0, 2, 1, 3).reshape(n, d, H * d)                  # (n, d, H*d)
    else:                                                                # W (H, d, d)
        Wf = W.permute(1, 0, 2).reshape(d, H * d)                        # (d, H*d)
    Xt = X.transpose(1, 2)                                               # (n, d, T)
    if spec.readout == "full":
        XW = torch.matmul(X, Wf).reshape(n, T * H, d)                    # (n, T*H, d)   rows (t, h)
        scores = torch.matmul(XW, Xt).reshape(n, T, H, T)                # (n, T, H, T)  [n, t, h, s]
        if spec.tau != 1.0:                  # x 1.0 is exact, but costs a pass over the largest tensor (and back)
            scores = scores * spec.tau
        P = _weights(scores, spec, b, per_example)                      # (n, T, H, T)
        # <U_h, P_h X> = sum_{t,s} P[t,h,s] <u_{h,t}, x_s>: contract U with the keys first, so that the
        # largest intermediate is (n, T, H, T) rather than (n, T, H, d)
        Ur = (U.permute(0, 2, 1, 3) if per_example else U.permute(1, 0, 2)).reshape(-1, T * H, d)
        A = torch.matmul(Ur, Xt).reshape(n, T, H, T)                     # A[n,t,h,s] = <u_{h,t}, x_s>
        return (P * A).sum(dim=(1, 3))                                   # (n, H)
    q = torch.matmul(X[:, :1], Wf).reshape(n, H, d)                      # (n, H, d)
    scores = torch.matmul(q, Xt).reshape(n, 1, H, T)                     # (n, 1, H, T)
    if spec.tau != 1.0:
        scores = scores * spec.tau
    P = _weights(scores, spec, b, per_example).reshape(n, H, T)
    Z = torch.matmul(P, X)                                               # (n, H, d)
    return (Z * U).sum(dim=-1)                                           # (n, H)


def phi(U, W, X, spec: ModelSpec, per_example: bool = False, b: torch.Tensor | None = None) -> torch.Tensor:
    """Phi(theta; X_i) for every example: (n,)."""
    return head_outputs(U, W, X, spec, per_example, b).sum(dim=1) * spec.scale


def attention_mass(theta: torch.Tensor, X: torch.Tensor, relevant: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """Mean attention weight on the label-relevant keys, over examples, queries and heads (uniform attention
    gives k/T = zeta).  relevant (n, T) bool."""
    parts = unpack(theta.detach(), spec)
    U, W = parts[0], parts[1]
    b = parts[2] if spec.bias else None
    n, T, d = X.shape
    Wf = W.permute(1, 0, 2).reshape(d, spec.H * d)
    if spec.readout == "full":
        scores = torch.matmul(torch.matmul(X, Wf).reshape(n, T * spec.H, d), X.transpose(1, 2))
        scores = scores.reshape(n, T, spec.H, T) * spec.tau
    else:
        scores = torch.matmul(torch.matmul(X[:, :1], Wf).reshape(n, spec.H, d), X.transpose(1, 2))
        scores = scores.reshape(n, 1, spec.H, T) * spec.tau
    P = _weights(scores, spec, b, False)
    return (P * relevant.to(P.dtype)[:, None, None, :]).sum(-1).mean()


def phi_loop(U, W, X, spec: ModelSpec) -> torch.Tensor:
    """Reference: the same Phi with a Python loop over heads (softmax, full readout). Used by tests and bench."""
    out = torch.zeros(X.shape[0], dtype=X.dtype, device=X.device)
    for h in range(spec.H):
        scores = X @ W[h] @ X.transpose(1, 2) * spec.tau                   # (n, T, T)
        P = torch.softmax(scores, dim=-1)
        out = out + ((P @ X) * U[h]).sum(dim=(1, 2))
    return out * spec.scale


def loss_fn(margins: torch.Tensor, kind: str = "logistic") -> torch.Tensor:
    """Per-example loss of the margins y Phi: logistic log(1 + e^{-t}) or exponential e^{-t} (brief §3d)."""
    if kind == "logistic":
        return torch.nn.functional.softplus(-margins)
    return torch.exp(-margins)


# ---- flat parameter vector ------------------------------------------------------------------------------
def pack(*parts: torch.Tensor) -> torch.Tensor:
    """theta = (vec U, vec W[, b]), shape (P,)."""
    return torch.cat([p.reshape(-1) for p in parts])


def unpack(theta: torch.Tensor, spec: ModelSpec) -> tuple[torch.Tensor, ...]:
    """(U, W) or, for a normalization with a bias, (U, W, b): views into theta (P,)."""
    nU, nW = spec.n_U, spec.n_W
    parts = (theta[:nU].view(spec.U_shape), theta[nU:nU + nW].view(spec.H, spec.d, spec.d))
    return parts + ((theta[nU + nW:],) if spec.bias else ())


def phi_flat(theta: torch.Tensor, X: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """Phi(theta; X_i) (n,) from the flat parameter vector theta (P,) = (vec U, vec W[, b])."""
    parts = unpack(theta, spec)
    return phi(parts[0], parts[1], X, spec, b=parts[2] if spec.bias else None)


# ---- initializations (brief §3f, §5c; *reconstruction*) --------------------------------------------------
def init_params(spec: ModelSpec, generator: torch.Generator, W0_scale: float = 0.0, paired: bool = False,
                dtype=torch.float64) -> tuple[torch.Tensor, ...]:
    """P0: U entries iid N(0, 1/T) (N(0, 1/d) for single-query), W = W0_scale * N(0, 1); b = 0 (H,) when the
    normalization takes a bias (the registry's default logit).
    paired: heads H/2..H-1 copy heads 0..H/2-1 with U -> -U, so Phi(theta0; .) = 0."""
    H = spec.H
    Hr = H // 2 if paired else H
    u_std = 1.0 / math.sqrt(spec.T if spec.readout == "full" else spec.d)
    U = torch.randn((Hr,) + spec.U_shape[1:], generator=generator, dtype=dtype) * u_std
    W = torch.randn(Hr, spec.d, spec.d, generator=generator, dtype=dtype) * W0_scale
    if paired:
        if H % 2:
            raise ValueError("paired init needs an even number of heads")
        U, W = torch.cat([U, -U]), torch.cat([W, W])
    if spec.bias:
        return U, W, torch.zeros(H, dtype=dtype)
    return U, W
