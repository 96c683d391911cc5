"""The equilibrium transition point from sampling: umbrella integration along the copy-logit gap.

The softmax transition is first order, so chains do not cross between the two basins near P* and plain
sampling cannot say which basin holds more posterior mass.  We compute the free-energy profile of the
collective variable

    G(S) = mean_t S_{t,t-1} - mean_{t, s != t-1} S_ts        (target rows, allowed keys; the theory's gap a)

under the reduced posterior exp(-U(S)) (brief 5.1, W integrated out, the full L x L matrix S sampled, so the
entropy of every other direction is included).  Window j adds the restraint (k/2)(G - g_j)^2; with a stiff k
the restrained law of G is near Gaussian and umbrella integration (Kaestner and Thiel 2005) gives the mean
force at its mean:  F'(<G>_j) = k (g_j - <G>_j).  Integrating the mean force (trapezoid over the sorted <G>_j)
gives F(G) up to a constant; the two basins are split at the profile's maximum, and

    Delta F(P) = -ln int_copy e^{-F} dG + ln int_uniform e^{-F} dG        (< 0: the copy basin holds more mass).

Per data set (nested: the first P of one long sample of sequences, so Delta F is smooth in P), Delta F at a few
P around the theory's P* is fitted by a line whose root is that data set's P*; the sampled P* is the mean
over data sets +- Z se (the lab's 99 % policy).  [reconstruction: the protocol of brief 6.3]
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .posterior import Geometry, ReducedPosterior


def gap(S: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """G(S) (...,): mean copy logit minus mean other (allowed) logit over the target rows."""
    copy = S[..., geo.rows, geo.prev].mean(-1)
    other = ~geo.shift[geo.rows]
    if geo.mask is not None:
        other = other & geo.mask[geo.rows]
    other = other.to(S.dtype)
    return copy - (S[..., geo.rows, :] * other).sum((-1, -2)) / other.sum()


def restrained_mala(post: ReducedPosterior, centers: torch.Tensor, k: float, n_burn: int, n_steps: int,
                    generator, target_accept: float = 0.574) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MALA on U(S) + (k/2)(G(S) - g)^2 for chains (D, K) with window centers g (D, K), started at the copy
    pattern with gap g.  Returns (mean of G after burn-in, its batch-means standard error, acceptance), each
    (D, K).  Divergence: the energy must stay finite (DivergenceError from the posterior otherwise)."""
    geo = post.geo
    D, K = centers.shape
    L = geo.L
    S = geo.shift.to(post.C.dtype)[None, None] * centers[..., None, None]

    def energy_grad(S):
        with torch.enable_grad():
            S = S.detach().requires_grad_(True)
            U = post.energy(S) + 0.5 * k * (gap(S, geo) - centers) ** 2
            (g,) = torch.autograd.grad(U.sum(), S)
        return U.detach(), g

    eps = torch.full((D, K), 0.02 / (k / L**2 + 1.0) / L, dtype=S.dtype)
    U, g = energy_grad(S)
    Gs, acc = [], torch.zeros(D, K, dtype=S.dtype)
    for it in range(n_burn + n_steps):
        e = eps[..., None, None]
        noise = torch.randn(S.shape, generator=generator, dtype=S.dtype)
        S_new = S - e * g + torch.sqrt(2 * e) * noise
        U_new, g_new = energy_grad(S_new)
        fwd = ((S_new - S + e * g) ** 2).sum((-1, -2))
        bwd = ((S - S_new + e * g_new) ** 2).sum((-1, -2))
        log_r = U - U_new - bwd / (4 * eps) + fwd / (4 * eps)
        log_r = torch.where(torch.isfinite(log_r), log_r, torch.full_like(log_r, -math.inf))
        p = torch.exp(torch.clamp(log_r, max=0.0))
        ok = torch.rand((D, K), generator=generator, dtype=S.dtype) < p
        S = torch.where(ok[..., None, None], S_new, S)
        U = torch.where(ok, U_new, U)
        g = torch.where(ok[..., None, None], g_new, g)
        if it < n_burn:
            eps = eps * torch.exp((p - target_accept) * 2.0 / math.sqrt(it + 10.0))
        else:
            acc += ok.to(S.dtype)
            Gs.append(gap(S, geo))
    G = torch.stack(Gs).cpu().numpy()                   # (n_steps, D, K)
    nb = 10
    batches = G[: (len(G) // nb) * nb].reshape(nb, -1, D, K).mean(1)
    se = batches.std(0, ddof=1) / math.sqrt(nb)
    return G.mean(0), se, (acc / max(n_steps, 1)).cpu().numpy()


def profile(G_mean: np.ndarray, centers: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """F(G) (nats, min 0) at the sorted window means from the mean forces k (g - <G>) (trapezoid)."""
    order = np.argsort(G_mean)
    x = G_mean[order]
    f = k * (centers[order] - x)
    F = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
    return x, F - F.min()


def basin_free_energy_difference(x: np.ndarray, F: np.ndarray) -> tuple[float, float]:
    """(Delta F = F_copy - F_uniform, G at the barrier top) from a profile with two basins split at the
    highest point between the profile's lowest-G minimum and its highest-G minimum; NaN when the profile has
    a single basin."""
    interior = np.where((F[1:-1] < F[:-2]) & (F[1:-1] <= F[2:]))[0] + 1
    mins = sorted(set(interior.tolist()) | ({0} if F[0] < F[1] else set()) | ({len(F) - 1} if F[-1] < F[-2] else set()))
    if len(mins) < 2:
        return math.nan, math.nan
    lo, hi = mins[0], mins[-1]
    top = lo + int(np.argmax(F[lo:hi + 1]))
    w = np.exp(-(F - F.min()))
    seg = np.concatenate([[0.0], 0.5 * (w[1:] + w[:-1]) * np.diff(x)])
    Z_u, Z_c = seg[1:top + 1].sum(), seg[top + 1:].sum()
    if Z_u <= 0 or Z_c <= 0:
        return math.nan, float(x[top])
    return float(-math.log(Z_c) + math.log(Z_u)), float(x[top])


def root_of_line(P: np.ndarray, dF: np.ndarray) -> float:
    """P where the least-squares line of Delta F on P crosses zero (NaN if flat or < 2 finite points)."""
    ok = np.isfinite(dF)
    if ok.sum() < 2:
        return math.nan
    slope, icpt = np.polyfit(P[ok], dF[ok], 1)
    return float(-icpt / slope) if slope != 0 else math.nan
