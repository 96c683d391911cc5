"""selectivity: every claim check passes on a table where the claim holds and fails where it does not."""
import numpy as np
import pandas as pd
import pytest

from attnlab.studies.selectivity import claims as C
from attnlab.studies.selectivity.config import PRESETS, SelectivityConfig
from attnlab.claims import evaluate
from attnlab.studies.selectivity.analysis import finalize_tables

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


def _crit(frac, frac_A=None, chunks=2):
    """A critical-N scan where top-N and random-N distances differ below frac * L (reading B) and below frac_A * L
    (reading A), on the L-independent grid of the config; per-head values with noise."""
    from attnlab.studies.selectivity.critical import critical_grid

    frac_A = frac if frac_A is None else frac_A
    rows = []
    for c in range(chunks):
        for L in (64, 128, 256, 512):
            for N in critical_grid(L, CFG.crit_per_octave):
                for h in range(60):
                    gB = 1.0 if N < frac * L else 0.0
                    gA = 1.0 if N < frac_A * L else 0.0
                    e1, e2 = rng.normal(1, 0.1), rng.normal(1, 0.1)
                    rows.append(dict(model="m", chunk=c, layer=0, head=h, L=L, N=N,
                                     d_B=e1 + gB + rng.normal(0, 0.1), main_B=e1, d_B_mc_rows=e1 + gB, mc_B=e1,
                                     d_A=e2 + gA + rng.normal(0, 0.1), main_A=e2, d_A_mc_rows=e2 + gA, mc_A=e2))
    return F({"critical_scan": pd.DataFrame(rows)})


def test_critical_tables_and_growth_claim():
    t = _crit(0.06)
    c = t["critical_n"]
    assert set(c.columns) >= {"model", "L", "critical_N", "alpha", "reading", "expectation"}
    assert (c["reading"] == "B").all() and (c["expectation"] == "main").all()
    assert (c["critical_frac"].dropna() >= 0.05).all() and (c["critical_frac"].dropna() <= 0.09).all()
    fr = t["critical_n_fraction"]
    assert set(fr["reading"]) == {"A", "B"} and set(fr["test"]) == {"ks", "paired"}
    assert set(fr["expectation"]) == {"main", "mc"} and fr["decides"].sum() == len(c)
    assert (fr["n_chunks"] == 2).all()
    tests = t["critical_tests"]
    big = tests[(tests["N"] == 2) & (tests["L"] == 512) & (tests["reading"] == "B") & (tests["expectation"] == "main")]
    assert float(big["paired_p"].iloc[0]) < 1e-6 and float(big["log_ratio"].iloc[0]) > 0.5   # a clear effect
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


def test_critical_size_claim_uses_the_deciding_reading():
    ok = C.check_critical_size(_crit(0.06, frac_A=0.8), CFG)
    assert ok.passed is True and "deciding reading B" in ok.detail and "reading A" in ok.detail
    bad = C.check_critical_size(_crit(0.8, frac_A=0.06), CFG)             # only the other reading is near 0.06 L
    assert bad.passed is False
    assert 0.6 <= bad.value["m"] <= 0.9 and bad.value["m (reading A)"] < 0.1
    cfg_A = SelectivityConfig(**{**PRESETS["quick"], "distance_reading": "A"})
    assert C.check_critical_size(finalize_tables(cfg_A, {"critical_scan": _crit(0.8, frac_A=0.06)["critical_scan"]}),
                                 cfg_A).passed is True


def _sep(after):
    rows = []
    for h in range(30):
        for N, v in {1: 1.0, 2: 0.95, 4: 0.9, 8: 0.85, 16: 0.8, 32: 0.8 - after / 2, 64: 0.8 - after}.items():
            rows.append(dict(model="m", chunk=0, layer=0, head=h, L=256, N=N, ratio=v + rng.normal(0, 0.02)))
    return {"separability": pd.DataFrame(rows)}


def test_separability_claim():
    assert C.check_separability(_sep(0.0), CFG).passed is True
    assert C.check_separability(_sep(0.4), CFG).passed is False


def _grad(slope=-1.0, over=False, real_slope=-1.0, drop=100.0):
    """Synthetic tied top two (slope -1 by construction) plus a real model whose raw-logit g follows T^real_slope
    below T = 0.1 and sits `drop` times lower for T >= 1."""
    rows = []
    for T in CFG.grad_Ts:
        for e in CFG.grad_eps:
            g = min(0.5 * (T / 0.1) ** slope * 1 / (2 * 0.1) * 0.9, 1 / (2 * T), np.sqrt(2) / e)
            rows.append(dict(model="synthetic-gap=0", chunk=0, logits="synthetic", T=T, eps=e,
                             g_max=g * (1.5 if over else 1.0), g_mean=g, g_rowmax=g * (1.5 if over else 1.0),
                             n_heads=1, n_rows=1, T_model=np.nan))
            for lg in ("raw", "scaled", "probs"):
                gr = 0.2 * (T / 0.1) ** real_slope if T <= 0.1 else 0.2 / drop
                gr = min(gr if lg == "raw" else 0.01, 1 / (2 * T), np.sqrt(2) / e)
                rows.append(dict(model="m", chunk=0, logits=lg, T=T, eps=e, g_max=gr, g_mean=gr / 2, g_rowmax=gr,
                                 n_heads=9, n_rows=100, T_model=8.0))
    return {"gradient": pd.DataFrame(rows)}


