"""Unit tests of the gd-heads study: data, batched model vs loops, gradients/Hessians vs brute force,
the SVM margin vs brute force, theory formulas, config validation, and every claim check on a table where it
must pass and one where it must fail."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from attnlab import rng
from attnlab.claims import evaluate
from attnlab.config import build_config
from attnlab.errors import ConfigError, DivergenceError
from attnlab.studies.gd_heads import claims as C
from attnlab.studies.gd_heads import curvature, data, models, theory, train
from attnlab.studies.gd_heads.analysis import analyze
from attnlab.studies.gd_heads.config import PRESETS, GDHeadsConfig

DT = torch.float64


def _tiny(H=2, T=3, d=4, readout="full", W0=0.5, seed=0, n=5, normalization="softmax"):
    spec = models.ModelSpec(H=H, T=T, d=d, readout=readout, normalization=normalization)
    g = torch.Generator().manual_seed(seed)
    U, W = models.init_params(spec, g, W0_scale=W0)
    X = torch.randn(n, T, d, generator=g, dtype=DT)
    y = torch.tensor([1.0, -1.0] * n, dtype=DT)[:n]
    return spec, U, W, X, y


# ---- data ----------------------------------------------------------------------------------------------------
def test_mixture_structure_and_determinism():
    spec = data.MixtureSpec(T=8, d=16, zeta=0.25, M=4, sigma=0.0)
    X, y, rel = data.sample(spec, 50, torch.Generator().manual_seed(1))
    assert X.shape == (50, 8, 16) and y.shape == (50,) and rel.shape == (50, 8)
    assert (rel.sum(1) == 2).all()
    mu_p, mu_m, nu = data.means(spec)
    sig = torch.where((y > 0)[:, None, None], mu_p, mu_m).expand(50, 8, 16)
    assert torch.equal(X[rel], sig[rel])                      # relevant tokens = mu_y exactly at sigma = 0
    noise_rows = X[~rel]
    assert torch.allclose((noise_rows[:, None, :] == nu[None]).all(-1).sum(1).double(), torch.ones(len(noise_rows), dtype=DT))
    X2, y2, _ = data.sample(spec, 50, torch.Generator().manual_seed(1))
    assert torch.equal(X, X2) and torch.equal(y, y2)
    assert not torch.equal(data.sample(spec, 50, rng.torch_generator(0, "a"))[0],
                           data.sample(spec, 50, rng.torch_generator(0, "b"))[0])


def test_mixture_variants():
    spec = data.MixtureSpec(sigma=0.5, noise="truncated", antipodal=True, fixed_positions=True)
    X, y, rel = data.sample(spec, 200, torch.Generator().manual_seed(0))
    assert rel[:, :spec.k].all() and not rel[:, spec.k:].any()
    mu_p, mu_m, _ = data.means(spec)
    assert torch.equal(mu_m, -mu_p)
    z = X[rel] - torch.where((y > 0)[:, None, None], mu_p, mu_m).expand_as(X)[rel]
    assert float(z.norm(dim=-1).max()) <= 2 * 0.5 * math.sqrt(spec.d) + 1e-12


# ---- model ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("H", [1, 3, 8])
def test_batched_heads_match_loop(H):
    spec, U, W, X, y = _tiny(H=H, T=5, d=6, n=7)
    assert torch.allclose(models.phi(U, W, X, spec), models.phi_loop(U, W, X, spec), atol=1e-12)


def test_single_query_and_per_example_match_naive():
    spec, U, W, X, y = _tiny(H=3, T=4, d=5, readout="single_query", n=6)
    naive = torch.zeros(6, dtype=DT)
    for i in range(6):
        for h in range(3):
            p = torch.softmax(X[i, 0] @ W[h] @ X[i].T, 0)            # (T,) first row of X W X^T
            naive[i] += U[h] @ (X[i].T @ p)
    assert torch.allclose(models.phi(U, W, X, spec), naive / math.sqrt(3), atol=1e-12)
    Uc, Wc = U.expand((6,) + U.shape), W.expand((6,) + W.shape)
    assert torch.allclose(models.phi(Uc, Wc, X, spec, per_example=True), naive / math.sqrt(3), atol=1e-12)


def test_paired_init_gives_zero_output():
    spec = models.ModelSpec(H=6, T=4, d=5)
    U, W = models.init_params(spec, torch.Generator().manual_seed(0), W0_scale=0.3, paired=True)
    X = torch.randn(9, 4, 5, dtype=DT)
    assert float(models.phi(U, W, X, spec).abs().max()) < 1e-12


def test_ntk_features_match_autograd_and_finite_differences():
    spec, U, W, X, y = _tiny(H=3, T=3, d=4, n=4)
    theta = models.pack(U, W)
    J = curvature.ntk_features(theta, X, spec)
    for i in range(4):
        th = theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(models.phi_flat(th, X[i:i + 1], spec)[0], th)
        assert torch.allclose(J[i], g, atol=1e-12)
    eps, e = 1e-6, torch.zeros_like(theta)
    for j in (0, 5, theta.numel() - 1):
        e.zero_(); e[j] = eps
        fd = (models.phi_flat(theta + e, X, spec) - models.phi_flat(theta - e, X, spec)) / (2 * eps)
        assert torch.allclose(J[:, j], fd, atol=1e-7)


@pytest.mark.parametrize("W0", [0.0, 0.7])
def test_hessian_norm_power_iteration_matches_full_hessian(W0):
    spec, U, W, X, y = _tiny(H=2, T=3, d=3, n=3, W0=W0)
    theta = models.pack(U, W)
    est = curvature.hessian_norms(theta, X, spec, iters=120, generator=torch.Generator().manual_seed(0))
    for i in range(3):
        Hd = curvature.phi_hessian_dense(theta, X[i:i + 1], spec)
        exact = float(torch.linalg.eigvalsh(Hd).abs().max())
        assert est[i] == pytest.approx(exact, rel=1e-3)


def test_hessian_is_block_diagonal_over_heads():
    """||hess Phi|| = max_h ||hess f_h|| / sqrt(H): the identity behind the H^-1/2 law."""
    spec, U, W, X, y = _tiny(H=3, T=3, d=3, n=1, W0=0.4)
    Hd = curvature.phi_hessian_dense(models.pack(U, W), X, spec)
    full = float(torch.linalg.eigvalsh(Hd).abs().max())
    per_head = []
    for h in range(3):
        s1 = models.ModelSpec(H=1, T=3, d=3)
        Hh = curvature.phi_hessian_dense(models.pack(U[h:h + 1], W[h:h + 1]), X, s1)
        per_head.append(float(torch.linalg.eigvalsh(Hh).abs().max()))
    assert full == pytest.approx(max(per_head) / math.sqrt(3), rel=1e-10)


def test_risk_lambda_min_matches_dense():
    spec, U, W, X, y = _tiny(H=2, T=3, d=3, n=6, W0=0.5)
    theta = models.pack(U, W)
    lm = curvature.risk_lambda_min(theta, X, y, spec, tol=1e-10)
    exact = float(torch.linalg.eigvalsh(curvature.risk_hessian_dense(theta, X, y, spec)).min())
    assert lm == pytest.approx(exact, rel=1e-6, abs=1e-10)


def test_weak_convexity_lemma_holds_exactly_on_tiny_model():
    """-lambda_min(hess L^) <= L^ max_i ||hess Phi_i|| (|l'| <= l): exact linear algebra, no tolerance tuning."""
    for seed in range(3):
        spec, U, W, X, y = _tiny(H=2, T=3, d=3, n=6, W0=1.0, seed=seed)
        theta = models.pack(U, W)
        L = float(train.risk(theta, X, y, spec))
        lmin = float(torch.linalg.eigvalsh(curvature.risk_hessian_dense(theta, X, y, spec)).min())
        hmax = max(float(torch.linalg.eigvalsh(curvature.phi_hessian_dense(theta, X[i:i + 1], spec)).abs().max())
                   for i in range(6))
        assert -lmin <= L * hmax + 1e-12


# ---- training ------------------------------------------------------------------------------------------------
def test_gd_decreases_loss_and_linearization_agrees_for_one_step():
    spec, U, W, X, y = _tiny(H=4, T=3, d=4, n=8, W0=0.0)
    theta = models.pack(U, W)
    r = train.gd(theta, X, y, spec, eta=0.5, K=20, checkpoints=(0, 20))
    assert r.records[1]["train_loss"] < r.records[0]["train_loss"] and r.monotone
    r1 = train.gd(theta, X, y, spec, eta=0.5, K=1)
    J = curvature.ntk_features(theta, X, spec)
    delta = train.gd_linearized(J, models.phi_flat(theta, X, spec).detach(), y, eta=0.5, K=1)
    assert torch.allclose(r1.theta - theta, delta, atol=1e-12)


def test_divergence_raises():
    spec, U, W, X, y = _tiny(H=2, T=3, d=4, n=4, W0=1.0)
    with pytest.raises(DivergenceError):
        train.gd(models.pack(U, W) * 30, X, y, spec, eta=1e6, K=50, loss="exponential")


def test_one_step_inits_run_and_P2_aligns_U():
    cfg = GDHeadsConfig(init="P2")
    spec = models.ModelSpec.from_config(cfg, 4)
    X, y, _ = data.sample(data.MixtureSpec(sigma=0.0), 64, torch.Generator().manual_seed(0))
    th = train.make_init(cfg, spec, X, y, torch.Generator().manual_seed(1))
    U, W = models.unpack(th, spec)
    direction = torch.zeros(cfg.d, dtype=DT); direction[0], direction[1] = 1, -1
    cos = torch.nn.functional.cosine_similarity(U.reshape(-1, cfg.d), direction[None], dim=1)
    # rows align with mu_+ - mu_- up to the class-imbalance component along the noise means
    assert float(cos.min()) > 0.8 and float(W.abs().max()) > 0
    cfg1 = GDHeadsConfig(init="P1")
    th1 = train.make_init(cfg1, spec, X, y, torch.Generator().manual_seed(1))
    assert float(models.unpack(th1, spec)[1].abs().max()) > 0


# ---- theory --------------------------------------------------------------------------------------------------
def test_svm_margin_matches_brute_force_in_2d():
    rng = np.random.default_rng(0)
    Xf = rng.normal(size=(30, 2)); y = np.sign(Xf @ np.array([1.0, 0.4]))
    Xf += 0.3 * y[:, None] * np.array([1.0, 0.4])                 # separable through the origin
    gamma, c = theory.svm_dual_margin(Xf @ Xf.T, y)
    ang = np.linspace(0, 2 * np.pi, 200001)
    w = np.stack([np.cos(ang), np.sin(ang)], 1)
    brute = ((y[:, None] * (Xf @ w.T)).min(0)).max()
    assert gamma == pytest.approx(brute, rel=1e-5)   # the angle grid resolves the optimum to ~1e-6
    assert np.linalg.norm(Xf.T @ c) == pytest.approx(1.0, rel=1e-9)


def test_uniform_attention_margin_formula_equals_svm_at_sigma0():
    cfg = GDHeadsConfig(sigma=0.0)
    for zeta in (0.25, 0.5):
        spec = models.ModelSpec.from_config(cfg, 4)
        X, y, _ = data.sample(data.MixtureSpec(zeta=zeta, sigma=0.0), 60, torch.Generator().manual_seed(3))
        U, W = models.init_params(spec, torch.Generator().manual_seed(0))
        J = curvature.ntk_features(models.pack(U, W), X, spec)[:, :U.numel()]
        g, _ = theory.svm_dual_margin((J @ J.T).numpy(), y.numpy())
        assert g == pytest.approx(theory.uniform_attention_margin(zeta, 1.0, 8), rel=1e-5)


def test_logistic_is_self_bounded():
    t = np.linspace(-30, 30, 2001)
    l = theory.logistic(t)
    d1 = -1 / (1 + np.exp(t))
    d2 = np.exp(t) / (1 + np.exp(t)) ** 2
    assert (np.abs(d1) <= l + 1e-15).all() and (d2 <= l + 1e-15).all() and (d2 <= 0.25 + 1e-15).all()


def test_realizability_formulas():
    lam = theory.realizability_lambda(1000, 0.5, 0.4)
    assert lam == pytest.approx(2 * (math.log(1000) + 0.5) / 0.4)
    assert theory.heads_sufficient(1.0, 1000, 0.5, 0.4) == pytest.approx((lam / 0.4) ** 2)
    assert theory.training_bound(0.01, 4.0, 2.0, 10) == pytest.approx(0.02 + 0.2)


# ---- config --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value", [("zeta", 1.5), ("d", 4), ("normalization", "nope"), ("readout", "x"),
                                         ("H_curv", (4,)), ("eta", -1.0), ("gen_seeds", 1), ("sigma", -0.1)])
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ConfigError) as e:
        build_config(GDHeadsConfig, PRESETS, "smoke", {field: value})
    assert e.value.field == field


