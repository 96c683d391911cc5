"""copy-transition: data, model, reduced posterior, samplers and theory against brute force."""
import math

import numpy as np
import pytest
import torch

from attnlab.config import build_config
from attnlab.errors import ConfigError, DivergenceError
from attnlab.studies.copy_transition import STUDY
from attnlab.studies.copy_transition import theory as th
from attnlab.studies.copy_transition.data import one_hot, sample_tokens, statistics, statistics_naive
from attnlab.studies.copy_transition.models import CopyHeads
from attnlab.studies.copy_transition.posterior import (Geometry, ReducedPosterior, attention,
                                                       order_parameters)
from attnlab.studies.copy_transition.train import mala

torch.set_num_threads(1)


def test_statistics_match_naive_loop():
    tok = sample_tokens(7, 5, 3, 0)
    np.testing.assert_allclose(statistics(tok, 3, chunk=3).numpy(), statistics_naive(tok, 3))


@pytest.mark.parametrize("boundary", ["cyclic", "drop_first", "causal"])
@pytest.mark.parametrize("att", ["softmax", "linear"])
def test_loss_from_statistics_equals_network_loss(boundary, att):
    L, V, P = 6, 4, 9
    geo = Geometry(L, boundary)
    gen = torch.Generator().manual_seed(1)
    model = CopyHeads(3, L, V, att, geo, generator=gen)
    with torch.no_grad():
        model.S.normal_(generator=gen)
    toks = [sample_tokens(P, L, V, s) for s in range(3)]
    X = CopyHeads.layout(torch.stack([one_hot(t, V) for t in toks]))
    C = torch.stack([statistics(t, V) for t in toks])
    n = torch.full((3,), float(P * geo.n_rows), dtype=torch.float64)
    direct = model.data_loss(X)
    # naive loop over sequences and target positions
    alpha = model.alpha().detach()
    naive = []
    for b in range(3):
        tot = 0.0
        for mu in range(P):
            for t in geo.rows.tolist():
                z = sum(alpha[b, t, s] * torch.eye(V, dtype=torch.float64)[toks[b][mu, s]] for s in range(L))
                y = torch.eye(V, dtype=torch.float64)[toks[b][mu, (t - 1) % L]]
                tot += 0.5 * float(((model.W[b].detach() @ z - y) ** 2).sum())
        naive.append(tot)
    np.testing.assert_allclose(direct.detach().numpy(), naive, rtol=1e-10)
    np.testing.assert_allclose(model.data_loss_stats(C, n).detach().numpy(), naive, rtol=1e-10)


def test_reduced_posterior_equals_gaussian_marginal():
    """-ln p(S|D) differences vs the marginal likelihood N(y_j; 0, kappa I + sigma_w2/V Z Z^T) built explicitly."""
    L, V, P, kappa, sw2, sa2 = 5, 3, 6, 0.7, 1.3, 0.9
    geo = Geometry(L, "cyclic")
    tok = sample_tokens(P, L, V, 3)
    C = statistics(tok, V)[None]
    post = ReducedPosterior(C, torch.tensor([[float(P * L)]]), "softmax", geo, V, kappa, sw2, sa2)
    X = one_hot(tok, V)
    g = torch.Generator().manual_seed(0)

    def brute(S):
        alpha = torch.softmax(S, -1)
        Z = torch.einsum("ts,psv->ptv", alpha, X).reshape(-1, V)
        Y = X[:, (torch.arange(L) - 1) % L].reshape(-1, V)
        K = kappa * torch.eye(len(Z), dtype=torch.float64) + sw2 / V * Z @ Z.T
        nll = 0.5 * (Y * torch.linalg.solve(K, Y)).sum() + 0.5 * V * torch.logdet(K)
        return float(nll + (S**2).sum() * L / (2 * sa2))

    S1, S2 = torch.randn(L, L, generator=g, dtype=torch.float64), torch.randn(L, L, generator=g, dtype=torch.float64)
    U = post.energy(torch.stack([S1, S2])[None])[0]
    assert float(U[0] - U[1]) == pytest.approx(brute(S1) - brute(S2), rel=1e-9, abs=1e-9)