def test_gradient_claims():
    assert C.check_gradient_bounds(F(_grad()), CFG).passed is True
    assert C.check_gradient_bounds(F(_grad(slope=-0.5)), CFG).passed is False
    assert C.check_gradient_bounds(F(_grad(over=True)), CFG).passed is False
    v = C.check_gradient(F(_grad()), CFG)
    assert v.passed is True and v.value["m slope"] == pytest.approx(-1.0, abs=0.05) and "scaled/row_mean" in v.detail
    assert C.check_gradient(F(_grad(real_slope=-0.1)), CFG).passed is False          # flat: not 1/T
    assert C.check_gradient(F(_grad(drop=2.0)), CFG).passed is False                 # no two orders of magnitude
    summ = F(_grad())["gradient_summary"]
    row = summ[(summ["model"] == "m") & summ["decides"] & (summ["eps"] == 1e-3)]
    assert len(row) == 1 and row["drop"].iloc[0] == pytest.approx(100.0, rel=1e-6)


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
                   "critical_N_grows_with_L", "critical_N_size_matches_paper", "separability_declines_then_saturates",
                   "gradient_sensitivity_within_bounds", "gradient_sensitivity_scales_as_inverse_T",
                   "multihead_coverage_arithmetic", "separability_above_theorem2_lower_bound"}


@pytest.mark.parametrize("claim", C.CLAIMS, ids=lambda c: c.id)
def test_missing_tables_are_undecided(claim):
    (r,) = evaluate([claim], {}, CFG)
    assert r["status"] == "undecided" and r["detail"].startswith("missing table")


def test_consistency_checks_are_labelled():
    kinds = {c.id: c.kind for c in C.CLAIMS}
    assert {k for k, v in kinds.items() if v == "consistency"} >= {
        "attention_weights_within_lemma1_bounds", "softmax_jacobian_norm_at_most_half_over_T",
        "distance_below_theorem1_bound", "multihead_coverage_arithmetic", "gradient_sensitivity_within_bounds",
        "separability_above_theorem2_lower_bound"}
    assert kinds["critical_N_size_matches_paper"] == kinds["gradient_sensitivity_scales_as_inverse_T"] == "finding"


def test_theorem2_lower_bound_claim_passes_on_the_sphere_and_fails_on_a_violation():
    from attnlab.studies.selectivity.experiments import separability_table

    sep = separability_table(CFG)
    assert (sep["bound_violations"] == 0).all() and (sep["ratio"] >= sep["lower"] - 1e-12).all()
    assert C.check_theorem2_lower({"separability": sep}, CFG).passed is True
    bad = sep.copy()
    bad.loc[bad.index[0], "bound_violations"] = 1
    assert C.check_theorem2_lower({"separability": bad}, CFG).passed is False
    worse = sep.copy()
    worse["lower"] = worse["ratio"] + 0.1                                  # a head mean below the bound
    assert C.check_theorem2_lower({"separability": worse}, CFG).passed is False


def test_bisection_locates_the_critical_N_to_one():
    """A scan whose top-N and random-N distances differ (by a shift far above the head-to-head noise) below N* and
    agree from N* on: after the grid and the bisection rounds the critical N of every test is N* exactly, N* - 1 was
    scanned (resolution 1), far fewer integers than all were scanned, and without bisection it is the grid point."""
    from attnlab.studies.selectivity.critical import critical_grid, scan_and_bisect

    L, star = 256, 157
    noise = np.random.default_rng(4).normal(1.0, 0.1, size=(2, 40))

    def rows(Ns, with_mc):
        out = []
        for c in range(2):
            for h in range(40):
                e = noise[c, h]
                for N in Ns:
                    gap = 1.0 if N < star else 0.0
                    r = dict(model="m", chunk=c, layer=0, head=h, L=L, N=int(N), d_B=e + gap, main_B=e,
                             d_A=e + gap, main_A=e)
                    if with_mc:
                        r.update(d_B_mc_rows=e + gap, mc_B=e, d_A_mc_rows=e + gap, mc_A=e)
                    out.append(r)
        return out

    grid = critical_grid(L, 4)
    assert star not in grid
    df = scan_and_bisect(rows, grid, (0.01, 0.05))
    fr = finalize_tables(CFG, {"critical_scan": df})["critical_n_fraction"]
    main = fr[fr["expectation"] == "main"]
    assert (main["critical_N"] == star).all() and (main["resolution"] == 1).all()
    assert df["N"].nunique() < len(grid) + 20 and df.loc[~df["N"].isin(grid), "mc_B"].isna().all()
    mc = fr[fr["expectation"] == "mc"]                                    # the Monte Carlo stays on the grid
    assert (mc["critical_N"] == min(n for n in grid if n >= star)).all()
    plain = finalize_tables(CFG, {"critical_scan": scan_and_bisect(rows, grid, (0.01,), bisect=False)})
    assert (plain["critical_n"]["critical_N"] == min(n for n in grid if n >= star)).all()