def test_presets_validate():
    for p in PRESETS:
        build_config(GDHeadsConfig, PRESETS, p)


# ---- claims on synthetic tables ----------------------------------------------------------------------------
CFG = GDHeadsConfig()
RNG = np.random.default_rng(0)


def _noise(n, s=0.02):
    return np.exp(RNG.normal(0, s, n))


def _curv(p):
    H = np.repeat([1, 4, 16, 64, 256], 3)
    return {"curvature": pd.DataFrame(dict(H=H, init="W0=0", W0_scale=0.0, grad_norm=1.5 * _noise(15),
                                          hessian_norm=0.7 * H ** p * _noise(15)))}


def _wc(p, over=1.0):
    rows = []
    for H in (4, 16, 64):
        for K, L in ((0, 0.69), (10, 0.3), (100, 0.05)):
            for s in range(3):
                lm = -0.5 * L * H ** p * _noise(1)[0]
                rows.append(dict(H=H, K=K, seed=s, train_loss=L, lambda_min=lm, kappa=-lm * math.sqrt(H) / L,
                                 beta2=0.8 / over))
    return {"weak_convexity": pd.DataFrame(rows)}


def _rates(p):
    rows = [dict(H=16, eta=e, K=K, seed=s, train_loss=3 * (e * K) ** p * _noise(1)[0],
                 distance_from_init=np.log(K) * 2 + s * 0.01, monotone=True) for e in (1, 4, 16)
            for K in (10, 30, 100, 300, 1000)
            for s in range(3)]
    return {"rates": pd.DataFrame(rows)}


