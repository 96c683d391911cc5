"""Unit tests of the `specialization` study: data, manual gradients vs autograd, engine vs a naive loop,
theory vs D-dimensional Monte Carlo, Bayes posterior vs brute force, claims that pass and fail."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from attnlab.config import build_config
from attnlab.errors import ConfigError, DivergenceError
from attnlab.studies.specialization import STUDY
from attnlab.studies.specialization import claims as C
from attnlab.studies.specialization.config import SpecializationConfig
from attnlab.studies.specialization.data import Prior, sample_batch
from attnlab.studies.specialization import analysis
from attnlab.studies.specialization.models import (ACTIVATIONS, MultiHeadSLR, attention, forward_backward,
                                                    learns_bias)
from attnlab.studies.specialization.theory import (FieldSampler, bayes_softmax_construction, drift, posterior_mean,
                                                    risk)
from attnlab.studies.specialization.train import (ChunkSampler, SGDSetup, chunk_size, init_weights,
                                                   order_parameters, run_sgd, sgd_step_reference)

FLIP = Prior.flipped((0.0,), (1.0,))


# ---- data ---------------------------------------------------------------------------------------------
def test_spiked_data_statistics():
    g = torch.Generator().manual_seed(0)
    X, y, eps, theta = sample_batch(20000, 4, 16, FLIP, 9.0, 0.0, g)
    sig = X[torch.arange(20000), eps]                       # signal tokens
    # x_eps[0] = xi + 3 theta ; label = coordinate F = 1
    m = (sig[:, 0] * theta[:, 0]).mean().item()
    assert abs(m - 3.0) < 4 * math.sqrt(1.0 / 20000)
    assert torch.equal(y, sig[:, 1])
    assert abs(eps.float().mean().item() - 1.5) < 4 * math.sqrt(1.25 / 20000)
    assert abs((theta == 1).float().mean().item() - 0.5) < 0.02


def test_max_law_location_follows_softmax():
    g = torch.Generator().manual_seed(1)
    X, y, eps, theta = sample_batch(20000, 3, 8, FLIP, 2.0, 0.0, g, location_law="max")
    # eps is the arg-max-like token: the chosen token's chi = theta . x[0] exceeds the average one
    chi = X[..., 0] * theta
    assert (chi[torch.arange(20000), eps] - chi.mean(1)).mean() > 0.5


def test_prior_validation():
    with pytest.raises(ConfigError):
        Prior.flipped((0.0,), (1.0,), p=1.5)
    with pytest.raises(ConfigError):
        Prior.gaussian((0.0, 0.0), (1.0,))
    with pytest.raises(ConfigError):
        Prior.discrete(((1.0,), (0.0,)), (0.3, 0.3))


# ---- manual gradients vs autograd --------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_backward_matches_autograd(activation):
    g = torch.Generator().manual_seed(2)
    chi = torch.randn(7, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    z = torch.randn(7, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(7, generator=g, dtype=torch.float64)
    f, r, ck, cv, cb = forward_backward(chi, z, y, activation, b)
    sigma = attention(chi, activation, b)
    loss = 0.5 * (((sigma * z).sum((-2, -1)) - y) ** 2).sum()
    gchi, gz, gb = torch.autograd.grad(loss, (chi, z, b), allow_unused=True)
    torch.testing.assert_close(ck, gchi)
    torch.testing.assert_close(cv, gz)
    if learns_bias(activation):
        torch.testing.assert_close(cb, gb)
    else:
        assert gb is None or torch.count_nonzero(gb) == 0


@pytest.mark.parametrize("activation", ["softmax", "softmax1", "bayes_softmax"])
def test_engine_matches_autograd_loop(activation):
    """run_sgd (batched, manual gradients) == a per-step autograd loop on the same data."""
    setup = SGDSetup(D=24, L=3, H=2, prior=FLIP, nu=4.0, noise=0.1, lr=0.4, activation=activation, dtype="float64")
    seeds, steps = [3, 4, 5], 48
    assert steps <= chunk_size(setup, len(seeds))
    log = run_sgd(setup, seeds, t_max=steps / setup.D, log_dt=steps / setup.D, data_seed=9)
    W, b = init_weights(setup, seeds)
    X, y = ChunkSampler(setup, len(seeds), chunk_size(setup, len(seeds)), torch.Generator().manual_seed(9)).draw()
    for s in range(steps):
        W, b = sgd_step_reference(setup, W, b, X[s], y[s])
    torch.testing.assert_close(log.W, W)
    torch.testing.assert_close(log.bias, b)


@pytest.mark.parametrize("law,value_mode", [("max", "shared"), ("spiked", "theta"), ("max", "theta")])
def test_engine_variants_match_autograd(law, value_mode):
    prior = Prior.flipped((1.0, 0.0), (0.0, 1.0))
    setup = SGDSetup(D=20, L=3, H=2, prior=prior, nu=2.0, noise=0.0, lr=0.4, activation="softmax1",
                     location_law=law, value_mode=value_mode, dtype="float64")
    steps = 20
    log = run_sgd(setup, [1, 2], t_max=steps / setup.D, log_dt=steps / setup.D, data_seed=4)
    W, b = init_weights(setup, [1, 2])
    X, y = ChunkSampler(setup, 2, chunk_size(setup, 2), torch.Generator().manual_seed(4)).draw()
    for s in range(steps):
        W, b = sgd_step_reference(setup, W, b, X[s], y[s])
    torch.testing.assert_close(log.W, W)


def test_bayes_softmax_construction_theta_values():
    prior = Prior.discrete(((1.0, 0.0), (0.0, 1.0)), (0.6, 0.4))
    fs = FieldSampler(prior, 5.0, 4, 0.0, 2000, 14, value_mode="theta").fields
    A, Q, b = bayes_softmax_construction(prior, 5.0, value_mode="theta")
    omega = fs.u @ A.T
    f = (attention(omega[..., :2], "bayes_softmax", b.expand(2000, 2)) * omega[..., 2:]).sum((-2, -1))
    torch.testing.assert_close(f, posterior_mean(fs, prior, 5.0, value_mode="theta"))


def test_module_matches_fields():
    g = torch.Generator().manual_seed(3)
    m = MultiHeadSLR(32, 3, "bayes_softmax", generator=g, dtype=torch.float64)
    X = torch.randn(5, 4, 32, generator=g, dtype=torch.float64)
    chi, z = X @ m.K.T / math.sqrt(32), X @ m.V.T / math.sqrt(32)
    ref = (attention(chi, "bayes_softmax", m.b.expand(5, 3)) * z).sum((-2, -1))
    torch.testing.assert_close(m(X), ref)


def test_divergence_raises():
    setup = SGDSetup(D=16, L=4, H=2, prior=FLIP, nu=16.0, noise=0.1, lr=500.0, activation="linear")
    with pytest.raises(DivergenceError):
        run_sgd(setup, [0, 1], t_max=40, log_dt=1, data_seed=0)


def test_run_sgd_deterministic():
    setup = SGDSetup(D=32, L=4, H=2, prior=FLIP, nu=9.0, noise=0.1, lr=0.3)
    a = run_sgd(setup, [1, 2], 2.0, 1.0, data_seed=3)
    b = run_sgd(setup, [1, 2], 2.0, 1.0, data_seed=3)
    np.testing.assert_array_equal(a.Q, b.Q)
    np.testing.assert_array_equal(a.risk, b.risk)


# ---- theory vs D-dimensional Monte Carlo ---------------------------------------------------------------------
def _structured_weights(D, H, T, gen):
    W = 0.3 * torch.randn(2 * H, D, generator=gen, dtype=torch.float64) / math.sqrt(D)
    W[0, 0] += 1.2                      # key 0 along +k*
    W[1, 0] -= 0.8                      # key 1 along -k*
    W[H:, T - 1] += 0.7                 # values along v*
    return W


@pytest.mark.parametrize("activation", ["softmax", "softmax1", "bayes_softmax"])
def test_risk_from_overlaps_matches_direct_mc(activation):
    D, H, L, nu = 48, 2, 4, 4.0
    g = torch.Generator().manual_seed(4)
    W = _structured_weights(D, H, 2, g)
    b = torch.tensor([-0.5, 0.3], dtype=torch.float64)
    X, y, _, _ = sample_batch(20000, L, D, FLIP, nu, 0.1, g)
    fields = X @ W.T
    sig = attention(fields[..., :H], activation, b.expand(20000, H))
    e = ((sig * fields[..., H:]).sum((-2, -1)) - y) ** 2
    A, Q = order_parameters(W[None], 2)
    fs = FieldSampler(FLIP, nu, L, 0.1, 20000, 5, H=H).fields
    m, se = risk(fs, A[0], Q[0], b, activation)
    assert abs(m - e.mean().item()) < 4 * math.hypot(se, e.std().item() / math.sqrt(20000))


def test_drift_matches_one_sgd_step():
    """E[Delta A] * D and E[Delta Q] * D over many replicas of one SGD step == the ODE drift."""
    D, H, L, nu, lr, R = 200, 2, 4, 1.0, 0.5, 4000
    g = torch.Generator().manual_seed(6)
    W0 = _structured_weights(D, H, 2, g).float()
    setup = SGDSetup(D=D, L=L, H=H, prior=FLIP, nu=nu, noise=0.1, lr=lr, dtype="float32")
    X, y = ChunkSampler(setup, R, 1, g).draw()
    W = W0.expand(R, -1, -1).clone()
    f = torch.bmm(X[0], W.transpose(1, 2))
    _, _, ck, cv, _ = forward_backward(f[..., :H], f[..., H:], y[0], "softmax")
    W1 = W.baddbmm(torch.cat([ck, cv], -1).transpose(1, 2), X[0], alpha=-lr / D)
    A0, Q0 = order_parameters(W0[None], 2)
    A1, Q1 = order_parameters(W1, 2)
    dA_mc, dQ_mc = (A1 - A0) * D, (Q1 - Q0) * D                     # (R, 2H, T), (R, 2H, 2H)
    fs = FieldSampler(FLIP, nu, L, 0.1, 200000, 7, H=H).fields
    dA, dQ, _, _ = drift(fs, A0[0], Q0[0], torch.zeros(H, dtype=torch.float64), "softmax", lr)
    se_A = dA_mc.std(0) / math.sqrt(R)
    se_Q = dQ_mc.std(0) / math.sqrt(R)
    assert ((dA_mc.mean(0) - dA).abs() <= 4.5 * se_A + 2e-3).all()
    assert ((dQ_mc.mean(0) - dQ).abs() <= 4.5 * se_Q + 2e-3).all()


# ---- Bayes ---------------------------------------------------------------------------------------------------
def test_posterior_discrete_matches_brute_force():
    prior = Prior.flipped((1.0, 0.0), (0.0, 1.0), p=0.3)
    nu, L = 4.0, 3
    fs = FieldSampler(prior, nu, L, 0.0, 6, 11).fields
    pts, w = prior.support()
    got = posterior_mean(fs, prior, nu)
    for n in range(6):
        num = den = 0.0
        for l in range(L):
            for j in range(2):
                # likelihood of the tokens' key coordinates given (eps=l, theta_j), up to common factors
                mean = torch.zeros(L, 2, dtype=torch.float64)
                mean[l] = math.sqrt(nu) * pts[j]
                lik = float(w[j]) * math.exp(-0.5 * float(((fs.u[n, :, :2] - mean) ** 2).sum()))
                num += lik * float(fs.u[n, l, 2])
                den += lik
        assert abs(got[n].item() - num / den) < 1e-9


def test_posterior_gaussian_matches_quadrature():
    prior = Prior.gaussian((0.3,), (0.8,))
    nu, L = 3.0, 3
    fs = FieldSampler(prior, nu, L, 0.0, 5, 12).fields
    got = posterior_mean(fs, prior, nu)
    th = torch.linspace(-8, 8, 8001, dtype=torch.float64)
    pth = torch.exp(-0.5 * ((th - 0.3) / 0.8) ** 2)
    for n in range(5):
        u = fs.u[n, :, 0]
        lik = torch.stack([torch.exp(math.sqrt(nu) * th * u[l] - nu * th ** 2 / 2) for l in range(L)])  # (L, K)
        post_l = (lik * pth).sum(1)
        ref = float((post_l / post_l.sum() * fs.u[n, :, 1]).sum())
        assert abs(got[n].item() - ref) < 1e-6


def test_bayes_softmax_construction_is_posterior_mean():
    prior = Prior.discrete(((1.0, 0.0), (0.0, 1.0), (0.5, -0.5)), (0.5, 0.3, 0.2))
    nu = 6.0
    fs = FieldSampler(prior, nu, 4, 0.0, 3000, 13).fields
    A, Q, b = bayes_softmax_construction(prior, nu)
    omega = fs.u @ A.T
    H = A.shape[0] // 2
    f = (attention(omega[..., :H], "bayes_softmax", b.expand(3000, H)) * omega[..., H:]).sum((-2, -1))
    torch.testing.assert_close(f, posterior_mean(fs, prior, nu))


def test_aligned_fits_ordered_below_bayes():
    from attnlab.studies.specialization.theory import aligned_errors, fit_aligned

    fit = FieldSampler(FLIP, 16.0, 4, 0.0, 2000, 21).fields
    test = FieldSampler(FLIP, 16.0, 4, 0.0, 4000, 22).fields
    kd = FLIP.support()[0]
    eb = ((posterior_mean(test, FLIP, 16.0) - test.y) ** 2).mean().item()
    risks = {}
    for act, bias_grid in (("softmax", None), ("softmax1", np.arange(-2.0, 12.1, 1.0))):
        best = fit_aligned(fit, kd, act, 1, "shared", np.arange(0.0, 6.1, 0.5), bias_grid, refine=False)
        risks[act] = aligned_errors(test, best["beta"] * kd, act, best["bias"], best["a"], 1, "shared").mean().item()
    assert risks["softmax"] > risks["softmax1"] > eb


# ---- config -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value", [("L", 1), ("dtype", "float16"), ("Ds", (4, 100)), ("lr", -1.0),
                                         ("train_activations", ("softmax", "relu")), ("location_law", "uniform"),
                                         ("ode_seeds", 99), ("train_H", 2), ("noise", -0.1),
                                         ("variance_ode_seeds", 99), ("variance_ode_horizon", 1.0),
                                         ("variance_ode_dt", 2.0), ("stability_samples", 4)])
def test_invalid_config_names_field(field, value):
    with pytest.raises(ConfigError) as e:
        build_config(SpecializationConfig, STUDY.presets, "smoke", {field: value})
    assert e.value.field == field


def test_tasks_unique_and_filename_safe():
    import re

    for preset in STUDY.presets:
        cfg = build_config(SpecializationConfig, STUDY.presets, preset)
        keys = [t.key for t in STUDY.tasks(cfg)]
        assert len(keys) == len(set(keys))
        assert all(re.fullmatch(r"[A-Za-z0-9_.=-]+", k) for k in keys)


def test_variance_ode_tasks_only_for_shared_values():
    """The per-feature antithetic ODE needs value_mode=shared: with theta-dependent values no such task is
    scheduled (the run does not crash; claim 5 falls back to undecided without ODE rows)."""
    shared = build_config(SpecializationConfig, STUDY.presets, "smoke")
    theta = build_config(SpecializationConfig, STUDY.presets, "smoke", {"value_mode": "theta", "student_values": "free"})
    with pytest.raises(ConfigError):          # fixed / tied student values need the one readout direction v*
        build_config(SpecializationConfig, STUDY.presets, "smoke", {"value_mode": "theta", "student_values": "fixed"})
    ode = lambda c: [t.key for t in STUDY.tasks(c) if t.key.startswith("variance-ode-")]  # noqa: E731
    assert len(ode(shared)) == 2 * len(shared.variance_Hs) * shared.variance_ode_seeds and ode(theta) == []
    with pytest.raises(ValueError):
        from attnlab.studies.specialization.experiments import run_variance_ode
        run_variance_ode(theta, "softmax", 0)


# ---- claims on synthetic tables ----------------------------------------------------------------------------------
def _act_table(softmax=(0.40, 0.34), s1=(0.33, 0.26), s1b=(0.12, 0.02), bayes=(0.10, 0.002), bs=None, se=0.02):
    rows = []
    bs = bayes if bs is None else bs
    for i, nu in enumerate((9.0, 25.0)):
        for act, r in (("bayes", bayes), ("bayes_softmax", bs), ("softmax", softmax), ("softmax1_nobias", s1),
                       ("softmax1", s1b)):
            rows.append(dict(prior="flipped", nu=nu, L=4, H=2, noise=0.0, activation=act, risk=r[i],
                             stderr=se * r[i], excess=r[i] - bayes[i], excess_stderr=se * r[i] / 2))
    return {"activations": pd.DataFrame(rows)}


def test_claims_activations_pass_and_fail():
    cfg = SpecializationConfig()
    good = _act_table()
    assert C.check_bayes_optimal(good, cfg).passed is True
    assert C.check_softmax_floor(good, cfg).passed is True
    assert C.check_softmax1(good, cfg).passed is True
    # Bayes-softmax off the Bayes risk by 10 SE; softmax falling as fast as Bayes; softmax1 worse than softmax
    assert C.check_bayes_optimal(_act_table(bs=(0.13, 0.0032)), cfg).passed is False
    assert C.check_bayes_optimal(_act_table(s1b=(0.09, 0.001)), cfg).passed is False
    assert C.check_softmax_floor(_act_table(softmax=(0.40, 0.008)), cfg).passed is False
    assert C.check_softmax1(_act_table(s1=(0.45, 0.40)), cfg).passed is False
    assert C.check_softmax1(_act_table(s1b=(0.12, 0.34)), cfg).passed is False
    from attnlab.claims import evaluate
    claim = next(c for c in C.CLAIMS if c.id == "bayes_softmax_is_bayes_optimal")
    assert claim.kind == "consistency"
    assert evaluate([claim], {}, cfg)[0]["status"] == "undecided"


def _final(tables):
    """The final tables as finalize leaves them: the task tables plus the analysis' derived tables."""
    return {**tables, **analysis.derive(tables, SpecializationConfig())}


