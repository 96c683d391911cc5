"""The experiment layer: the experiments of brief §7, one function per task kind, registered in EXPERIMENTS;
each takes (config, params) and returns tidy tables (one row per observation).

Every random draw comes from attnlab.rng keyed by the task's parts (``rng.torch_generator(config.seed,
"train", n, s)``, ARPACK start vectors from ``rng.derive_seed(config.seed, "arpack", ...)``), so a task depends
only on (config, task params).  All tensors are float64.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import torch

from ... import rng
from ...study import Experiments, Task
from . import curvature, data, theory
from .models import ModelSpec, attention_mass, loss_fn, phi_flat
from .train import gd, gd_linearized, make_init, risk

DT = torch.float64
EXPERIMENTS = Experiments()


def tasks(config) -> list:
    """Every task of a run: Task.of(kind, key, **params); the larger ones first (better packing)."""
    t = []
    for s in range(config.seeds):
        for eta in config.etas:
            t.append(Task.of("rates", f"rates-eta{eta:g}-s{s}", eta=eta, seed=s))
    for H in sorted(config.H_wc, reverse=True):
        for s in range(config.seeds):
            t.append(Task.of("wc", f"wc-H{H}-s{s}", H=H, seed=s))
    for sigma in _gen_sigmas(config):
        for n in sorted(config.ns, reverse=True):
            for s in range(config.gen_seeds):
                t.append(Task.of("gen", f"gen-sigma{sigma:g}-n{n}-s{s}", n=n, seed=s, protocol="fixed_K",
                                 sigma=sigma))
    for n in sorted(config.ns, reverse=True):
        for s in range(config.testrate_seeds):
            t.append(Task.of("gen", f"testrate-n{n}-s{s}", n=n, seed=s, protocol="K_prop_n",
                             sigma=config.gen_sigma))
    for H in sorted(config.H_lazy, reverse=True):
        for s in range(config.seeds):
            t.append(Task.of("lazy", f"lazy-H{H}-s{s}", H=H, seed=s))
    for H in sorted(config.H_ntk, reverse=True):
        for z in config.zetas:
            for s in range(config.seeds):
                t.append(Task.of("ntk", f"ntk-H{H}-z{z:g}-s{s}", H=H, zeta=z, seed=s))
    for init in config.inits:
        for ie in (config.init_etas if init != "P0" else (0.0,)):
            for s in range(config.init_seeds):
                t.append(Task.of("init", f"init-{init}-eta{ie:g}-s{s}", init=init, init_eta=ie, seed=s))
    top = max(config.init_etas)
    for n in config.init_ns:                         # the same comparison at other training-set sizes
        for init in config.inits:
            ie = top if init != "P0" else 0.0
            for s in range(config.init_seeds):
                t.append(Task.of("init", f"init-{init}-eta{ie:g}-n{n}-s{s}", init=init, init_eta=ie, seed=s, n=n))
    if config.init_step_n:                           # the one step taken on an independent sample
        for init in (i for i in config.inits if i != "P0"):
            for s in range(config.init_seeds):
                t.append(Task.of("init", f"init-{init}-eta{top:g}-step{config.init_step_n}-s{s}", init=init,
                                 init_eta=top, seed=s, step_n=config.init_step_n))
    for W0 in config.W0_curv:
        for H in sorted(config.H_curv, reverse=True):
            t.append(Task.of("curv", f"curv-W{W0:g}-H{H}", H=H, W0=W0))
    return t


def _gen_sigmas(config) -> list[float]:
    """The token noise of the fixed-K generalization runs: gen_sigma (stability form) and gen_sigma_separable
    (the 1/n rate), once each."""
    return sorted({float(config.gen_sigma), float(config.gen_sigma_separable)}, reverse=True)


def _data(config, n, *keys, zeta=None, sigma=None):
    changes = {} if zeta is None else {"zeta": zeta}
    if sigma is not None:
        changes["sigma"] = sigma
    spec = data.MixtureSpec.from_config(config, **changes)
    X, y, _ = data.sample(spec, n, rng.torch_generator(config.seed, *keys), device=config.device)
    return X, y


def _test_set(config, n_test, zeta=None, sigma=None):
    """One fixed test set per run and noise level (independent of the training seeds)."""
    return _data(config, n_test, "test", n_test, sigma, zeta=zeta, sigma=sigma)


def _eval(theta, X, y, spec, loss, chunk=2000):
    """(test loss, 0-1 error, Phi) on a large set, in chunks."""
    outs = [phi_flat(theta, X[s:s + chunk], spec).detach() for s in range(0, X.shape[0], chunk)]
    f = torch.cat(outs)
    return float(loss_fn(y * f, loss).mean()), float((y * f <= 0).double().mean()), f


def _beta2(theta, X, spec, iters, gen, method="autograd") -> float:
    """sqrt(H) max_i ||hess Phi(theta; X_i)|| (the constant of the weak-convexity lemma at theta)."""
    return math.sqrt(spec.H) * float(curvature.hessian_norms(theta, X, spec, iters, gen, method).max())


# ---- claim 1 -------------------------------------------------------------------------------------------------
@EXPERIMENTS.register("curv")
def curvature_vs_heads(config, params) -> dict:
    """||grad Phi|| and ||hess Phi|| at theta0 for one X per sample (config.seeds samples)."""
    H, W0 = int(params["H"]), float(params["W0"])
    spec = ModelSpec.from_config(config, H)
    rows = []
    for s in range(config.seeds):
        X, y = _data(config, 1, "curv", s)
        gen = rng.torch_generator(config.seed, "curv-init", H, W0, s)
        theta0 = make_init(config, spec, X, y, gen, W0_scale=W0)
        g = float(curvature.ntk_features(theta0, X, spec).norm())
        h = float(curvature.hessian_norms(theta0, X, spec, config.power_iters, gen, config.hvp)[0])
        rows.append(dict(H=H, seed=s, init=f"W0={W0:g}", W0_scale=W0, grad_norm=g, hessian_norm=h,
                         sqrtH_hessian_norm=math.sqrt(H) * h))
    return {"curvature": pd.DataFrame(rows)}


# ---- claim 2 -------------------------------------------------------------------------------------------------
@EXPERIMENTS.register("wc")
def weak_convexity(config, params) -> dict:
    """lambda_min(hess L^) along GD; kappa = -lambda_min sqrt(H) / L^ vs the lemma's constant at theta_k."""
    H, s = int(params["H"]), int(params["seed"])
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, config.n, "train", s)
    gen = rng.torch_generator(config.seed, "init", H, s)
    theta0 = make_init(config, spec, X, y, gen)
    ks = sorted(set(config.K_wc))
    res = gd(theta0, X, y, spec, config.eta, max(ks), checkpoints=ks, loss=config.loss,
             train_U=config.train_U, keep=ks)
    rows = []
    for rec in res.records:
        th = res.thetas[rec["K"]]
        lmin = curvature.risk_lambda_min(th, X, y, spec, config.loss, method=config.hvp,
                                         v0_seed=rng.derive_seed(config.seed, "arpack", H, s, rec["K"]))
        b2 = _beta2(th, X, spec, config.power_iters, gen, config.hvp)
        rows.append(dict(H=H, seed=s, K=rec["K"], train_loss=rec["train_loss"], lambda_min=lmin,
                         kappa=-lmin * math.sqrt(H) / rec["train_loss"], beta2=b2,
                         distance_from_init=rec["distance_from_init"]))
    return {"weak_convexity": pd.DataFrame(rows)}