def _dist(power):
    rows = [dict(H=16, eta=1.0, K=K, seed=s, train_loss=1 / K, distance_from_init=(K ** power if power else np.log(K))
                 * (1 + 0.01 * s), monotone=True) for K in (10, 100, 1000) for s in range(3)]
    return {"rates": pd.DataFrame(rows)}


def _lazy(p):
    H = np.repeat([1, 4, 16, 64], 2)
    return {"lazy": pd.DataFrame(dict(H=H, test_dev=0.5 * H ** p * _noise(8), train_loss=0.01, train_loss_lin=0.012))}


def _real(p, top_margin):
    rows = [dict(H=H, K=1000, seed=s, construction="theory", min_margin=top_margin if H == 64 else 2.0,
                 target_margin=math.log(1000), remainder=5 * H ** p * _noise(1)[0], H_sufficient=1e4)
            for H in (1, 4, 16, 64) for s in range(3)]
    return {"realizability": pd.DataFrame(rows)}


def _margins(p, ratio=2.0, excess=0.0):
    rows = [dict(H=H, zeta=z, seed=s, gamma=0.4 * (ratio if z == 0.5 else 1) * H ** p * _noise(1)[0],
                 gamma_U_sigma0=theory.uniform_attention_margin(z, 1, 8) * (1 + excess),
                 gamma_U_theory=theory.uniform_attention_margin(z, 1, 8))
            for H in (1, 4, 16, 64) for z in (0.25, 0.5) for s in range(3)]
    return {"margins": pd.DataFrame(rows)}