def _dyn(experiment, traj, D=100, source="sgd", feature_count=1, risk=None):
    """traj: {seed: array (nt, H[, F])} of M values on t = 0..nt-1."""
    rows = []
    for seed, M in traj.items():
        M = np.asarray(M, float)
        if M.ndim == 2:
            M = M[..., None]
        nt, H, F = M.shape
        for k in range(nt):
            rk = risk[k] if risk is not None else 1.0
            for h in range(H):
                for f in range(F):
                    rows.append(dict(experiment=experiment, source=source, activation="softmax", D=D, seed=seed,
                                     t=float(k), risk=rk, name="M", head=h, feature=f, value=M[k, h, f]))
                rows.append(dict(experiment=experiment, source=source, activation="softmax", D=D, seed=seed,
                                 t=float(k), risk=rk, name="N", head=h, feature=0, value=0.5))
    return pd.DataFrame(rows)


def _ramp(t_exit, nt, signs=(1, -1, 1, -1), lag=(0, 1, 3, 5)):
    t = np.arange(nt)[:, None]
    return np.array(signs) * np.clip((t - t_exit - np.array(lag) + 5) / 10, 0.0, 1.0) * 0.9


def test_claim_plateau_pass_and_fail():
    cfg = SpecializationConfig(log_dt=1.0)
    rng = np.random.default_rng(0)
    def table(slope):
        frames = []
        for D in (100, 400, 1600):
            te = {s: 20 + slope * math.log(D) + rng.normal(0, 1) for s in range(6)}
            for s, t in te.items():
                risk = np.where(np.arange(80) < t, 1.0, 0.3)
                frames.append(_dyn("plateau", {s: _ramp(t, 80)}, D=D, risk=risk))
        return {"dynamics": pd.concat(frames, ignore_index=True)}
    assert C.check_plateau_log_D(_final(table(4.0)), cfg).passed is True
    assert C.check_plateau_log_D(_final(table(0.0)), cfg).passed is False
    assert C.check_plateau(_final(table(0.0)), cfg).passed is True          # plateau then both modes
    one_sign = {"dynamics": _final(table(4.0))["dynamics"].assign(value=lambda d: d["value"].abs())}
    assert C.check_plateau(_final(one_sign), cfg).passed is False           # every head in one mode


