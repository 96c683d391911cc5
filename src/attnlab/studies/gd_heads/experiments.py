"""The experiments of brief §7, one function per task kind; each returns tidy tables (one row per observation).

Every random draw comes from data.generator_for(config.seed, <experiment>, <indices>), so a task depends only
on (config, task params).  All tensors are float64.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from . import curvature, data, theory
from .models import ModelSpec, phi_flat, loss_fn
from .train import gd, gd_linearized, make_init, risk

DT = torch.float64


def _data(config, n, *keys, zeta=None, sigma=None):
    changes = {} if zeta is None else {"zeta": zeta}
    if sigma is not None:
        changes["sigma"] = sigma
    spec = data.MixtureSpec.from_config(config, **changes)
    X, y, _ = data.sample(spec, n, data.generator_for(config.seed, *keys), device=config.device)
    return X, y


def _test_set(config, n_test, zeta=None, sigma=None):
    """One fixed test set per run (independent of the training seeds)."""
    return _data(config, n_test, "test", n_test, zeta=zeta, sigma=sigma)


def _eval(theta, X, y, spec, loss, chunk=2000):
    """(test loss, 0-1 error, Phi) on a large set, in chunks."""
    outs = [phi_flat(theta, X[s:s + chunk], spec).detach() for s in range(0, X.shape[0], chunk)]
    f = torch.cat(outs)
    return float(loss_fn(y * f, loss).mean()), float((y * f <= 0).double().mean()), f


def _beta2(theta, X, spec, iters, gen) -> float:
    """sqrt(H) max_i ||hess Phi(theta; X_i)|| (the constant of the weak-convexity lemma at theta)."""
    return math.sqrt(spec.H) * float(curvature.hessian_norms(theta, X, spec, iters, gen).max())


# ---- claim 1 -------------------------------------------------------------------------------------------------
def curvature_vs_heads(config, H: int, W0: float) -> dict:
    """||grad Phi|| and ||hess Phi|| at theta0 for one X per sample (config.seeds samples)."""
    spec = ModelSpec.from_config(config, H)
    rows = []
    for s in range(config.seeds):
        X, y = _data(config, 1, "curv", s)
        gen = data.generator_for(config.seed, "curv-init", H, str(W0), s)
        theta0 = make_init(config, spec, X, y, gen, W0_scale=W0)
        g = float(curvature.ntk_features(theta0, X, spec).norm())
        h = float(curvature.hessian_norms(theta0, X, spec, config.power_iters, gen)[0])
        rows.append(dict(H=H, seed=s, init=f"W0={W0:g}", W0_scale=W0, grad_norm=g, hessian_norm=h,
                         sqrtH_hessian_norm=math.sqrt(H) * h))
    return {"curvature": pd.DataFrame(rows)}


# ---- claim 2 -------------------------------------------------------------------------------------------------
def weak_convexity(config, H: int, s: int) -> dict:
    """lambda_min(hess L^) along GD; kappa = -lambda_min sqrt(H) / L^ vs the lemma's constant at theta_k."""
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, config.n, "train", s)
    gen = data.generator_for(config.seed, "init", H, s)
    theta0 = make_init(config, spec, X, y, gen)
    ks = sorted(set(config.K_wc))
    res = gd(theta0, X, y, spec, config.eta, max(ks), checkpoints=ks, loss=config.loss,
             train_U=config.train_U, keep=ks)
    rows = []
    for rec in res.records:
        th = res.thetas[rec["K"]]
        lmin = curvature.risk_lambda_min(th, X, y, spec, config.loss, seed=s)
        b2 = _beta2(th, X, spec, config.power_iters, gen)
        rows.append(dict(H=H, seed=s, K=rec["K"], train_loss=rec["train_loss"], lambda_min=lmin,
                         kappa=-lmin * math.sqrt(H) / rec["train_loss"], beta2=b2,
                         distance_from_init=rec["distance_from_init"]))
    return {"weak_convexity": pd.DataFrame(rows)}