def _gen(p, proxy=10.0):
    rows = [dict(protocol=pr, sigma=sig, n=n, K=5 * n if pr == "K_prop_n" else 500, seed=s, eta=1.0,
                 gap=2 * n ** p * _noise(1, 0.05)[0], stability_proxy=proxy, sum_loss=20.0, gamma=0.3,
                 train_loss=0.01, test_loss=3 * n ** p * _noise(1, 0.05)[0])
            for pr, sig in (("fixed_K", CFG.gen_sigma), ("fixed_K", CFG.gen_sigma_separable), ("K_prop_n", CFG.gen_sigma))
            for n in (25, 50, 100, 200, 400) for s in range(5)]
    return {"generalization": pd.DataFrame(rows)}


def _init(d_gamma, d_train, d_test):
    rows = []
    for s in range(4):
        base = dict(H=16, K=100, seed=s, B0=1.0, radius=20.0, attn_relevant=0.25, attn_uniform=0.25, train_loss_0=0.6,
                    test_error=0.0, distance_from_init=5.0)
        e = 0.01 * RNG.normal()
        rows.append(dict(base, init="P0", init_eta=0.0, gamma=0.4, train_loss=0.04, test_loss=0.05))
        for init in ("P1", "P2"):
            rows.append(dict(base, init=init, init_eta=1e4, gamma=0.4 + d_gamma + e, train_loss=0.04 + d_train + e / 10,
                             test_loss=0.05 + d_test + e / 10))
    return {"initialization": pd.DataFrame(rows)}