def test_claim_variance_order_pass_and_fail():
    cfg = SpecializationConfig()
    def table(first):
        traj = {}
        for s in range(10):
            t0, t1 = (10, 30) if (s < first) else (30, 10)
            M = np.zeros((50, 4, 2))
            M[:, 0, 0] = _ramp(t0, 50)[:, 0]
            M[:, 1, 1] = _ramp(t1, 50)[:, 0]
            traj[s] = M
        return {"dynamics": _dyn("variance", traj)}
    assert C.check_variance_order(_final(table(10)), cfg).passed is True
    assert C.check_variance_order(_final(table(6)), cfg).passed is False
    never = {}
    for s in range(10):
        M = np.zeros((50, 4, 2))
        M[:, 0, 0] = _ramp(10, 50)[:, 0]
        never[s] = M
    assert C.check_variance_order(_final({"dynamics": _dyn("variance", never)}), cfg).passed is None


def _stability(lam, lam_se, t2_ode=float("nan"), t2_pred=float("nan"), activation="softmax", seeds=(0, 1)):
    rows = []
    for s in seeds:
        base = dict(experiment="variance", activation=activation, D=100, seed=s, nu=16.0, H=4, t1_ode=10.0,
                    ode_horizon=100.0, relax=50.0)
        rows.append(dict(base, point="plateau", feature=0, t=5.0, lam=0.1, lam_se=0.001, lam2=0.09, residual=float("nan"),
                         m_other=0.0, t2_ode=10.0, t2_pred=float("nan")))
        rows.append(dict(base, point="plateau", feature=1, t=5.0, lam=0.025, lam_se=0.001, lam2=0.02, residual=float("nan"),
                         m_other=0.0, t2_ode=t2_ode, t2_pred=float("nan")))
        rows.append(dict(base, point="one_feature", feature=1, t=10.0, lam=lam, lam_se=lam_se, lam2=lam - 0.01,
                         residual=1e-4, m_other=0.9, t2_ode=t2_ode, t2_pred=t2_pred))
    return pd.DataFrame(rows)