def test_mala_samples_the_prior_without_data():
    """P = 0: the reduced posterior is the prior N(0, sigma_a2/L); sampled mean and variance within stderr."""
    L, V, sa2 = 6, 3, 2.0
    geo = Geometry(L, "cyclic")
    C = torch.zeros(1, L, L, V, V, dtype=torch.float64)
    post = ReducedPosterior(C, torch.zeros(1, 1, dtype=torch.float64), "softmax", geo, V, 1.0, 1.0, sa2)
    gen = torch.Generator().manual_seed(0)
    S0 = torch.zeros(1, 8, L, L, dtype=torch.float64)
    Ct = statistics(sample_tokens(5, L, V, 1), V)
    # collect S via the copy-logit mean: logit_gap is a linear statistic of S with known prior variance
    out = mala(post, S0, 150, 600, 5, gen, Ct, 5 * L)
    gaps = np.array([r["logit_gap"] for r in out["samples"]])
    # logit_gap = mean over L copy logits - mean over L(L-1) others: prior variance sa2/L (1/L + 1/(L(L-1)))
    var = sa2 / L * (1 / L + 1 / (L * (L - 1)))
    chains = np.array([r["chain"] for r in out["samples"]])
    chain_means = np.array([gaps[chains == c].mean() for c in range(8)])
    se = chain_means.std(ddof=1) / math.sqrt(8)
    assert abs(chain_means.mean()) <= 4 * se + 1e-3
    assert gaps.var() == pytest.approx(var, rel=0.25)
    assert 0.3 < out["accept"].mean() < 0.9


def test_mala_raises_divergence_on_nan():
    L, V = 4, 2
    geo = Geometry(L, "cyclic")
    C = torch.full((1, L, L, V, V), float("nan"), dtype=torch.float64)
    post = ReducedPosterior(C, torch.ones(1, 1, dtype=torch.float64), "softmax", geo, V, 1.0, 1.0, 1.0)
    with pytest.raises(DivergenceError):
        mala(post, torch.zeros(1, 1, L, L, dtype=torch.float64), 2, 2, 1, torch.Generator().manual_seed(0),
             statistics(sample_tokens(2, L, V, 0), V), 2 * L)


def test_order_parameters_of_the_copy_pattern():
    geo = Geometry(8, "cyclic")
    S = (geo.shift.double() * 50.0)[None]
    op = order_parameters(S, attention(S, "softmax", geo), geo)
    assert float(op["m"]) == pytest.approx(1.0, abs=1e-12)
    assert float(op["residual"]) == pytest.approx(0.0, abs=1e-12)
    S0 = torch.zeros(1, 8, 8, dtype=torch.float64)
    op0 = order_parameters(S0, attention(S0, "softmax", geo), geo)
    assert float(op0["m"]) == pytest.approx(1 / 8) and float(op0["residual"]) == pytest.approx(1 - 1 / 8)


# ---- theory ---------------------------------------------------------------------------------------------
def test_softmax_ansatz_residual_is_a_fermi_step():
    L, a = 32, np.linspace(-2, 6, 9)
    m, q = th.softmax_order_params(a, L)
    np.testing.assert_allclose(1 - m**2 / q, 1 / (1 + np.exp(2 * a) / (L - 1)), rtol=1e-12)


def test_energy_matches_finite_data_average():
    """E_data + E_Occam (order-parameter average) vs the exact finite-P reduced posterior data terms at the
    softmax ansatz, averaged over data sets: within 4 stderr (+ a 1e-3 relative finite-n allowance)."""
    L, V, P, a = 8, 4, 400, 1.2
    h = th.Hyper(V=V, L=L)
    geo = Geometry(L, "cyclic")
    S = (geo.shift.double() * a)[None, None]
    vals = []
    for seed in range(12):
        C = statistics(sample_tokens(P, L, V, seed), V)[None]
        post = ReducedPosterior(C, torch.tensor([[float(P * L)]]), "softmax", geo, V, 1.0, 1.0, 1.0)
        vals.append(float(post.energy(S)) - float((S**2).sum()) * L / 2)
    m, q = th.softmax_order_params(a, L)
    e_data, e_occam = th.energy_terms(P, m, q, 1.0, 1.0, h)
    mu, se = np.mean(vals), np.std(vals, ddof=1) / math.sqrt(len(vals))
    assert abs(mu - (e_data + e_occam)) <= 4 * se + 1e-3 * abs(mu)