@pytest.mark.parametrize("check,good,bad", [
    (C.check_hessian, _curv(-0.5), _curv(0.0)),
    (C.check_weak_convexity, _wc(-0.5), _wc(0.0)),
    (C.check_lemma, _wc(-0.5), _wc(-0.5, over=10.0)),
    (C.check_rate, _rates(-1.0), _rates(-0.4)),
    (C.check_distance, _dist(0), _dist(0.5)),
    (C.check_lazy, _lazy(-0.7), _lazy(-0.1)),
    (C.check_realizability, _real(-0.5, 8.0), _real(-0.5, 5.0)),
    (C.check_realizability, _real(-0.5, 8.0), _real(0.2, 8.0)),
    (C.check_margin, _margins(0.0), _margins(0.0, ratio=1.0)),
    (C.check_margin, _margins(0.0), _margins(0.3)),
    (C.check_U_margin_formula, _margins(0.0), _margins(0.0, excess=-0.1)),
    (C.check_gap, _gen(-1.0), _gen(-0.3)),
    (C.check_gap_stability, _gen(-1.0), _gen(-0.3)),
    (C.check_gap_stability, _gen(-1.0), _gen(-1.0, proxy=0.001)),
    (C.check_test_rate, _gen(-1.0), _gen(-0.2)),
    (C.CLAIMS[-3].check, _init(0.3, -0.01, -0.01), _init(0.0, -0.01, -0.01)),
    (C.CLAIMS[-2].check, _init(0.3, -0.01, -0.01), _init(0.3, 0.01, -0.01)),
    (C.CLAIMS[-1].check, _init(0.3, -0.01, -0.01), _init(0.3, -0.01, 0.0)),
])
def test_claim_checks_pass_and_fail(check, good, bad):
    """Every check reads analysis.py's derived tables; each passes on data that obey the law and fails on data
    that break it."""
    g, b = analyze(CFG, good), analyze(CFG, bad)
    assert check(g, CFG).passed is True, check(g, CFG).detail
    assert check(b, CFG).passed is False, check(b, CFG).detail


def test_rate_check_is_one_sided():
    """The theorem bounds the loss from above: a decay faster than 1/(eta K) passes (issue 15: slope -1.17)."""
    assert C.check_rate(analyze(CFG, _rates(-1.6)), CFG).passed is True


def test_bound_check():
    def t(L, B):
        return analyze(CFG, {"bound": pd.DataFrame(dict(K=[100, 300][:len(L)], train_loss=L, bound=B, gamma=0.4))})
    assert C.check_bound(t([0.01, 0.005], [0.5, 0.3]), CFG).passed is True
    assert C.check_bound(t([0.01, 0.5], [0.5, 0.3]), CFG).passed is False
    assert C.check_bound(t([0.01], [np.nan]), CFG).passed is False


def test_claims_undecided_without_data():
    for r in evaluate(C.CLAIMS, analyze(CFG, {}), CFG):
        assert r["status"] == "undecided" and r["detail"], r


def test_claim_kinds_and_sources():
    kinds = {c.id: c.kind for c in C.CLAIMS}
    assert kinds["weak_convexity_lemma_bound"] == kinds["uniform_attention_margin_formula"] == "consistency"
    assert all(c.source != "paper" for c in C.CLAIMS)      # the paper's text was not available (brief §1)


# ---- divergence, determinism, curvature without double backward, any registry entry (issues 12, 15, 16) --------
def test_exploding_loss_raises_divergence_error_with_step():
    """eta = 1e30 keeps the logistic loss finite (it grows linearly in the margin, or drops to 0 on separable data):
    caught as an explosion of the loss or of the distance from theta0."""
    spec, U, W, X, y = _tiny(H=2, T=3, d=4, n=4, W0=0.5)
    with pytest.raises(DivergenceError, match=r"exploded at step \d+"):
        train.gd(models.pack(U, W), X, y, spec, eta=1e30, K=50)
    with pytest.raises(DivergenceError, match=r"train_loss exploded at step \d+"):
        train.check_not_exploding("train_loss", 1e29, 0.7, step=10)