def test_claim_variance_order_second_stage_decided_by_the_ode():
    """Feature 1 never reached by SGD: the ODE's one-feature stability decides [claim 5 design]."""
    cfg = SpecializationConfig()
    def table(n_first=10, n_zero=0):
        traj = {}
        for s in range(10):
            M = np.zeros((50, 4, 2))
            if s >= n_zero:
                M[:, 0, 0] = _ramp(10, 50)[:, 0]
            if s >= n_first and s >= n_zero:             # these seeds learn feature 1 first (feature 0 later)
                M[:, 0, 0] = _ramp(35, 50)[:, 0]
                M[:, 1, 1] = _ramp(10, 50)[:, 0]
            traj[s] = M
        return _dyn("variance", traj)
    # stable one-feature state (lam + 3 SE < 0 in every replica, no ODE second stage): no second stage -> FAIL
    v = C.check_variance_order(_final({"dynamics": table(), "stability": _stability(-0.013, 0.001)}), cfg)
    assert v.passed is False and "stable fixed point" in v.detail
    assert (v.value["softmax H=4 ordered"], v.value["softmax H=4 stage 2 reached"]) == (1.0, 0.0)
    # unstable (lam - 3 SE > 0): the second stage comes after the horizon; the censored order decides -> PASS
    v = C.check_variance_order(_final({"dynamics": table(), "stability": _stability(0.0065, 0.0005, t2_pred=450.0)}), cfg)
    assert v.passed is True and "450" in v.detail
    # an ODE run that reaches feature 1 (after the SGD horizon) also says the second stage exists
    v = C.check_variance_order(_final({"dynamics": table(), "stability": _stability(-0.001, 0.01, t2_ode=300.0)}), cfg)
    assert v.passed is True
    # ... but the order must still hold: 3/10 seeds learn feature 1 first -> FAIL even with an unstable state
    v = C.check_variance_order(_final({"dynamics": table(n_first=7), "stability": _stability(0.0065, 0.0005)}), cfg)
    assert v.passed is False and v.value["softmax H=4 ordered"] == 0.7
    # feature 0 not reached in 2/10 seeds -> ordered in only 8/10 -> FAIL
    assert C.check_variance_order(_final({"dynamics": table(n_zero=2), "stability": _stability(0.0065, 0.0005)}),
                                  cfg).passed is False
    # growth rate within 3 SE of zero: undecided; stability rows of another activation only: undecided
    assert C.check_variance_order(_final({"dynamics": table(), "stability": _stability(0.001, 0.001)}), cfg).passed is None
    assert C.check_variance_order(_final({"dynamics": table(), "stability": _stability(-0.013, 0.001, activation="bayes_softmax")}),
                                  cfg).passed is None