# ---- claims 3-5 ------------------------------------------------------------------------------------------------
def rates(config, eta: float, s: int) -> dict:
    """GD at H = H_rates and step eta: L^ and ||theta_K - theta0|| at the K_rates checkpoints.  At the
    smallest eta the same run also gives the bound of claim 4 (NTK SVM at theta0, lambda on a 0.5 grid)."""
    H = config.H_rates
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, config.n, "train", s)
    gen = data.generator_for(config.seed, "init", H, s)
    theta0 = make_init(config, spec, X, y, gen)
    J = curvature.ntk_features(theta0, X, spec)
    G = float(J.norm(dim=1).max())
    b2 = _beta2(theta0, X, spec, config.power_iters, gen)
    rho = theory.smoothness(G, b2, H)
    base = eta == min(config.etas)
    ck = sorted(set(config.K_rates) | set(config.K_bound)) if base else \
        sorted(k for k in set(config.K_rates) if k <= config.K_rates_large_eta)
    K_max = max(ck)
    res = gd(theta0, X, y, spec, eta, K_max, checkpoints=ck, loss=config.loss, train_U=config.train_U)
    rows = [dict(H=H, eta=eta, K=r["K"], seed=s, train_loss=r["train_loss"],
                 distance_from_init=r["distance_from_init"], eta_K=eta * r["K"], monotone=res.monotone,
                 eta_max_est=1.0 / rho) for r in res.records]
    out = {"rates": pd.DataFrame(rows)}
    if eta == min(config.etas):
        gamma, c = theory.svm_dual_margin((J @ J.T).numpy(), y.numpy())
        theta_star = (J.T @ torch.as_tensor(c, dtype=DT))
        by_K = {r["K"]: r for r in res.records}
        brows, rrows = [], []
        for K in config.K_bound:
            lam, margin = _grid_lambda(theta0, theta_star, X, y, spec, math.log(K))
            L_bar = float(risk(theta0 + lam * theta_star, X, y, spec, config.loss)) if math.isfinite(lam) else math.nan
            B = theory.training_bound(L_bar, lam ** 2, eta, K)
            L_K = by_K[K]["train_loss"]
            brows.append(dict(H=H, eta=eta, K=K, seed=s, gamma=gamma, **{"lambda": lam}, L_bar=L_bar, bound=B,
                              train_loss=L_K, ratio=L_K / B, distance_from_init=by_K[K]["distance_from_init"]))
            rrows.append(dict(H=H, K=K, seed=s, construction="grid", gamma=gamma, **{"lambda": lam},
                              min_margin=margin, target_margin=math.log(K)))
        out["bound"] = pd.DataFrame(brows)
        out["realizability"] = pd.DataFrame(rrows)
    return out


def _grid_lambda(theta0, theta_star, X, y, spec, target, step=0.5, lam_max=500.0):
    """Smallest lambda on the grid {0.5, 1, ...} with min_i y_i Phi(theta0 + lambda theta*; X_i) >= target."""
    lams = torch.arange(step, lam_max + step / 2, step, dtype=DT)
    for chunk in torch.split(lams, 64):
        for lam in chunk.tolist():
            m = float((y * phi_flat(theta0 + lam * theta_star, X, spec)).min())
            if m >= target:
                return lam, m
    return math.nan, math.nan


# ---- claim 6 ---------------------------------------------------------------------------------------------------
def lazy(config, H: int, s: int) -> dict:
    """Phi and its linearization trained by the same GD; mean |Phi_K - Phi_lin_K| on held-out data."""
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, config.n, "train", s)
    Xt, yt = _test_set(config, min(config.n_test, 500))
    gen = data.generator_for(config.seed, "init", H, s)
    theta0 = make_init(config, spec, X, y, gen)
    res = gd(theta0, X, y, spec, config.eta, config.K_lazy, checkpoints=(config.K_lazy,), loss=config.loss,
             train_U=config.train_U)
    J = curvature.ntk_features(theta0, X, spec)
    phi0 = phi_flat(theta0, X, spec).detach()
    mask = None
    if not config.train_U:
        mask = torch.ones(J.shape[1], dtype=DT)
        mask[: J.shape[1] - H * config.d ** 2] = 0
    delta = gd_linearized(J, phi0, y, config.eta, config.K_lazy, config.loss, mask)
    lin_train = float(loss_fn(y * (phi0 + J @ delta), config.loss).mean())
    f_t = phi_flat(res.theta, Xt, spec).detach()
    _, f_lin_t = torch.func.jvp(lambda th: phi_flat(th, Xt, spec), (theta0,), (delta,))
    f_lin_t = phi_flat(theta0, Xt, spec).detach() + f_lin_t.detach()
    row = dict(H=H, seed=s, K=config.K_lazy, train_loss=res.records[-1]["train_loss"], train_loss_lin=lin_train,
               test_dev=float((f_t - f_lin_t).abs().mean()), test_scale=float(f_t.abs().mean()),
               distance_from_init=res.records[-1]["distance_from_init"],
               test_loss=float(loss_fn(yt * f_t, config.loss).mean()),
               test_loss_lin=float(loss_fn(yt * f_lin_t, config.loss).mean()))
    return {"lazy": pd.DataFrame([row])}