@pytest.mark.parametrize("kind,params", [("rates", {"eta": 1e30, "seed": 0}), ("wc", {"H": 2, "seed": 0}),
                                         ("lazy", {"H": 1, "seed": 0}),
                                         ("gen", {"n": 16, "seed": 0, "protocol": "fixed_K", "sigma": 0.3}),
                                         ("init", {"init": "P1", "init_eta": 1.0, "seed": 0}),
                                         ("init", {"init": "P2", "init_eta": 1e4, "seed": 0})])
def test_every_gd_experiment_fails_with_divergence_at_huge_eta(kind, params):
    from attnlab.studies.gd_heads import STUDY
    cfg = build_config(GDHeadsConfig, PRESETS, "smoke", {"eta": 1e30})
    with pytest.raises(DivergenceError, match="step"):
        STUDY.experiments[kind](cfg, params)


def test_lambda_min_is_deterministic_across_calls_and_arpack_state():
    """ARPACK's restarts draw from a state kept across calls; the Lanczos path does not depend on it."""
    from scipy.sparse.linalg import eigsh
    spec, U, W, X, y = _tiny(H=3, T=3, d=3, n=6, W0=0.5)
    theta = models.pack(U, W)
    a = curvature.risk_lambda_min(theta, X, y, spec, v0_seed=rng.derive_seed(0, "arpack", 1))
    eigsh(np.diag(np.arange(1.0, 30.0)), k=1, which="SA")          # disturb ARPACK's global state
    b = curvature.risk_lambda_min(theta, X, y, spec, v0_seed=rng.derive_seed(0, "arpack", 1))
    assert a == b
    exact = float(torch.linalg.eigvalsh(curvature.risk_hessian_dense(theta, X, y, spec)).min())
    assert a == pytest.approx(exact, rel=1e-8)


def test_weak_convexity_task_is_bit_for_bit_reproducible():
    from attnlab.studies.gd_heads import STUDY
    cfg = build_config(GDHeadsConfig, PRESETS, "smoke")
    a = STUDY.experiments["wc"](cfg, {"H": 2, "seed": 1})["weak_convexity"]
    b = STUDY.experiments["wc"](cfg, {"H": 2, "seed": 1})["weak_convexity"]
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize("normalization", ["softmax", "entmax15"])
def test_finite_difference_hvp_matches_dense_hessian(normalization):
    """The curvature path without double backward (entmax15 has none): central differences of gradients."""
    spec, U, W, X, y = _tiny(H=2, T=3, d=3, n=2, W0=0.5, normalization=normalization)
    theta = models.pack(U, W)
    fd = curvature.hessian_norms(theta, X, spec, 200, torch.Generator().manual_seed(0), method="fd")
    assert torch.isfinite(fd).all()
    if normalization == "softmax":
        exact = torch.stack([torch.linalg.eigvalsh(curvature.phi_hessian_dense(theta, X[i:i + 1], spec)).abs().max()
                             for i in range(2)])
        assert torch.allclose(fd, exact, rtol=1e-5)
        lm = curvature.risk_lambda_min(theta, X, y, spec, method="fd")
        assert lm == pytest.approx(float(torch.linalg.eigvalsh(curvature.risk_hessian_dense(theta, X, y, spec)).min()),
                                   rel=1e-5)


def test_bias_entries_get_a_learnable_per_head_bias():
    spec = models.ModelSpec(H=3, T=4, d=4, normalization="softmax1")
    assert spec.bias and spec.n_params == 3 * 4 * 4 + 3 * 16 + 3
    parts = models.init_params(spec, torch.Generator().manual_seed(0), W0_scale=0.3)
    assert len(parts) == 3 and torch.equal(parts[2], torch.zeros(3, dtype=DT))
    theta = models.pack(*parts)
    X = torch.randn(5, 4, 4, generator=torch.Generator().manual_seed(1), dtype=DT)
    J = curvature.ntk_features(theta, X, spec)
    assert J.shape == (5, spec.n_params) and float(J[:, -3:].abs().max()) > 0        # Phi depends on b
    assert not models.ModelSpec(H=3, T=4, d=4).bias