def test_variance_ode_stability_rows():
    """The variance ODE task: the unspecialized saddle is more unstable along the larger-variance feature
    (growth rates ~ Var theta_f), and the one-feature state gets a growth rate once feature 0 is reached."""
    from attnlab.studies.specialization import experiments as ex
    torch.manual_seed(0)
    cfg = build_config(SpecializationConfig, STUDY.presets, "smoke",
                       dict(variance_ode_horizon=100.0, variance_relax=20.0))
    out = ex.run_variance_ode(cfg, "softmax", 0)
    st = out["stability"]
    plat = st[st["point"] == "plateau"].set_index("feature")
    assert plat.loc[0, "lam"] > plat.loc[1, "lam"] + 3 * math.hypot(plat.loc[0, "lam_se"], plat.loc[1, "lam_se"])
    assert plat.loc[1, "lam"] > 0
    one = st[st["point"] == "one_feature"]
    assert len(one) == 1 and np.isfinite(one["lam"].iloc[0]) and np.isfinite(one["lam_se"].iloc[0])
    assert one["m_other"].iloc[0] > 0.5 and np.isfinite(one["t1_ode"].iloc[0])
    dyn = out["dynamics"]
    assert set(dyn["source"]) == {"ode"} and dyn["t"].max() == 100.0


