"""Gradients, Hessians and NTK features of Phi, and the curvature of the risk (brief §3g, §4b).

Per-example quantities use one parameter row per example (Theta (n, P), see models.py), so one backward pass
gives every example's gradient (the NTK features J, (n, P)) and one double backward (or two more backward
passes, for central finite differences of gradients) gives every example's Hessian-vector product.
Everything here runs in float64.

* ||grad_theta Phi(theta; X_i)||: row norms of J.
* ||hess_theta Phi(theta; X_i)||_2: power iteration v <- Hv / ||Hv|| (``iters`` steps); the estimate ||Hv||
  converges to the largest |eigenvalue| (also when +lambda and -lambda pair up, as they do here).
* lambda_min(hess L^(theta)): Lanczos with full reorthogonalization on HVPs from a seeded start vector
  (deterministic; ARPACK's restarts were not, issue 16).
"""
from __future__ import annotations

import numpy as np
import torch

from .models import ModelSpec, phi
from .train import risk


HVP_METHODS = ("autograd", "fd")
FD_EPS = 1e-4          # finite-difference step along a unit direction (brief §3g)


def _unpack_rows(Theta: torch.Tensor, spec: ModelSpec) -> tuple[torch.Tensor, ...]:
    """Per-example parameter rows Theta (n, P) -> U (n, H, ...), W (n, H, d, d)[, b (n, H)]."""
    n = Theta.shape[0]
    nU, nW = spec.n_U, spec.n_W
    parts = (Theta[:, :nU].reshape((n,) + spec.U_shape), Theta[:, nU:nU + nW].reshape(n, spec.H, spec.d, spec.d))
    return parts + ((Theta[:, nU + nW:],) if spec.bias else ())


def _row_grads(Theta: torch.Tensor, X: torch.Tensor, spec: ModelSpec, create_graph: bool = False) -> torch.Tensor:
    """(n, P): row i = grad_theta Phi(Theta_i; X_i), one backward pass for every example."""
    if not Theta.requires_grad:
        Theta = Theta.requires_grad_(True)
    parts = _unpack_rows(Theta, spec)
    f = phi(parts[0], parts[1], X, spec, per_example=True, b=parts[2] if spec.bias else None).sum()
    (g,) = torch.autograd.grad(f, Theta, create_graph=create_graph)
    return g


def _rows(theta: torch.Tensor, n: int) -> torch.Tensor:
    return theta.detach().unsqueeze(0).expand(n, -1).clone()


def ntk_features(theta: torch.Tensor, X: torch.Tensor, spec: ModelSpec, chunk: int = 256) -> torch.Tensor:
    """J[i] = grad_theta Phi(theta; X_i), (n, P), in the (vec U, vec W[, b]) order of models.pack."""
    return torch.cat([_row_grads(_rows(theta, min(chunk, X.shape[0] - s)), X[s:s + chunk], spec)
                      for s in range(0, X.shape[0], chunk)])


def hessian_norms(theta: torch.Tensor, X: torch.Tensor, spec: ModelSpec, iters: int,
                  generator: torch.Generator, method: str = "autograd") -> torch.Tensor:
    """||hess_theta Phi(theta; X_i)||_2 for every example, (n,), by batched power iteration on HVPs.

    method "autograd": H v by double backward.  "fd": central differences of gradients along the unit
    direction, H v ~ (grad Phi(theta + eps v) - grad Phi(theta - eps v)) / (2 eps), eps = FD_EPS (brief §3g);
    needs only first derivatives, so it works for normalizations without a usable double backward (entmax)."""
    if method not in HVP_METHODS:
        raise ValueError(f"method must be one of {HVP_METHODS}, got {method!r}")
    n = X.shape[0]
    Theta = _rows(theta, n)
    if method == "autograd":
        Theta.requires_grad_(True)
        G = _row_grads(Theta, X, spec, create_graph=True)

        def hvp(V):
            (hv,) = torch.autograd.grad((G * V).sum(), Theta, retain_graph=True)
            return hv.detach()
    else:
        def hvp(V):
            return (_row_grads(Theta + FD_EPS * V, X, spec) - _row_grads(Theta - FD_EPS * V, X, spec)) / (2 * FD_EPS)
    V = torch.randn(Theta.shape, generator=generator, dtype=Theta.dtype)
    est = torch.zeros(n, dtype=Theta.dtype)
    for _ in range(iters):
        V = V / V.norm(dim=1, keepdim=True).clamp_min(1e-300)
        HV = hvp(V)
        est = HV.norm(dim=1)
        V = HV
        if bool((est == 0).all()):
            break
    return est.detach()