# ---- claims 7-8 ------------------------------------------------------------------------------------------------
def ntk(config, H: int, zeta: float, s: int) -> dict:
    """NTK margin at theta0 (full and U-only features) and, at the config's zeta, the realizability
    construction theta_bar = theta0 + lambda theta*, lambda = 2 (log K + B0) / gamma."""
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, config.n, "train", s, zeta=zeta)
    gen = data.generator_for(config.seed, "init", H, s)
    theta0 = make_init(config, spec, X, y, gen)
    J = curvature.ntk_features(theta0, X, spec)
    nU = J.shape[1] - H * config.d ** 2
    gamma, c = theory.svm_dual_margin((J @ J.T).numpy(), y.numpy())
    JU = J[:, :nU]
    gamma_U, _ = theory.svm_dual_margin((JU @ JU.T).numpy(), y.numpy())
    k = int(round(zeta * config.T))
    X0, y0 = _data(config, config.n, "train", s, zeta=zeta, sigma=0.0)   # the same draw without token noise
    J0 = curvature.ntk_features(theta0, X0, spec)[:, :nU]
    gamma_U0, _ = theory.svm_dual_margin((J0 @ J0.T).numpy(), y0.numpy())
    out = {"margins": pd.DataFrame([dict(
        H=H, zeta=zeta, seed=s, gamma=gamma, gamma_U=gamma_U, gamma_U_sigma0=gamma_U0,
        gamma_U_theory=theory.uniform_attention_margin(k / config.T, config.S, config.T),
        gamma_ideal=theory.ideal_attention_margin(config.S, config.T))])}
    if zeta == config.zeta:
        K = config.K_real
        phi0 = phi_flat(theta0, X, spec).detach()
        B0 = float(phi0.abs().max())
        theta_star = J.T @ torch.as_tensor(c, dtype=DT)
        lam = theory.realizability_lambda(K, B0, gamma) if gamma > 0 else math.nan
        if math.isfinite(lam):
            f_bar = phi_flat(theta0 + lam * theta_star, X, spec).detach()
            f_lin = phi0 + lam * (J @ theta_star)
            m, m_lin = float((y * f_bar).min()), float((y * f_lin).min())
            remainder = float((f_bar - f_lin).abs().max())
        else:
            m = m_lin = remainder = math.nan
        b2 = _beta2(theta0, X, spec, config.power_iters, gen)
        out["realizability"] = pd.DataFrame([dict(
            H=H, K=K, seed=s, construction="theory", gamma=gamma, **{"lambda": lam}, min_margin=m,
            lin_margin=m_lin, target_margin=math.log(K), remainder=remainder,
            remainder_bound=b2 * lam ** 2 / (2 * math.sqrt(H)), B0=B0, beta2=b2,
            H_sufficient=theory.heads_sufficient(b2, K, B0, gamma) if gamma > 0 else math.nan)])
    return out


# ---- claims 9-10 -----------------------------------------------------------------------------------------------
def generalization(config, n: int, s: int, protocol: str) -> dict:
    """Train on n examples; test on one fixed large test set.  protocol "fixed_K": H_gen, K_gen (claim 9);
    "K_prop_n": H_testrate, K = K_per_n * n (claim 10)."""
    H, K = (config.H_gen, config.K_gen) if protocol == "fixed_K" else (config.H_testrate, config.K_per_n * n)
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, n, "gen", protocol, n, s, sigma=config.gen_sigma)
    Xt, yt = _test_set(config, config.gen_n_test, sigma=config.gen_sigma)
    gen = data.generator_for(config.seed, "gen-init", protocol, n, s)
    theta0 = make_init(config, spec, X, y, gen)
    ks = sorted(set([0, K] + [int(k) for k in np.unique(np.geomspace(1, K, 6).astype(int))]))
    res = gd(theta0, X, y, spec, config.eta, K, checkpoints=(K,), loss=config.loss, train_U=config.train_U,
             keep=ks)
    G_max = max(float(curvature.ntk_features(th, X, spec).norm(dim=1).max()) for th in res.thetas.values())
    J0 = curvature.ntk_features(theta0, X, spec)
    gamma, _ = theory.svm_dual_margin((J0 @ J0.T).numpy(), y.numpy())     # the margin in O~(1/(gamma^2 n))
    test_loss, test_err, _ = _eval(res.theta, Xt, yt, spec, config.loss)
    train_loss = res.records[-1]["train_loss"]
    row = dict(H=H, n=n, K=K, seed=s, protocol=protocol, eta=config.eta, sigma=config.gen_sigma, train_loss=train_loss,
               test_loss=test_loss, test_error=test_err, gap=test_loss - train_loss, sum_loss=res.sum_loss,
               G_max=G_max, gamma=gamma, stability_proxy=theory.stability_proxy(G_max, config.eta, n, res.sum_loss),
               monotone=res.monotone)
    return {"generalization": pd.DataFrame([row])}
