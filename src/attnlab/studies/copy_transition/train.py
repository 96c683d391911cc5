"""Simulations: reduced-posterior MALA on S, full-network Langevin on (S, W), full-batch Adam on (S, W).

All three are batched over a leading axis of independent chains / runs (one tensor op per step for all).
[reconstruction: the protocols of brief section 6]
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ...errors import DivergenceError, check_finite
from .models import CopyHeads
from .posterior import ReducedPosterior, attention, mse_from_stats, order_parameters


CHECK_EVERY = 10        # steps between divergence checks (each check syncs a (B,) tensor)
GROWTH = 1e3            # an objective above GROWTH * max(|its start value|, 1) is an explosion


def check_objective(name: str, value: torch.Tensor, start: torch.Tensor, step: int) -> None:
    """Raise DivergenceError naming the step and quantity when `value` (per chain) is not finite or has grown
    beyond GROWTH times its start value (a sampler or optimiser that left the posterior's scale)."""
    check_finite(name, value, step)
    bound = GROWTH * torch.clamp(start.abs(), min=1.0)
    if bool((value > bound).any()):
        worst = float((value / bound).max()) * GROWTH
        raise DivergenceError(f"{name} exploded at step {step}: {worst:.3g} x its start value (lower the learning "
                              f"rate or step size)")


def _record(rows: list, S, alpha, geo, extra: dict, step: int, mse=None):
    """Append one row per chain (chains flattened in C order) of order parameters + extras."""
    op = {k: v.detach().reshape(-1).cpu().numpy() for k, v in order_parameters(S, alpha, geo).items()}
    if mse is not None:
        op["test_mse"] = mse.detach().reshape(-1).cpu().numpy()
    op.update({k: np.asarray(v).reshape(-1) for k, v in extra.items()})
    n = len(op["m"])
    for b in range(n):  # bookkeeping of already-computed scalars, once per recorded sample (not the hot loop)
        rows.append(dict(step=step, chain=b, **{k: float(v[b]) for k, v in op.items()}))


def mala(post: ReducedPosterior, S0: torch.Tensor, n_burn: int, n_steps: int, thin: int, generator,
         C_test: torch.Tensor, n_test: int, target_accept: float = 0.574, eps0: float | None = None) -> dict:
    """Metropolis-adjusted Langevin on the reduced posterior, chains batched S0 (D, K, L, L).

    Proposal S' = S - eps grad U(S) + sqrt(2 eps) xi; accept with
    min(1, exp(U(S) - U(S') - |S - S' + eps grad U(S')|^2/(4 eps) + |S' - S + eps grad U(S)|^2/(4 eps))).
    eps is per chain, adapted during burn-in (Robbins-Monro on ln eps toward `target_accept`), then frozen.
    Every `thin` steps after burn-in records m, q, residual, logit gap and the test MSE of the posterior-mean
    readout given S (on statistics C_test of fresh sequences).  Returns dict(samples=list of rows with
    `chain` the flat chain index, accept (D*K,), eps (D*K,))."""
    geo = post.geo
    S = S0.clone()
    shape = S.shape[:-2]
    eps = torch.full(shape, eps0 if eps0 is not None else 0.1 * post.sigma_a2 / geo.L, dtype=S.dtype,
                     device=S.device)
    U, g = post.energy_and_grad(S)
    check_finite("MALA energy", U, 0)
    U0 = U.clone()
    acc_sum = torch.zeros(shape, dtype=S.dtype, device=S.device)
    rows: list = []
    for k in range(n_burn + n_steps):
        e = eps[..., None, None]
        noise = torch.randn(S.shape, generator=generator, dtype=S.dtype, device=S.device)
        S_new = S - e * g + torch.sqrt(2 * e) * noise
        U_new, g_new = post.energy_and_grad(S_new)
        fwd = ((S_new - S + e * g) ** 2).sum((-1, -2))
        bwd = ((S - S_new + e * g_new) ** 2).sum((-1, -2))
        log_r = U - U_new - bwd / (4 * eps) + fwd / (4 * eps)
        log_r = torch.where(torch.isfinite(log_r), log_r, torch.full_like(log_r, -math.inf))
        p_acc = torch.exp(torch.clamp(log_r, max=0.0))
        accept = torch.rand(shape, generator=generator, dtype=S.dtype, device=S.device) < p_acc
        S = torch.where(accept[..., None, None], S_new, S)
        U = torch.where(accept, U_new, U)
        g = torch.where(accept[..., None, None], g_new, g)
        if k % CHECK_EVERY == 0 or k == n_burn + n_steps - 1:
            check_objective("MALA energy", U, U0, k)
        if k < n_burn:
            eps = eps * torch.exp((p_acc - target_accept) * 2.0 / math.sqrt(k + 10.0))
        else:
            acc_sum += accept.to(S.dtype)
            j = k - n_burn
            if (j + 1) % thin == 0:
                with torch.no_grad():
                    alpha = attention(S, post.att, geo)
                    W = post.readout(S)
                    mse = mse_from_stats(alpha, W, C_test, n_test, geo)
                _record(rows, S, alpha, geo, {}, j + 1, mse)
    return dict(samples=rows, accept=(acc_sum / max(n_steps, 1)).reshape(-1).cpu().numpy(),
                eps=eps.reshape(-1).cpu().numpy())


def langevin(model: CopyHeads, data, lr, n_steps: int, n_burn: int, thin: int, generator,
             C_test: torch.Tensor, n_test: int) -> list:
    """Full-network Langevin on all parameters theta of `model` (batched heads):
    theta <- theta - lr grad J(theta) + sqrt(2 lr kappa) xi,  J = 1/2 sum ||f - y||^2 + prior (gamma from
    the prior).  Stationary law exp(-J/kappa) = the posterior.  ``data`` is either raw one-hot sequences Xl
    (layout (B, L, P, V), see CopyHeads.layout; cost O(B P L^2 V) per step) or their statistics (C, n) with
    C (D, L, L, V, V) for D data sets of B/D heads each and n (B,) targets per head: the same full-batch J,
    exactly (CopyHeads.data_loss_stats), at cost O(B (L^3 + L^2 V^2)) whatever P is.  ``lr``: a number or one
    per head (B,).  Records (after burn-in, every `thin`) m, q, residual, logit gap and the test MSE of the
    current (S, W)."""
    params = [p for p in model.parameters()]
    stats = isinstance(data, tuple)
    lr_t = torch.as_tensor(lr, dtype=params[0].dtype, device=params[0].device).reshape(-1)
    sd_t = torch.sqrt(2 * lr_t * model.kappa)
    rows: list = []
    J0 = None
    for k in range(n_steps):
        J = (model.data_loss_stats(*data) if stats else model.data_loss(data)) + model.prior_energy()
        grads = torch.autograd.grad(J.sum(), params)
        if J0 is None:
            J0 = J.detach().clone()
        if k % CHECK_EVERY == 0 or k == n_steps - 1:
            check_objective("Langevin objective", J.detach(), J0, k)
        with torch.no_grad():
            for p, gr in zip(params, grads):
                shape = (-1,) + (1,) * (p.dim() - 1)
                noise = torch.randn(p.shape, generator=generator, dtype=p.dtype, device=p.device)
                p.add_(-lr_t.reshape(shape) * gr + sd_t.reshape(shape) * noise)
        if k >= n_burn and (k - n_burn + 1) % thin == 0:
            with torch.no_grad():
                S, alpha = model.logits().double(), model.alpha().double()
                mse = mse_from_stats(alpha, model.W.double(), C_test, n_test, model.geo)
            _record(rows, S, alpha, model.geo, {}, k + 1, mse)
    return rows


def adam(model: CopyHeads, C: torch.Tensor, n: torch.Tensor, lr: float, n_steps: int, record_every: int,
         C_test: torch.Tensor, n_test: int) -> list:
    """Full-batch Adam on J = 1/2 sum ||f - y||^2 + prior weight decay (the MAP objective), every head of
    the batch at once; the full-batch loss is evaluated exactly from the statistics C (B, L, L, V, V).
    Records every `record_every` steps: m, q, residual, logit gap, train loss per target and test MSE."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows: list = []
    J0 = None
    for k in range(n_steps + 1):
        if k % record_every == 0 or k == n_steps:
            with torch.no_grad():
                S, alpha = model.logits(), model.alpha()
                loss = 2 * model.data_loss_stats(C, n) / n
                mse = mse_from_stats(alpha, model.W, C_test, n_test, model.geo)
            _record(rows, S, alpha, model.geo, {"loss": loss.detach().cpu().numpy()}, k, mse)
        if k == n_steps:
            break
        opt.zero_grad()
        J = model.data_loss_stats(C, n) + model.prior_energy()
        if J0 is None:
            J0 = J.detach().clone()
        if k % CHECK_EVERY == 0 or k == n_steps - 1:
            check_objective("Adam objective", J.detach(), J0, k)
        J.sum().backward()
        opt.step()
    return rows