def test_claim_even_split_pass_and_fail():
    cfg = SpecializationConfig()
    even = {s: _ramp(5, 30) for s in range(10)}
    uneven = {s: _ramp(5, 30, signs=(1, 1, 1, -1)) for s in range(10)}
    assert C.check_even_split(_final({"dynamics": _dyn("split", even)}), cfg).passed is True
    assert C.check_even_split(_final({"dynamics": _dyn("split", uneven)}), cfg).passed is False
    flat = {s: np.zeros((30, 4)) for s in range(10)}
    assert C.check_even_split(_final({"dynamics": _dyn("split", flat)}), cfg).passed is None


# the ODE claim (ode_matches_sgd) is tested in test_specialization_ode.py


def _pruning(n_ok, risks, bayes=0.02):
    """Synthetic greedy-pruning curves: risk stays at base for n_pruned <= n_ok[act], triples beyond."""
    rows = []
    for act, base in risks.items():
        for s in range(6):
            for k in range(6):
                r = (base if k <= n_ok[act] else 3 * base) + 0.001 * s
                rows.append(dict(experiment="train", activation=act, seed=s, H=6, F=2, n_pruned=k, risk=r,
                                 stderr=0.0005))
    return _final({"pruning": pd.DataFrame(rows),
                   "bayes": pd.DataFrame([dict(experiment="train", nu=16.0, L=4, noise=0.1, risk=bayes, stderr=0.001,
                                               var_y=1.0)])})


def test_claims_training_pass_and_fail():
    cfg = SpecializationConfig()
    risks = {"softmax": 0.30, "softmax1_nobias": 0.2, "softmax1": 0.06, "bayes_softmax": 0.05}
    ok = _pruning({"softmax": 0, "softmax1_nobias": 1, "softmax1": 4, "bayes_softmax": 3}, risks)
    bad = _pruning({"softmax": 0, "softmax1_nobias": 1, "softmax1": 1, "bayes_softmax": 4}, risks)
    assert C.check_pruning(ok, cfg).passed is True
    v = C.check_pruning(bad, cfg)
    assert v.passed is False and v.value["softmax1 median n_prunable"] == 1
    assert C.check_ordering(ok, cfg).passed is True
    worse = _pruning({a: 0 for a in risks}, {"softmax": 0.1, "softmax1_nobias": 0.2, "softmax1": 0.06,
                                             "bayes_softmax": 0.09})
    assert C.check_ordering(worse, cfg).passed is False
    # trained Bayes-softmax within 20 % of the Bayes risk: 0.05 vs 0.045 passes, vs 0.02 fails
    assert C.check_trained_bayes_softmax(_pruning({a: 0 for a in risks}, risks, bayes=0.045), cfg).passed is True
    assert C.check_trained_bayes_softmax(ok, cfg).passed is False