def test_linear_curvature_matches_finite_difference():
    h = th.Hyper(L=16)
    for P in (5.0, 16.0, 40.0):
        x0 = th.linear_x_star_scalar(P, 0.0, h)
        eps = 1e-3
        F = lambda a: th.linear_action(P, a, x0, h)  # noqa: E731
        fd = (F(eps) + F(-eps) - 2 * F(0.0)) / eps**2
        assert th.linear_curvature(P, h) == pytest.approx(float(fd), rel=1e-4)


def test_linear_gradient_matches_finite_difference():
    h = th.Hyper(L=16)
    P, a, x = 30.0, 0.3, 0.2
    ga, gx = th.linear_grad(P, a, x, h)
    e = 1e-6
    F = lambda a_, x_: float(th.linear_action(P, a_, x_, h))  # noqa: E731
    assert float(ga) == pytest.approx((F(a + e, x) - F(a - e, x)) / (2 * e), rel=1e-6)
    assert float(gx) == pytest.approx((F(a, x + e) - F(a, x - e)) / (2 * e), rel=1e-6)


def test_softmax_maxwell_point_has_equal_minima():
    h = th.Hyper(L=32)
    res = th.locate_softmax(h, th.P_grid(h, 0.5, 50.0, 30))
    assert res["P_spinodal_low"] < res["P_star"] < res["P_spinodal_high"]
    mins = th.softmax_minima(res["P_star"], h)
    assert len(mins) == 2 and mins[0][1] == pytest.approx(mins[1][1], abs=1e-6)
    assert len(th.softmax_minima(0.9 * res["P_spinodal_low"], h)) == 1
    assert len(th.softmax_minima(1.1 * res["P_spinodal_high"], h)) == 1


def test_linear_onset_near_kappa_L():
    h = th.Hyper(L=32)
    P_c = th.reference_points(h, "linear")["P_c"]
    assert abs(th.linear_curvature(P_c, h)) < 1e-6 * h.L**2
    assert 0.8 * h.L < P_c < 1.5 * h.L
    a, *_ = th.linear_minimum(0.9 * P_c, h)
    assert a == 0.0
    a, *_ = th.linear_minimum(1.2 * P_c, h)
    assert a > 0.05


# ---- config ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key,value", [("V", 1), ("boundary", "left"), ("attentions", ("sigmoid",)),
                                       ("kappa", -1.0), ("mala_thin", 0), ("sample_L", 2),
                                       ("theory_P_max", 0.01), ("langevin_burn", 10**6),
                                       ("parametrization", "tied")])
def test_invalid_config_raises_config_error_naming_field(key, value):
    with pytest.raises(ConfigError) as e:
        build_config(STUDY.config_cls, STUDY.presets, "smoke", {key: value})
    assert e.value.field == key


def test_run_task_is_deterministic():
    cfg = build_config(STUDY.config_cls, STUDY.presets, "smoke", {"mala_burn": 20, "mala_steps": 20})
    task = [t for t in STUDY.tasks(cfg) if t.key == "mala-softmax-L32-b0"][0]
    a, b = STUDY.run_task(cfg, task), STUDY.run_task(cfg, task)
    assert a["sampling"].equals(b["sampling"])


def test_factorized_copy_pattern():
    geo = Geometry(6, "cyclic")
    model = CopyHeads(2, 6, 3, "softmax", geo, parametrization="factorized", width=8)
    model.set_copy_pattern(2.0)
    np.testing.assert_allclose(model.logits().detach().numpy()[0], 2.0 * geo.shift.double().numpy(), atol=1e-12)


