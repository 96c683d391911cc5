"""selectivity: every claim check passes on a table where the claim holds and fails where it does not."""
import numpy as np
import pandas as pd
import pytest

from attnlab.studies.selectivity import claims as C
from attnlab.studies.selectivity.config import PRESETS, SelectivityConfig
from attnlab.claims import evaluate
from attnlab.studies.selectivity.analysis import critical_n_table, finalize_tables

CFG = SelectivityConfig(**PRESETS["quick"])


def F(tables):
    """The final tables (analysis.py's derived tables added), as the claims see them."""
    return finalize_tables(CFG, tables)
rng = np.random.default_rng(0)


def _lemma(within=True):
    rows = [dict(normalizer=n, T=1.0, L=L, rep=0, Delta=1.0, L_alpha_min=0.5, L_alpha_max=2.0, max_alpha=2.0 / L,
                 C1=0.1, C2=7.0, within=within if n == "softmax" else True) for n in ("softmax", "one_plus_sigmoid")
            for L in (32, 64, 128)]
    rows += [dict(normalizer="ssmax", T=1.0, L=L, rep=0, Delta=1.0, L_alpha_min=0.1, L_alpha_max=L ** 0.5,
                  max_alpha=L ** -0.5, C1=np.nan, C2=np.nan, within=None) for L in (32, 64, 128)]
    return {"lemma1": pd.DataFrame(rows)}


def test_lemma1_claim():
    assert C.check_lemma1(_lemma(True), CFG).passed is True
    assert C.check_lemma1(_lemma(False), CFG).passed is False


def _jac(tied=0.5, top=0.5):
    return {"jacobian": pd.DataFrame([
        dict(T=1.0, case="random", rep=0, spectral_norm_times_T=min(top, 0.3) if top <= 0.5 else top,
             diag_max_times_T=0.2, autograd_err_times_T=0.0, fd_err_times_T=1e-10),
        dict(T=1.0, case="tied_top2", rep=0, spectral_norm_times_T=tied, diag_max_times_T=0.25,
             autograd_err_times_T=0.0, fd_err_times_T=1e-10)])}


def test_jacobian_claim():
    assert C.check_jacobian(_jac(), CFG).passed is True
    assert C.check_jacobian(_jac(tied=0.25), CFG).passed is False      # 1/(4T) would be "attained"
    assert C.check_jacobian(_jac(top=0.6), CFG).passed is False        # above 1/(2T)


def _bound_tables(viol_syn=0, viol_real=0, n=1000):
    syn = pd.DataFrame(dict(d_sum=np.ones(n), d_bound=np.full(n, 2.0)))
    syn.loc[: viol_syn - 1, "d_sum"] = 3.0 if viol_syn else 1.0
    real = pd.DataFrame(dict(model=["m"], bound_violations=[viol_real], n_rows=[100]))
    return {"synthetic_distance": syn, "distance": real}


def test_bound_claim():
    assert C.check_bound(_bound_tables(), CFG).passed is True
    assert C.check_bound(_bound_tables(viol_syn=1), CFG).passed is False
    assert C.check_bound(_bound_tables(viol_real=2), CFG).passed is False
    assert C.check_bound(_bound_tables(n=10), CFG).passed is None


def _dist_L(slope, noise=0.02):
    rows = []
    for h in range(40):
        for L in (32, 64, 128, 256, 512):
            rows.append(dict(model="m", chunk=0, sweep="L", layer=0, head=h, L=L, N=CFG.N_fixed,
                             d_sum=np.exp(slope * np.log(L) + rng.normal(0, noise))))
    syn = pd.DataFrame([dict(L=L, N=CFG.N_fixed, rep=r, d_sum=L ** 0.5) for r in range(3) for L in (32, 64, 128)])
    return {"distance": pd.DataFrame(rows), "synthetic_distance": syn}


def test_grows_with_L_claim():
    assert C.check_grows_with_L(F(_dist_L(1.0)), CFG).passed is True
    assert C.check_grows_with_L(F(_dist_L(0.4)), CFG).passed is False
    assert C.check_grows_with_L(F(_dist_L(1.6)), CFG).passed is False
    no_model = _dist_L(1.0)
    no_model["distance"] = no_model["distance"].iloc[:0]
    assert C.check_grows_with_L(F(no_model), CFG).passed is None


def _dist_N(late):
    rows = []
    for h in range(40):
        base = {1: 1.0, 5: 3.0, 10: 5.0, 20: 8.0, 100: 8.0 * late}
        for N, v in base.items():
            rows.append(dict(model="m", chunk=0, sweep="N", layer=0, head=h, L=1024, N=N,
                             d_sum=v * np.exp(rng.normal(0, 0.05))))
    return {"distance": pd.DataFrame(rows)}