def test_run_time_registered_normalization_runs_through_the_matrix():
    from attnlab import normalizations as N
    from attnlab.studies.gd_heads import STUDY
    N.register("softmax_half", lambda s, dim, mask: torch.softmax(s / 2, dim=dim), sums_to_one=True,
               formula="softmax(s / 2)")
    try:
        m = STUDY.normalization_matrix("softmax_half", "smoke")
    finally:
        N.unregister("softmax_half")
    assert set(m) >= {"hessian_slope", "grad_slope", "ntk_margin", "train_loss"}
    assert all(math.isfinite(v) for v in m.values())


def test_entmax15_matrix_has_no_nan():
    from attnlab.studies.gd_heads import STUDY
    m = STUDY.normalization_matrix("entmax15", "smoke")
    assert m["hvp_fd"] == 1.0 and all(math.isfinite(v) for v in m.values())


# ---- the one-step inits by training-set size (finding behind one_step_init_lowers_test_loss) --------------------
def test_init_sample_tasks_route_to_their_own_table():
    from attnlab.studies.gd_heads.experiments import EXPERIMENTS, tasks

    cfg = build_config(GDHeadsConfig, PRESETS, "smoke", {"init_ns": (32,), "init_step_n": 200})
    keys = {t.key: t.params for t in tasks(cfg)}
    assert {"init-P0-eta0-n32-s0", "init-P1-eta10000-n32-s1", "init-P2-eta10000-step200-s0"} <= set(keys)
    assert not any("step" in k and "P0" in k for k in keys)       # P0 takes no step
    base = EXPERIMENTS["init"](cfg, dict(init="P1", init_eta=1e4, seed=0))["initialization"].iloc[0]
    other_n = EXPERIMENTS["init"](cfg, dict(init="P1", init_eta=1e4, seed=0, n=32))["init_sample"].iloc[0]
    step = EXPERIMENTS["init"](cfg, dict(init="P1", init_eta=1e4, seed=0, step_n=200))["init_sample"].iloc[0]
    assert (base["n"], base["step_n"], other_n["n"], step["n"], step["step_n"]) == (16, 0, 32, 16, 200)
    assert step["B0"] != base["B0"] and step["gamma"] != base["gamma"]   # another sample gave the W-step


def test_init_sample_effects_pair_with_P0_on_the_same_n():
    from attnlab.studies.gd_heads.analysis import init_sample_effects

    rows = []
    for n, p0_loss, p1_loss in ((50, 0.05, 0.06), (100, 0.04, 0.02)):
        for s in range(3):
            base = dict(H=16, K=100, seed=s, n=n, step_n=0, train_loss=0.01, test_error=0.0, gamma=0.4, B0=1.0)
            rows.append(dict(base, init="P0", init_eta=0.0, test_loss=p0_loss + 0.001 * s))
            rows.append(dict(base, init="P1", init_eta=1e4, test_loss=p1_loss + 0.001 * s))
    t = pd.DataFrame(rows)
    init = t[t["n"] == 50]
    sample = pd.concat([t[t["n"] == 100], init[init["init"] == "P1"].assign(step_n=5000, test_loss=0.03)])
    e = init_sample_effects({"initialization": init, "init_sample": sample})
    e = e[e["metric"] == "test_loss"].set_index(["n", "step_n"])["diff"]
    assert e[(100, 0)] == pytest.approx(-0.02) and e[(50, 5000)] == pytest.approx(0.03 - 0.051)


def test_cost_estimate_scales_the_gd_part_only():
    from attnlab.studies.gd_heads import cost
    from attnlab.studies.gd_heads.experiments import tasks

    cfg = build_config(GDHeadsConfig, PRESETS, "smoke", {"seeds": 2, "gen_seeds": 2, "ns": (8, 16)})
    small = cost.shortened(cfg, 10)
    assert small.K_wc == (0, 1, 2) and small.K_gen == 4 and small.K_per_n == 1 and small.K_bound == (2, 4)
    out = cost.estimate(cfg, shrink=10, report=lambda line: None)
    kinds = {t.params["kind"] for t in tasks(cfg)}
    assert set(out) == kinds | {"_total", "_longest"} and out["_total"] == pytest.approx(
        sum(v for k, v in out.items() if not k.startswith("_")), abs=0.5)
    assert all(v > 0 for k, v in out.items() if not k.startswith("_"))