# ---- umbrella integration (free_energy.py) ---------------------------------------------------------------------
def test_profile_and_basin_difference_on_a_known_double_well():
    from attnlab.studies.copy_transition import free_energy as fe

    k = 400.0
    g = np.linspace(-2.0, 2.0, 81)
    # exact stiff-restraint relation: <G> solves F'(G) = k (g - G) for F(G) = 10 (G^2 - 1)^2 + 3 G
    Fp = lambda x: 40 * x * (x**2 - 1) + 3.0  # noqa: E731
    from scipy import optimize
    G = np.array([optimize.brentq(lambda x: Fp(x) - k * (c - x), -3, 3) for c in g])
    x, F = fe.profile(G, g, k)
    exact = 10 * (x**2 - 1) ** 2 + 3 * x
    assert np.max(np.abs(F - (exact - exact.min()))) < 0.1   # trapezoid error of the 0.05-spaced mean forces
    dF, top = fe.basin_free_energy_difference(x, F)
    xs = np.linspace(-2, 2, 20001)
    w = np.exp(-(10 * (xs**2 - 1) ** 2 + 3 * xs))
    i0 = np.argmin(np.abs(xs - top))
    ref = -np.log(w[i0:].sum()) + np.log(w[:i0].sum())
    assert abs(dF - ref) < 0.05 and dF > 0           # tilted toward negative G: the "copy" basin holds less
    assert math.isnan(fe.basin_free_energy_difference(x, (x - 0.5) ** 2)[0])   # one basin
    assert fe.root_of_line(np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.0, -2.0])) == pytest.approx(2.0)


def test_restrained_mala_follows_the_restraint():
    from attnlab.studies.copy_transition.free_energy import gap, restrained_mala

    L, V = 8, 4
    geo = Geometry(L, "cyclic")
    C = statistics(sample_tokens(30, L, V, 0), V)[None]
    post = ReducedPosterior(C, torch.tensor([[30.0 * L]]), "softmax", geo, V, 1.0, 1.0, 1.0)
    centers = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    G, se, acc = restrained_mala(post, centers, 40.0 * L**2, 50, 100, torch.Generator().manual_seed(0))
    assert G.shape == (1, 3) and np.all(np.abs(G - centers.numpy()) < 0.2) and np.all(acc > 0.2)
    S = geo.shift.to(torch.float64) * 1.5
    assert float(gap(S, geo)) == pytest.approx(1.5)


def test_theory_variants_causal_and_shift_invariant():
    """The shift-invariant ansatz lowers P* (its prior cost is (L-1)/L of the one-parameter one for the same gap);
    the causal mask (row t has t+1 keys) removes the coexistence window at L = 32."""
    h1, h2 = th.Hyper(L=32), th.Hyper(L=32, ansatz="shift_invariant")
    assert th.softmax_prior_factor(h2) == pytest.approx(32 * 31 / 32)
    a = np.linspace(0, 5, 11)
    assert np.all(th.softmax_action(100.0, a, h2) <= th.softmax_action(100.0, a, h1) + 1e-9)
    p1 = th.reference_points(h1, "softmax")["P_star"]
    p2 = th.reference_points(h2, "softmax")["P_star"]
    assert p2 < p1 and (p1 - p2) / p1 == pytest.approx(0.028, abs=0.005)
    hc = th.Hyper(L=32, boundary="causal")
    assert hc.n_rows == 31 and list(hc.keys[:3]) == [2.0, 3.0, 4.0]
    r = th.reference_points(hc, "softmax")
    assert math.isnan(r["P_star"]) and math.isfinite(r["P_cross"])
    # the mask-aware order parameters equal the ones measured on the attention matrix itself
    geo = Geometry(32, "causal")
    S = geo.shift.to(torch.float64) * 1.3
    op = order_parameters(S, attention(S, "softmax", geo), geo)
    m, q = th.softmax_order_params(1.3, hc)
    assert float(op["m"]) == pytest.approx(float(m), rel=1e-12) and float(op["q"]) == pytest.approx(float(q), rel=1e-12)