def test_plateau_claim():
    assert C.check_plateau(F(_dist_N(1.1)), CFG).passed is True
    assert C.check_plateau(F(_dist_N(20.0)), CFG).passed is False


def _crit(frac):
    rows = []
    for L in (64, 128, 256, 512):
        for N in sorted({max(1, round(f * L)) for f in CFG.critical_fracs}):
            for h in range(60):
                gap = 1.0 if N < frac * L else 0.0                       # distinguishable below frac * L
                rows.append(dict(model="m", chunk=0, layer=0, head=h, L=L, N=N, d_sum=rng.normal(gap, 0.1),
                                 d_expected_mc=rng.normal(0, 0.1), d_expected_main=rng.normal(0, 0.1)))
    return {"critical_n": critical_n_table(pd.DataFrame(rows), (0.01, 0.05))}


def test_critical_n_claim_and_table():
    t = _crit(0.06)
    c = t["critical_n"]
    assert set(c.columns) >= {"model", "L", "critical_N", "alpha"}
    assert (c["critical_frac"].dropna() >= 0.05).all()
    assert C.check_critical_n(t, CFG).passed is True
    flat = t["critical_n"].copy()
    flat["critical_N"] = 5.0                                              # no growth with L
    assert C.check_critical_n({"critical_n": flat}, CFG).passed is False
    sqrt_growth = t["critical_n"].copy()
    sqrt_growth["critical_N"] = np.round(2 * np.sqrt(sqrt_growth["L"]))     # grows, but like sqrt(L), not like L
    v = C.check_critical_n({"critical_n": sqrt_growth}, CFG)
    assert v.passed is False and "slope 0.495" in v.detail
    late = _crit(0.8)                                                     # proportional, far above GPT-2's 0.06 L
    assert C.check_critical_n(late, CFG).passed is True
    assert (late["critical_n"]["critical_frac"].dropna() >= 0.6).all()


def _sep(after):
    rows = []
    for h in range(30):
        for N, v in {1: 1.0, 2: 0.95, 4: 0.9, 8: 0.85, 16: 0.8, 32: 0.8 - after / 2, 64: 0.8 - after}.items():
            rows.append(dict(model="m", chunk=0, layer=0, head=h, L=256, N=N, ratio=v + rng.normal(0, 0.02)))
    return {"separability": pd.DataFrame(rows)}


def test_separability_claim():
    assert C.check_separability(_sep(0.0), CFG).passed is True
    assert C.check_separability(_sep(0.4), CFG).passed is False


def _grad(slope=-1.0, over=False):
    rows = []
    for T in CFG.grad_Ts:
        for e in CFG.grad_eps:
            g = min(0.5 * (T / 0.1) ** slope * 1 / (2 * 0.1) * 0.9, 1 / (2 * T), np.sqrt(2) / e)
            rows.append(dict(model="synthetic-gap=0", chunk=0, T=T, eps=e, g_max=g * (1.5 if over else 1.0),
                             g_mean=g, n_heads=1, T_model=np.nan))
    return {"gradient": pd.DataFrame(rows)}


def test_gradient_claim():
    assert C.check_gradient(F(_grad()), CFG).passed is True
    assert C.check_gradient(F(_grad(slope=-0.5)), CFG).passed is False
    assert C.check_gradient(F(_grad(over=True)), CFG).passed is False


def test_coverage_claim():
    from attnlab.studies.selectivity.experiments import coverage_table

    assert C.check_coverage({"coverage": coverage_table()}, CFG).passed is True
    bad = coverage_table()
    bad["coverage"] = 1 - (1 - bad["p"]) ** (bad["H"] + 1)
    assert C.check_coverage({"coverage": bad}, CFG).passed is False


def test_every_claim_id_present():
    ids = {c.id for c in C.CLAIMS}
    assert ids == {"attention_weights_within_lemma1_bounds", "softmax_jacobian_norm_at_most_half_over_T",
                   "distance_below_theorem1_bound", "distance_grows_with_L_at_fixed_N", "distance_plateaus_in_N",
                   "critical_N_grows_with_L", "separability_declines_then_saturates",
                   "gradient_sensitivity_scales_as_inverse_T", "multihead_coverage_arithmetic"}


@pytest.mark.parametrize("claim", C.CLAIMS, ids=lambda c: c.id)
def test_missing_tables_are_undecided(claim):
    (r,) = evaluate([claim], {}, CFG)
    assert r["status"] == "undecided" and r["detail"].startswith("missing table")


def test_consistency_checks_are_labelled():
    kinds = {c.id: c.kind for c in C.CLAIMS}
    assert {k for k, v in kinds.items() if v == "consistency"} >= {
        "attention_weights_within_lemma1_bounds", "softmax_jacobian_norm_at_most_half_over_T",
        "distance_below_theorem1_bound", "multihead_coverage_arithmetic"}