def lanczos_smallest(matvec, v0: np.ndarray, tol: float = 1e-6, max_iter: int = 300, check_every: int = 5) -> float:
    """Smallest eigenvalue of a symmetric operator by Lanczos with full reorthogonalization from the start vector
    v0 (deterministic: no random restarts).  Stops when the Ritz residual beta_m |s_m| of the smallest Ritz value
    theta is <= tol max(|theta|, 1e-12), on an invariant subspace, or after max_iter steps.

    Replaces ARPACK (eigsh), whose restarts draw from a random state kept across calls in the process: the same
    task gave different lambda_min depending on how many eigsh calls its worker had made before (issue 16)."""
    from scipy.linalg import eigh_tridiagonal

    P = v0.shape[0]
    m = min(max_iter, P)
    Q = np.zeros((m + 1, P))
    Q[0] = v0 / np.linalg.norm(v0)
    alpha, beta = [], []
    theta = float("nan")
    for j in range(m):
        w = np.asarray(matvec(Q[j]), dtype=np.float64)
        a = float(w @ Q[j])
        w = w - a * Q[j] - (beta[-1] * Q[j - 1] if j else 0.0)
        for _ in range(2):                                   # full reorthogonalization, twice is enough
            w = w - Q[:j + 1].T @ (Q[:j + 1] @ w)
        b = float(np.linalg.norm(w))
        alpha.append(a)
        if (j + 1) % check_every == 0 or b <= 1e-14 or j == m - 1:
            vals, vecs = eigh_tridiagonal(np.array(alpha), np.array(beta), select="i", select_range=(0, 0))
            theta = float(vals[0])
            if b * abs(vecs[-1, 0]) <= tol * max(abs(theta), 1e-12) or b <= 1e-14:
                return theta
        beta.append(b)
        Q[j + 1] = w / b
    return theta


def risk_lambda_min(theta: torch.Tensor, X, y, spec: ModelSpec, loss: str = "logistic",
                    tol: float = 1e-6, v0_seed: int = 0, method: str = "autograd", max_iter: int = 300) -> float:
    """Smallest eigenvalue of hess L^(theta) by Lanczos (lanczos_smallest, full reorthogonalization) on HVPs
    (autograd or central finite differences of gradients).  The start vector v0 is drawn from ``v0_seed``
    (derive it with attnlab.rng), so a run is reproducible bit for bit; BLAS runs on one thread."""
    from threadpoolctl import threadpool_limits

    if method not in HVP_METHODS:
        raise ValueError(f"method must be one of {HVP_METHODS}, got {method!r}")
    th = theta.detach().clone().requires_grad_(True)
    P = th.numel()
    if method == "autograd":
        (g,) = torch.autograd.grad(risk(th, X, y, spec, loss), th, create_graph=True)

        def hv(v):
            (out,) = torch.autograd.grad(g, th, grad_outputs=v, retain_graph=True)
            return out
    else:
        def grad_at(t):
            t = t.detach().requires_grad_(True)
            (out,) = torch.autograd.grad(risk(t, X, y, spec, loss), t)
            return out

        def hv(v):
            nv = float(v.norm())
            if nv == 0:
                return torch.zeros_like(v)
            u = v / nv
            return (grad_at(th + FD_EPS * u) - grad_at(th - FD_EPS * u)) * (nv / (2 * FD_EPS))

    def matvec(v):
        return hv(torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1))).detach().numpy()

    v0 = np.random.default_rng(v0_seed).standard_normal(P)
    with threadpool_limits(limits=1):
        return lanczos_smallest(matvec, v0, tol=tol, max_iter=max_iter)


def risk_hessian_dense(theta: torch.Tensor, X, y, spec: ModelSpec, loss="logistic") -> torch.Tensor:
    """Full (P, P) risk Hessian: for tests on tiny models only."""
    return torch.autograd.functional.hessian(lambda t: risk(t, X, y, spec, loss), theta.detach(), vectorize=True)


def phi_hessian_dense(theta: torch.Tensor, X1: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """Full Hessian of Phi(.; X1) for one example X1 (1, T, d): tests on tiny models only."""
    from .models import phi_flat
    return torch.autograd.functional.hessian(lambda t: phi_flat(t, X1, spec)[0], theta.detach(), vectorize=True)