def test_per_row_ansatz_reduces_to_the_one_parameter_ansatz_without_a_mask():
    """Cyclic boundary: every row is alike, so the per-row minimization has the one-parameter P*."""
    P = 272.0374864597115
    h1, hr = th.Hyper(L=32), th.Hyper(L=32, ansatz="per_row")
    mins = th.rows_minima(P, hr)
    assert len(mins) == 2
    one = th.softmax_minima(P, h1)
    for (a_vec, F), (a, F1) in zip(mins, (one[0], one[-1])):
        assert np.allclose(a_vec, a, atol=1e-4) and F == pytest.approx(F1, abs=1e-6)
    # the analytic gradient of the per-row action
    rng = np.random.default_rng(0)
    hc = th.Hyper(L=16, boundary="causal", ansatz="per_row")
    a = rng.normal(1.0, 0.5, hc.n_rows)
    F, g = th.rows_action_and_grad(150.0, a, hc)
    e = 1e-6
    num = np.array([(th.rows_action_and_grad(150.0, a + e * np.eye(len(a))[i], hc)[0]
                     - th.rows_action_and_grad(150.0, a - e * np.eye(len(a))[i], hc)[0]) / (2 * e) for i in range(len(a))])
    assert np.allclose(g, num, rtol=1e-5, atol=1e-6)


def test_one_locator_serves_both_ansatze():
    """locate_first_order with the per-row minima on the cyclic boundary (every row alike) finds the
    one-parameter spinodals and Maxwell point."""
    grid = np.geomspace(240.0, 320.0, 9)
    one = th.locate_softmax(th.Hyper(L=32), grid)
    rows = th.locate_softmax(th.Hyper(L=32, ansatz="per_row"), grid)
    for k in ("P_star", "P_spinodal_high"):
        assert rows[k] == pytest.approx(one[k], rel=1e-3), k
    assert rows["m_high"] == pytest.approx(one["m_high"], rel=1e-3)
    # near the lower spinodal the copy minimum is nearly flat (barrier < 0.1 nats) and the per-row descent
    # (L-BFGS-B in boxes of 0.3) from the copy start leaves it about 0.5 % in P earlier
    assert rows["P_spinodal_low"] == pytest.approx(one["P_spinodal_low"], rel=1e-2)


def test_langevin_from_statistics_has_the_network_gradient():
    """The Langevin task's loss from the statistics C (D data sets, two heads each) has the same value and
    gradient in (S, W) as the loss on the raw sequences."""
    L, V, P, D = 6, 4, 7, 2
    geo = Geometry(L, "cyclic")
    gen = torch.Generator().manual_seed(3)
    model = CopyHeads(2 * D, L, V, "softmax", geo, generator=gen)
    with torch.no_grad():
        model.S.normal_(generator=gen)
    toks = [sample_tokens(P, L, V, s) for s in range(D)]
    X = CopyHeads.layout(torch.stack([one_hot(t, V) for t in toks]).repeat_interleave(2, 0))
    C = torch.stack([statistics(t, V) for t in toks])
    n = torch.full((2 * D,), float(P * L), dtype=torch.float64)
    raw, stats = model.data_loss(X), model.data_loss_stats(C, n)
    g_raw = torch.autograd.grad(raw.sum(), [model.S, model.W])
    g_stats = torch.autograd.grad(stats.sum(), [model.S, model.W])
    np.testing.assert_allclose(stats.detach().numpy(), raw.detach().numpy(), rtol=1e-10)
    for a, b in zip(g_stats, g_raw):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def test_sampling_tasks_cover_each_P_once():
    """MALA and Langevin blocks partition their P grids; hysteresis_Ls adds softmax MALA at that L only."""
    from attnlab.studies.copy_transition import experiments as ex
    cfg = build_config(STUDY.config_cls, STUDY.presets, "smoke", {"sample_block": 2, "hysteresis_Ls": (16,)})
    tasks = STUDY.tasks(cfg)
    for att, L in (("softmax", 32), ("linear", 32), ("softmax", 16)):
        got = [P for t in tasks if t.kind == "mala" and t.params["attention"] == att and t.params["L"] == L
               for P in ex.mala_Ps(cfg, att, L, t.params["block"])]
        assert got == ex.sample_Ps(cfg, att, ex.mala_factors(cfg, att, L), L) and got
    assert not [t for t in tasks if t.kind == "mala" and t.params["attention"] == "linear" and t.params["L"] == 16]
    got = [P for t in tasks if t.kind == "langevin" and t.params["attention"] == "softmax"
           for P in ex.langevin_Ps(cfg, "softmax", t.params["block"])]
    assert got == ex.sample_Ps(cfg, "softmax", cfg.langevin_factors)