def test_greedy_pruning_removes_the_useless_head_first():
    """Greedy by loss: a head with zero value (useless) goes first; the two teacher-aligned heads go last."""
    from attnlab.studies.specialization.experiments import greedy_prune
    prior = Prior.flipped((0.0,), (1.0,))
    fs = FieldSampler(prior, 9.0, 4, 0.0, 4000, 3, H=3).fields
    A = torch.zeros(6, 2, dtype=torch.float64)
    A[0, 0], A[1, 0], A[2, 0] = 3.0, -3.0, 0.5                # keys +k*, -k*, a weak third
    A[3:, 1] = torch.tensor([1.0, 1.0, 0.0])                  # the third head's value is 0
    Q = A @ A.T
    out = greedy_prune(fs, A, Q, torch.zeros(3, dtype=torch.float64), "softmax1_nobias", 3)
    assert out[1][1] == [0, 1] and abs(out[1][2] - out[0][2]) < 1e-12
    assert out[2][2] > out[1][2]


def test_claim_excursion_pass_and_fail():
    cfg = SpecializationConfig()
    nt = 60
    t = np.arange(nt)[:, None]
    def traj(excursion):
        M = np.clip((t - 5) / 10, 0, 1) * np.array([0.9, 0.9, 0.9, -0.9])   # 3/1 at t >= 9
        if excursion:                                                    # head 2 leaves + for - at t ~ 30..40
            M[30:, 2] = 0.9 - 1.8 * np.clip((np.arange(30, nt) - 30) / 10, 0, 1)
        return M
    good = {s: traj(s < 7) for s in range(10)}
    v = C.check_excursion(_final({"dynamics": _dyn("split", good)}), cfg)
    assert v.passed is True and v.value["rearranged by excursion"] == 7 and 30 < v.value["median excursion t"] < 41
    ev = _final({"dynamics": _dyn("split", good)})["split_events"].set_index("seed")
    assert ev.loc[0, "uneven_first"] == 1 and ev.loc[0, "final_even"] == 1 and ev.loc[9, "final_even"] == 0
    bad = {s: traj(s < 3) for s in range(10)}
    assert C.check_excursion(_final({"dynamics": _dyn("split", bad)}), cfg).passed is False
    even = {s: _ramp(5, 30) for s in range(10)}
    assert C.check_excursion(_final({"dynamics": _dyn("split", even)}), cfg).passed is None


def test_every_claim_id_present():
    ids = {c.id for c in STUDY.claims()}
    assert ids == {"bayes_softmax_is_bayes_optimal", "softmax_error_floor", "softmax1_reduces_irrelevant_head_noise",
                   "unspecialized_plateau_then_staged_specialization", "plateau_length_grows_like_log_D", "specialization_order_follows_variance",
                   "even_split_between_flipped_modes", "uneven_split_rearranges_through_excursion", "ode_matches_sgd",
                   "pruning_costs_little_for_softmax1_and_bayes_softmax", "trained_bayes_softmax_reaches_bayes_risk",
                   "activation_ordering_after_training"}


def test_benchmark_quick_reports_rates():
    res = STUDY.benchmark(quick=True)
    d = res.to_json()
    for k in ("replica_steps_per_s", "baseline_steps_per_s", "rng_bound_steps_per_s", "threads"):
        assert k in d and d[k] > 0
    assert d["threads"] == 1


def test_normalization_matrix_hook():
    out = STUDY.normalization_matrix("bayes_softmax", "smoke")
    assert out["excess_nu25"] < 0.01
    assert isinstance(STUDY.normalization_matrix("nonexistent", "smoke"), str)


# ---- anatomy: one seed path, the registry reaches the study -------------------------------------------------
def test_seeds_from_the_lab_rng_without_collisions():
    """Issue 12: the old _seed joined parts without a separator (('data', 11, 1) == ('data', 1, 11))."""
    from attnlab import rng
    from attnlab.studies.specialization import experiments as ex

    assert not hasattr(ex, "_seed")
    cfg = SpecializationConfig()
    assert rng.derive_seed(cfg.seed, "plateau", "data", 11, 1) != rng.derive_seed(cfg.seed, "plateau", "data", 1, 11)
    seeds = ex.replica_seeds(cfg, "plateau", 12, 11) + ex.replica_seeds(cfg, "plateau", 12, 1)
    assert len(set(seeds)) == len(seeds)
    assert ex.replica_seeds(cfg, "plateau", 3, 100) == [rng.derive_seed(cfg.seed, "plateau", "init", 100, r)
                                                         for r in range(3)]


def test_runtime_registered_normalization_runs_through_the_study():
    from attnlab import normalizations

    def half(s, dim, mask):
        return torch.softmax(s / 2, dim=dim)

    normalizations.register("softmax_half", half, sums_to_one=True, formula="softmax(s / 2)")
    try:
        out = STUDY.normalization_matrix("softmax_half", "smoke")
        assert isinstance(out, dict) and all(math.isfinite(v) for v in out.values())
        # and it trains: the engine falls back to autograd for an entry without hand-written gradients
        setup = SGDSetup(D=16, L=3, H=2, prior=FLIP, nu=4.0, noise=0.1, lr=0.3, activation="softmax_half",
                         dtype="float64")
        log = run_sgd(setup, [1, 2], t_max=2.0, log_dt=1.0, data_seed=0)
        assert np.isfinite(log.risk[:, 1:]).all()
    finally:
        normalizations.unregister("softmax_half")