# ---- claims 3-5 ------------------------------------------------------------------------------------------------
@EXPERIMENTS.register("rates")
def rates(config, params) -> dict:
    """GD at H = H_rates and step eta: L^ and ||theta_K - theta0|| at the K_rates checkpoints.  At the
    smallest eta the same run also gives the bound of claim 4 (NTK SVM at theta0, lambda on a 0.5 grid)."""
    eta, s = float(params["eta"]), int(params["seed"])
    H = config.H_rates
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, config.n, "train", s)
    gen = rng.torch_generator(config.seed, "init", H, s)
    theta0 = make_init(config, spec, X, y, gen)
    J = curvature.ntk_features(theta0, X, spec)
    G = float(J.norm(dim=1).max())
    b2 = _beta2(theta0, X, spec, config.power_iters, gen, config.hvp)
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
@EXPERIMENTS.register("lazy")
def lazy(config, params) -> dict:
    """Phi and its linearization trained by the same GD; mean |Phi_K - Phi_lin_K| on held-out data."""
    H, s = int(params["H"]), int(params["seed"])
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, config.n, "train", s)
    Xt, yt = _test_set(config, min(config.n_test, 500))
    gen = rng.torch_generator(config.seed, "init", H, s)
    theta0 = make_init(config, spec, X, y, gen)
    res = gd(theta0, X, y, spec, config.eta, config.K_lazy, checkpoints=(config.K_lazy,), loss=config.loss,
             train_U=config.train_U)
    J = curvature.ntk_features(theta0, X, spec)
    phi0 = phi_flat(theta0, X, spec).detach()
    mask = None
    if not config.train_U:
        mask = torch.ones(J.shape[1], dtype=DT)
        mask[: spec.n_U] = 0
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
@EXPERIMENTS.register("ntk")
def ntk(config, params) -> dict:
    """NTK margin at theta0 (full and U-only features) and, at the config's zeta, the realizability
    construction theta_bar = theta0 + lambda theta*, lambda = 2 (log K + B0) / gamma."""
    H, zeta, s = int(params["H"]), float(params["zeta"]), int(params["seed"])
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, config.n, "train", s, zeta=zeta)
    gen = rng.torch_generator(config.seed, "init", H, s)
    theta0 = make_init(config, spec, X, y, gen)
    J = curvature.ntk_features(theta0, X, spec)
    nU = spec.n_U
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
        b2 = _beta2(theta0, X, spec, config.power_iters, gen, config.hvp)
        out["realizability"] = pd.DataFrame([dict(
            H=H, K=K, seed=s, construction="theory", gamma=gamma, **{"lambda": lam}, min_margin=m,
            lin_margin=m_lin, target_margin=math.log(K), remainder=remainder,
            remainder_bound=b2 * lam ** 2 / (2 * math.sqrt(H)), B0=B0, beta2=b2,
            H_sufficient=theory.heads_sufficient(b2, K, B0, gamma) if gamma > 0 else math.nan)])
    return out


