"""Simulation: full-batch gradient descent with constant step on the logistic risk (brief §3e), the one-step
initializations P1/P2 (brief §5c, *reconstruction*), and GD on the linearized model (brief §3g).

    theta_{k+1} = theta_k - eta * grad L^(theta_k),   L^(theta) = (1/n) sum_i l(y_i Phi(theta; X_i))
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ...errors import DivergenceError, check_finite
from .models import ModelSpec, init_params, loss_fn, pack, phi_flat

CHECK_EVERY = 10          # steps between the explosion checks (NaN/inf is checked at every step: it is free)
EXPLODE_FACTOR = 1e3      # L^(theta_k) > EXPLODE_FACTOR * max(L^(theta_0), log 2) counts as divergence
EXPLODE_DISTANCE = 1e6    # ||theta_k - theta0|| > EXPLODE_DISTANCE * max(1, ||theta0||) counts as divergence


def check_not_exploding(name: str, value: float, reference: float, step: int) -> None:
    """Raise DivergenceError when a loss has grown beyond EXPLODE_FACTOR * max(reference, log 2).

    GD with eta <= 1/rho never increases the loss (brief §3e); a loss three orders of magnitude above its
    start is a step size far beyond the stable range, although the logistic loss stays finite (it grows
    only linearly in the margin, so eta = 1e30 gives finite losses of 1e29 to 1e60 rather than NaN)."""
    limit = EXPLODE_FACTOR * max(reference, math.log(2.0))
    if not value <= limit:
        raise DivergenceError(f"{name} exploded at step {step}: {value:.3g} > {limit:.3g} "
                              f"({EXPLODE_FACTOR:g} x the initial loss): training diverged (lower the step size)")


@dataclasses.dataclass
class GDResult:
    theta0: torch.Tensor                 # (P,)
    theta: torch.Tensor                  # (P,) after K steps
    records: list[dict]                  # one per checkpoint k: {"K", "train_loss", "distance_from_init"}
    sum_loss: float                      # sum_{k<K} L^(theta_k) (stability proxy, brief §4d)
    monotone: bool                       # L^(theta_{k+1}) <= L^(theta_k) for every k
    thetas: dict[int, torch.Tensor] = dataclasses.field(default_factory=dict)  # kept checkpoints


def risk(theta: torch.Tensor, X, y, spec: ModelSpec, loss: str = "logistic") -> torch.Tensor:
    """Empirical risk L^(theta) = mean_i loss(y_i Phi(theta; X_i)) (a scalar tensor; logistic by default)."""
    return loss_fn(y * phi_flat(theta, X, spec), loss).mean()


def gd(theta0: torch.Tensor, X, y, spec: ModelSpec, eta: float, K: int, checkpoints=(), loss="logistic",
       train_U: bool = True, keep=()) -> GDResult:
    """K full-batch GD steps from theta0 (autograd gradient of the batched model). Records L^ and
    ||theta_k - theta0|| at each k in checkpoints (k <= K); keeps a copy of theta_k for k in ``keep``.
    Raises DivergenceError on NaN/inf (every step) or on a loss that explodes (every CHECK_EVERY steps and
    at the checkpoints)."""
    checkpoints, keep = set(int(k) for k in checkpoints), set(int(k) for k in keep)
    nU = spec.n_U
    theta = theta0.detach().clone().requires_grad_(True)
    records, thetas, sum_loss, prev, monotone = [], {}, 0.0, math.inf, True
    L0 = math.nan
    for k in range(K + 1):
        L = risk(theta, X, y, spec, loss)
        Lv = float(L.detach())
        check_finite("train_loss", Lv, step=k)
        if k == 0:
            L0 = Lv
        elif k % CHECK_EVERY == 0 or k in checkpoints or k == K:
            check_not_exploding("train_loss", Lv, L0, step=k)
            dist = float((theta.detach() - theta0).norm())
            limit = EXPLODE_DISTANCE * max(1.0, float(theta0.norm()))
            if not dist <= limit:      # the iterates stay in a ball of radius O(g(1/K)) (brief §4c); 1e30 steps do not
                raise DivergenceError(f"parameter distance ||theta_k - theta0|| exploded at step {k}: {dist:.3g} > "
                                      f"{limit:.3g}: training diverged (lower the step size)")
        if Lv > prev * (1 + 1e-9) + 1e-15:
            monotone = False
        prev = Lv
        if k in checkpoints:
            records.append({"K": k, "train_loss": Lv,
                            "distance_from_init": float((theta.detach() - theta0).norm())})
        if k in keep:
            thetas[k] = theta.detach().clone()
        if k == K:
            break
        sum_loss += Lv
        (g,) = torch.autograd.grad(L, theta)
        check_finite("gradient", g, step=k)
        with torch.no_grad():
            if not train_U:
                g[:nU] = 0
            theta -= eta * g
    return GDResult(theta0.detach(), theta.detach(), records, sum_loss, monotone, thetas)


def gd_linearized(J: torch.Tensor, phi0: torch.Tensor, y, eta: float, K: int, loss="logistic",
                  train_mask: torch.Tensor | None = None) -> torch.Tensor:
    """GD on Phi_lin(theta) = Phi(theta0) + J (theta - theta0): logistic regression on the NTK features.
    J (n, P), phi0 (n,). Returns delta = theta_K - theta0 (P,)."""
    delta = torch.zeros(J.shape[1], dtype=J.dtype, device=J.device)
    L0 = float(loss_fn(y * phi0, loss).mean())
    for k in range(K):
        m = y * (phi0 + J @ delta)                                   # (n,)
        if k % CHECK_EVERY == 0 and k:
            check_not_exploding("linearized train_loss", float(loss_fn(m, loss).mean()), L0, step=k)
        if loss == "logistic":
            dl = -torch.sigmoid(-m)                                  # l'(m)
        else:
            dl = -torch.exp(-m)
        g = J.T @ (dl * y) / J.shape[0]                              # (P,)
        check_finite("linearized gradient", g, step=k)
        if train_mask is not None:
            g = g * train_mask
        delta = delta - eta * g
    return delta


def make_init(config, spec: ModelSpec, X, y, generator: torch.Generator, W0_scale: float | None = None):
    """theta0 for the config's init (P0 / P1 / P2, optionally paired); X, y are the training data used by
    the one-step inits.  P1: one GD step of size init_eta on W (and b) from P0.  P2: one GD step of size eta on U
    from (U, W) = 0, then one of size init_eta on W (and b)."""
    W0 = config.W0_scale if W0_scale is None else W0_scale
    parts = init_params(spec, generator, W0_scale=W0, paired=config.paired)
    if config.init == "P0":
        return pack(*parts)
    nU = spec.n_U
    if config.init == "P2":
        parts = tuple(torch.zeros_like(p) for p in parts)
    theta = pack(*parts).requires_grad_(True)

    def step(theta, part, eta):
        L = risk(theta, X, y, spec, config.loss)
        (g,) = torch.autograd.grad(L, theta)
        check_finite(f"one-step init gradient ({part})", g, step=0)
        mask = torch.zeros_like(g)
        if part == "U":
            mask[:nU] = 1
        else:
            mask[nU:] = 1
        step_norm = float((eta * g * mask).norm())
        limit = EXPLODE_DISTANCE * max(1.0, float(theta.detach().norm()))
        if not step_norm <= limit:
            raise DivergenceError(f"one-step init ({part}-step) exploded at step 0: step norm {step_norm:.3g} > "
                                  f"{limit:.3g} (lower the step size)")
        return (theta - eta * g * mask).detach().requires_grad_(True)

    if config.init == "P2":
        theta = step(theta, "U", config.eta)
    theta = step(theta, "W", config.init_eta)
    return theta.detach()