def test_float64_bias_log_is_a_copy_per_step():
    """Issue 19 bug: with dtype=float64 the logged bias was a view of the live tensor (all equal the final one)."""
    setup = SGDSetup(D=16, L=3, H=2, prior=FLIP, nu=4.0, noise=0.1, lr=0.5, activation="softmax1", dtype="float64")
    log = run_sgd(setup, [1, 2], t_max=4.0, log_dt=1.0, data_seed=0)
    assert np.all(log.b[:, 0] == 0.0)                         # t = 0: the initial bias
    assert not np.allclose(log.b[:, 1], log.b[:, -1])         # the bias moved between logs
    np.testing.assert_array_equal(log.b[:, -1], log.bias.numpy())


# ---- the student's values: free | fixed | tied (issue 19) ----------------------------------------------------
@pytest.mark.parametrize("values", ["fixed", "tied"])
@pytest.mark.parametrize("activation", ["softmax", "softmax1", "bayes_softmax"])
def test_engine_student_values_match_autograd(values, activation):
    """run_sgd's manual gradients with fixed values (keys learned) or one tied non-negative value == autograd
    on the constrained parameters, step for step; fixed values never move, tied ones stay equal and >= 0."""
    setup = SGDSetup(D=24, L=3, H=3, prior=FLIP, nu=4.0, noise=0.1, lr=0.4, activation=activation, dtype="float64",
                     student_values=values, lr_bias=0.2)
    seeds, steps = [3, 4], 40
    log = run_sgd(setup, seeds, t_max=steps / setup.D, log_dt=steps / setup.D, data_seed=9)
    W, b = init_weights(setup, seeds)
    W0 = W.clone()
    X, y = ChunkSampler(setup, len(seeds), chunk_size(setup, len(seeds)), torch.Generator().manual_seed(9)).draw()
    for s in range(steps):
        W, b = sgd_step_reference(setup, W, b, X[s], y[s])
    torch.testing.assert_close(log.W, W)
    torch.testing.assert_close(log.bias, b)
    H = setup.H
    if values == "fixed":
        assert torch.equal(log.W[:, H:], W0[:, H:])
        assert torch.allclose(log.W[:, H:, 1], torch.full_like(log.W[:, H:, 1], setup.value0()))
    else:
        vals = log.W[:, H:, 1]
        assert (vals >= 0).all() and torch.equal(vals, vals[:, :1].expand_as(vals))
        assert not torch.equal(log.W[:, H:], W0[:, H:])
        assert torch.count_nonzero(log.W[:, H:, 2:]) == 0


def test_fixed_value_scale():
    s = SGDSetup(D=24, L=3, H=4, prior=FLIP, nu=4.0, noise=0.1, lr=0.4, student_values="fixed")
    assert s.value0() == 0.25
    assert SGDSetup(**{**s.__dict__, "activation": "bayes_softmax"}).value0() == 1.0
    assert SGDSetup(**{**s.__dict__, "fixed_value": "1"}).value0() == 1.0
    with pytest.raises(ConfigError):
        SGDSetup(**{**s.__dict__, "value_mode": "theta", "prior": Prior.flipped((1.0, 0.0), (0.0, 1.0))})


@pytest.mark.parametrize("values", ["fixed", "tied"])
def test_drift_matches_one_sgd_step_constrained_values(values):
    """The ODE drift of a fixed- or tied-value student == E[one SGD step] * D (only m and r move for fixed)."""
    D, H, L, nu, lr, R = 200, 2, 4, 1.0, 0.5, 4000
    g = torch.Generator().manual_seed(6)
    setup = SGDSetup(D=D, L=L, H=H, prior=FLIP, nu=nu, noise=0.1, lr=lr, dtype="float64", student_values=values)
    W0 = _structured_weights(D, H, 2, g)
    W0[H:] = 0.0
    W0[H:, 1] = 0.4
    X, y = ChunkSampler(setup, R, 1, g).draw()
    W = W0.expand(R, -1, -1).clone()
    W1, _ = sgd_step_reference(setup, W, torch.zeros(R, H, dtype=torch.float64), X[0], y[0])
    A0, Q0 = order_parameters(W0[None], 2)
    A1, Q1 = order_parameters(W1, 2)
    dA_mc, dQ_mc = (A1 - A0) * D, (Q1 - Q0) * D
    fs = FieldSampler(FLIP, nu, L, 0.1, 200000, 7, H=H).fields
    dA, dQ, _, _ = drift(fs, A0[0], Q0[0], torch.zeros(H, dtype=torch.float64), "softmax", lr, values=values)
    se_A, se_Q = dA_mc.std(0) / math.sqrt(R), dQ_mc.std(0) / math.sqrt(R)
    assert ((dA_mc.mean(0) - dA).abs() <= 4.5 * se_A + 2e-3).all()
    assert ((dQ_mc.mean(0) - dQ).abs() <= 4.5 * se_Q + 2e-3).all()
    if values == "fixed":
        assert torch.count_nonzero(dA[H:]) == 0 and torch.count_nonzero(dQ[H:, H:]) == 0