# ---- claims 9-10 -----------------------------------------------------------------------------------------------
@EXPERIMENTS.register("gen")
def generalization(config, params) -> dict:
    """Train on n examples; test on one fixed large test set (per token noise sigma).  protocol "fixed_K":
    H_gen, K_gen (claim 9, at gen_sigma and gen_sigma_separable); "K_prop_n": H_testrate, K = K_per_n * n
    (claim 10)."""
    n, s, protocol = int(params["n"]), int(params["seed"]), str(params["protocol"])
    sigma = float(params.get("sigma", config.gen_sigma))
    H, K = (config.H_gen, config.K_gen) if protocol == "fixed_K" else (config.H_testrate, config.K_per_n * n)
    spec = ModelSpec.from_config(config, H)
    X, y = _data(config, n, "gen", protocol, sigma, n, s, sigma=sigma)
    Xt, yt = _test_set(config, config.gen_n_test, sigma=sigma)
    gen = rng.torch_generator(config.seed, "gen-init", protocol, sigma, n, s)
    theta0 = make_init(config, spec, X, y, gen)
    ks = sorted(set([0, K] + [int(k) for k in np.unique(np.geomspace(1, K, 6).astype(int))]))
    res = gd(theta0, X, y, spec, config.eta, K, checkpoints=(K,), loss=config.loss, train_U=config.train_U,
             keep=ks)
    G_max = max(float(curvature.ntk_features(th, X, spec).norm(dim=1).max()) for th in res.thetas.values())
    J0 = curvature.ntk_features(theta0, X, spec)
    gamma, _ = theory.svm_dual_margin((J0 @ J0.T).numpy(), y.numpy())     # the margin in O~(1/(gamma^2 n))
    test_loss, test_err, _ = _eval(res.theta, Xt, yt, spec, config.loss)
    train_loss = res.records[-1]["train_loss"]
    row = dict(H=H, n=n, K=K, seed=s, protocol=protocol, eta=config.eta, sigma=sigma, train_loss=train_loss,
               test_loss=test_loss, test_error=test_err, gap=test_loss - train_loss, sum_loss=res.sum_loss,
               G_max=G_max, gamma=gamma, stability_proxy=theory.stability_proxy(G_max, config.eta, n, res.sum_loss),
               monotone=res.monotone)
    return {"generalization": pd.DataFrame([row])}


