"""Gradients, Hessians and NTK features of Phi, and the curvature of the risk (brief §3g, §4b).

Per-example quantities use one parameter copy per example (see models.py), so one backward pass gives every
example's gradient (the NTK features J, (n, P)) and one double-backward gives every example's Hessian-vector
product.  Everything here runs in float64.

* ||grad_theta Phi(theta; X_i)||: row norms of J.
* ||hess_theta Phi(theta; X_i)||_2: power iteration v <- Hv / ||Hv|| (``iters`` steps); the estimate ||Hv||
  converges to the largest |eigenvalue| (also when +lambda and -lambda pair up, as they do here).
* lambda_min(hess L^(theta)): Lanczos (scipy.sparse.linalg.eigsh, which="SA") on autograd HVPs.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

from .models import ModelSpec, phi, unpack
from .train import risk


def _copies(theta: torch.Tensor, n: int, spec: ModelSpec):
    U, W = unpack(theta.detach(), spec)
    Uc = U.unsqueeze(0).expand((n,) + U.shape).clone().requires_grad_(True)   # (n, H, ...)
    Wc = W.unsqueeze(0).expand((n,) + W.shape).clone().requires_grad_(True)   # (n, H, d, d)
    return Uc, Wc


def ntk_features(theta: torch.Tensor, X: torch.Tensor, spec: ModelSpec, chunk: int = 256) -> torch.Tensor:
    """J[i] = grad_theta Phi(theta; X_i), (n, P), in the (vec U, vec W) order of models.pack."""
    rows = []
    for s in range(0, X.shape[0], chunk):
        Xc = X[s:s + chunk]
        Uc, Wc = _copies(theta, Xc.shape[0], spec)
        f = phi(Uc, Wc, Xc, spec, per_example=True).sum()
        gU, gW = torch.autograd.grad(f, (Uc, Wc))
        rows.append(torch.cat([gU.reshape(Xc.shape[0], -1), gW.reshape(Xc.shape[0], -1)], dim=1))
    return torch.cat(rows)


def hessian_norms(theta: torch.Tensor, X: torch.Tensor, spec: ModelSpec, iters: int,
                  generator: torch.Generator) -> torch.Tensor:
    """||hess_theta Phi(theta; X_i)||_2 for every example, (n,), by batched power iteration on HVPs."""
    n = X.shape[0]
    Uc, Wc = _copies(theta, n, spec)
    f = phi(Uc, Wc, X, spec, per_example=True).sum()
    gU, gW = torch.autograd.grad(f, (Uc, Wc), create_graph=True)
    vU = torch.randn(Uc.shape, generator=generator, dtype=Uc.dtype)
    vW = torch.randn(Wc.shape, generator=generator, dtype=Wc.dtype)
    est = torch.zeros(n, dtype=Uc.dtype)
    for _ in range(iters):
        norm = torch.sqrt(vU.reshape(n, -1).pow(2).sum(1) + vW.reshape(n, -1).pow(2).sum(1)).clamp_min(1e-300)
        vU = vU / norm.view((n,) + (1,) * (vU.dim() - 1))
        vW = vW / norm.view(n, 1, 1, 1)
        HU, HW = torch.autograd.grad((gU * vU).sum() + (gW * vW).sum(), (Uc, Wc), retain_graph=True)
        est = torch.sqrt(HU.reshape(n, -1).pow(2).sum(1) + HW.reshape(n, -1).pow(2).sum(1))
        vU, vW = HU.detach(), HW.detach()
        if bool((est == 0).all()):
            break
    return est.detach()


def risk_lambda_min(theta: torch.Tensor, X, y, spec: ModelSpec, loss: str = "logistic",
                    tol: float = 1e-3, seed: int = 0) -> float:
    """Smallest eigenvalue of hess L^(theta) by Lanczos (eigsh, which='SA') on autograd HVPs."""
    th = theta.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(risk(th, X, y, spec, loss), th, create_graph=True)
    P = th.numel()

    def matvec(v):
        v = torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1))
        (hv,) = torch.autograd.grad(g, th, grad_outputs=v, retain_graph=True)
        return hv.detach().numpy()

    op = LinearOperator((P, P), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(P)
    vals = eigsh(op, k=1, which="SA", tol=tol, v0=v0, maxiter=max(1000, 20 * 40),
                 ncv=min(P, 40), return_eigenvectors=False)
    return float(vals[0])


def risk_hessian_dense(theta: torch.Tensor, X, y, spec: ModelSpec, loss="logistic") -> torch.Tensor:
    """Full (P, P) risk Hessian: for tests on tiny models only."""
    return torch.autograd.functional.hessian(lambda t: risk(t, X, y, spec, loss), theta.detach(), vectorize=True)


def phi_hessian_dense(theta: torch.Tensor, X1: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """Full Hessian of Phi(.; X1) for one example X1 (1, T, d): tests on tiny models only."""
    from .models import phi_flat
    return torch.autograd.functional.hessian(lambda t: phi_flat(t, X1, spec)[0], theta.detach(), vectorize=True)