# ---- the tokenized-mixture initialization result (brief §5c, issue 15 item 7) ------------------------------------
@EXPERIMENTS.register("init")
def initialization(config, params) -> dict:
    """P0 against the one-step initializations P1 / P2 on the same training set and the same U draw (paired by
    seed), at H = H_init and the one-step W-step size init_eta (0 for P0): the NTK margin gamma at theta0 (the
    margin of the realizability construction), B0, the realizability radius g(1/K) = 2 (log K + B0) / gamma
    (brief §4e), the attention mass on the relevant tokens at theta0, and the training / test loss after K_init
    GD steps of size eta.

    Optional params: ``n`` (training-set size, default config.n) and ``step_n`` (> 0: the one step's gradient is
    taken on an independent sample of that size, key ("init-step", step_n, seed), while GD still trains on the n
    examples; 0: on the training set).  Rows at (config.n, step_n = 0) go to table ``initialization`` (the claims);
    the others to ``init_sample`` (the sample-size finding)."""
    init, s, init_eta = str(params["init"]), int(params["seed"]), float(params.get("init_eta", 0.0))
    n, step_n = int(params.get("n", config.n)), int(params.get("step_n", 0))
    cfg = dataclasses.replace(config, init=init, init_eta=init_eta if init != "P0" else config.init_eta)
    H, K = config.H_init, config.K_init
    spec = ModelSpec.from_config(cfg, H)
    mix = data.MixtureSpec.from_config(cfg)
    X, y, relevant = data.sample(mix, n, rng.torch_generator(config.seed, "train", n, s))
    Xt, yt = _test_set(config, config.n_test)
    Xs, ys = X, y
    if step_n:
        Xs, ys, _ = data.sample(mix, step_n, rng.torch_generator(config.seed, "init-step", step_n, s))
    theta0 = make_init(cfg, spec, Xs, ys, rng.torch_generator(config.seed, "init", H, s))
    J = curvature.ntk_features(theta0, X, spec)
    gamma, _ = theory.svm_dual_margin((J @ J.T).numpy(), y.numpy())
    B0 = float(phi_flat(theta0, X, spec).detach().abs().max())
    attn = float(attention_mass(theta0, X, relevant, spec))
    res = gd(theta0, X, y, spec, config.eta, K, checkpoints=(0, K), loss=config.loss, train_U=config.train_U)
    test_loss, test_err, _ = _eval(res.theta, Xt, yt, spec, config.loss)
    row = dict(init=init, init_eta=init_eta, n=n, step_n=step_n, H=H, K=K, seed=s, gamma=gamma, B0=B0,
               radius=theory.realizability_lambda(K, B0, gamma) if gamma > 0 else math.inf,
               attn_relevant=attn, attn_uniform=mix.k / mix.T, train_loss_0=res.records[0]["train_loss"],
               train_loss=res.records[-1]["train_loss"], test_loss=test_loss, test_error=test_err,
               distance_from_init=res.records[-1]["distance_from_init"])
    table = "initialization" if (n == config.n and step_n == 0) else "init_sample"
    return {table: pd.DataFrame([row])}
