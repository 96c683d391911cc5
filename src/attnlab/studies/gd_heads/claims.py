"""The brief's checkable claims (§7) and the initialization result (§5c) as checks over the final tables.

Every number a claim uses is computed once in analysis.py (tables ``fits``, ``summary``, ``gen_summary``,
``init_effects``); a check only compares.  Statistics follow the lab's one confidence policy
(attnlab.claims): slopes carry a 99 % Student-t interval [low, high]; means and paired differences over seeds
are mean +- Z se with Z = 2.576.  A two-sided law (a slope equal to -1/2) passes when the slope's interval
overlaps the target band; a one-sided theorem (an upper bound: the loss decays AT LEAST like 1/(eta K)) fails
only when the interval lies entirely on the wrong side.

A-priori widenings, stated once:
* W_MAX_HEADS = 0.1: slope of the max over H iid per-head Hessian norms, which enters ||hess Phi|| =
  max_h ||hess f_h|| / sqrt(H) (block-diagonal Hessian) [reconstruction];
* log^2 factors: the local slope of log^2(x) / x is -1 + 2 / ln x, so an envelope O(log^2 x / x) allows
  slope up to -1 + 2 / ln x at the geometric mean x of the fit;
* W_LOG_DISTANCE = 0.25: the O(1/ln K) correction to ||theta_K - theta0|| ~ ln K / gamma between K = 10 and
  1000 [reconstruction].

Sources: no statement of the paper's own text could be checked (its full text was not available, brief §1), so
no claim is tagged ``paper``: ``secondary`` marks what the brief recovered from the public summary and the JMLR
template (the rates, the stability bound, one-step NTK separability), ``reconstruction`` our derivations.
"""
from __future__ import annotations

import math

import numpy as np

from ...claims import Claim, Verdict, undecided

W_MAX_HEADS = 0.1
W_LOG_DISTANCE = 0.25


def _fits(tables, fit, **where):
    df = tables["fits"]
    df = df[df["fit"] == fit]
    for k, v in where.items():
        df = df[np.isclose(df[k], v)]
    return df


def _summary(tables, quantity):
    df = tables["summary"]
    row = df[df["quantity"] == quantity]
    return None if len(row) == 0 else row.iloc[0]


def _ci(r) -> str:
    return f"{r['slope']:.3f} [{r['low']:.3f}, {r['high']:.3f}] (n={int(r['n_points'])})"


# ---- 1 -------------------------------------------------------------------------------------------------------
def check_hessian(tables, config) -> Verdict:
    hs = _fits(tables, "hessian_vs_H")
    gs = _fits(tables, "grad_vs_H")
    if len(hs) == 0 or not np.isfinite(hs["high"]).all():
        return undecided("no Hessian slope with a finite interval (>= 3 points needed)")
    ok, parts, value = True, [], {}
    for (_, h), (_, g) in zip(hs.iterrows(), gs.iterrows()):
        ok_h = h["high"] >= -0.5 and h["low"] <= -0.5 + W_MAX_HEADS
        ok_g = g["high"] >= -W_MAX_HEADS and g["low"] <= W_MAX_HEADS
        ok &= bool(ok_h and ok_g)
        value[f"hessian slope {h['group']}"] = float(h["slope"])
        value[f"grad slope {g['group']}"] = float(g["slope"])
        parts.append(f"{h['group']}: hessian slope {_ci(h)} {'ok' if ok_h else 'FAIL'}; grad slope {_ci(g)} "
                     f"{'ok' if ok_g else 'FAIL'}")
    b2 = _summary(tables, "beta2_theta0_max")
    if b2 is not None:
        parts.append(f"beta2 = max sqrt(H)||hess Phi|| = {b2['value']:.3f}")
    return Verdict(bool(ok), value=value,
                   threshold=f"Hessian slope interval meets [-0.5, -0.5 + {W_MAX_HEADS}] (max over iid heads); "
                             f"gradient slope interval meets [-{W_MAX_HEADS}, {W_MAX_HEADS}]",
                   detail="; ".join(parts))


# ---- 2 -------------------------------------------------------------------------------------------------------
def check_lemma(tables, config) -> Verdict:
    r = _summary(tables, "kappa_over_beta2_max")
    if r is None:
        return undecided("no weak-convexity rows")
    v = float(r["value"])
    return Verdict(v <= 1.0, value=v, threshold="max kappa / beta2 <= 1 (|l'| <= l makes it hold for every theta)",
                   detail=f"max over rows of kappa/beta2 = {v:.3g}: lambda_min >= -(beta2/sqrt(H)) L^ holds with the "
                          f"measured beta2 (power iteration) at every checkpoint")


def check_weak_convexity(tables, config) -> Verdict:
    fs = _fits(tables, "defect_vs_H")
    fs = fs[np.isfinite(fs["high"])]
    if len(fs) == 0:
        return undecided("no checkpoint with negative curvature at >= 3 (H, seed) points")
    ok = bool((fs["low"] <= -0.5 + W_MAX_HEADS).all())
    trend = _fits(tables, "kappa_vs_loss")
    return Verdict(ok, value={f"slope {r['group']}": float(r["slope"]) for _, r in fs.iterrows()},
                   threshold=f"at every checkpoint the slope interval of -lambda_min/L^ against H reaches "
                             f"-0.5 + {W_MAX_HEADS} or below (defect shrinks like H^-1/2)",
                   detail="; ".join(f"{r['group']}: {_ci(r)}" for _, r in fs.iterrows()) +
                          "; reported, not scored: d log kappa / d log L^ " +
                          (", ".join(f"{r['group']}: {r['slope']:.2f}" for _, r in trend.iterrows()) or "n/a"))


# ---- 3 -------------------------------------------------------------------------------------------------------
def check_rate(tables, config) -> Verdict:
    fs = _fits(tables, "rate_late")
    if len(fs) == 0 or not math.isfinite(fs.iloc[0]["high"]):
        return undecided("no late-phase rate fit with a finite interval")
    r = fs.iloc[0]
    limit = -1 + 2.0 / math.log(r["x_geo"])
    ok = r["low"] <= limit
    rates = tables.get("rates")
    H = int(rates["H"].iloc[0]) if rates is not None and len(rates) else None
    mono = _summary(tables, "monotone_fraction")
    return Verdict(bool(ok), value=float(r["slope"]),
                   threshold=f"slope <= -1 + 2/ln(eta K) = {limit:.3f} not excluded (the bound O(log^2(eta K)/(eta K)) "
                             f"is one-sided: faster decay is allowed)",
                   detail=f"H = {H}: slope of log L^ against log(eta K) over the late phase ({r['group']}) = {_ci(r)}; "
                          f"eta K L^ (geometric mean) = {_summary(tables, 'etaK_loss_late_geomean')['value']:.3g}"
                          + (f"; fraction of runs with a monotone loss {mono['value']:.2f}" if mono is not None else ""))


# ---- 4 -------------------------------------------------------------------------------------------------------
def check_bound(tables, config) -> Verdict:
    r, miss = _summary(tables, "bound_ratio_max"), _summary(tables, "bound_missing_rows")
    if r is None:
        return undecided("no bound rows")
    if not math.isfinite(r["value"]):
        return Verdict(False, detail="no lambda on the grid reached min margin >= log K: realizability failed")
    per_K = tables["summary"][tables["summary"]["quantity"].str.startswith("bound_ratio_max_K")]
    value = {q.replace("bound_ratio_max_", ""): float(v) for q, v in zip(per_K["quantity"], per_K["value"])}
    ok = r["value"] <= 1 and miss["value"] == 0
    return Verdict(bool(ok), value=value, threshold="L^(theta_K) / B(K) <= 1 for every K and seed",
                   detail=f"max L^(theta_K)/B(K) with B = 2 L^(theta_bar) + lambda^2/(eta K) = {r['value']:.3g}; "
                          f"{int(miss['value'])} rows without a grid lambda")


# ---- 5 -------------------------------------------------------------------------------------------------------
def check_distance(tables, config) -> Verdict:
    r = _summary(tables, "distance_decade_ratio")
    if r is None or not math.isfinite(r["se"]):
        return undecided("needs checkpoints K, 10K, 100K at the smallest eta and >= 2 seeds")
    ok = r["high"] >= 1 - W_LOG_DISTANCE and r["low"] <= 1 + W_LOG_DISTANCE
    g, ig = _summary(tables, "distance_growth_per_lnK"), _summary(tables, "inverse_gamma")
    return Verdict(bool(ok), value=float(r["value"]),
                   threshold=f"interval of dD(second decade)/dD(first decade) meets 1 +- {W_LOG_DISTANCE}",
                   detail=f"ratio {r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}] (1 = linear in log K)"
                          + (f"; growth per ln K {g['value']:.3g} vs 1/gamma {ig['value']:.3g}" if g is not None
                             and ig is not None else ""))


# ---- 6 -------------------------------------------------------------------------------------------------------
def check_lazy(tables, config) -> Verdict:
    fs = _fits(tables, "lazy_dev_vs_H")
    if len(fs) == 0 or not math.isfinite(fs.iloc[0]["high"]):
        return undecided("no lazy fit with a finite interval")
    r = fs.iloc[0]
    s = tables["summary"]
    ratios = s[s["quantity"].str.startswith("lazy_loss_ratio_H")]
    return Verdict(bool(r["low"] <= -0.5), value=float(r["slope"]),
                   threshold="slope <= -0.5 not excluded (Taylor remainder bound beta2 ||theta - theta0||^2/(2 sqrt(H)))",
                   detail=f"slope of log mean|Phi_K - Phi_lin_K| against log H = {_ci(r)}; L^/L^_lin: " +
                          ", ".join(f"{q.replace('lazy_loss_ratio_', '')}: {v:.3f}"
                                    for q, v in zip(ratios["quantity"], ratios["value"])))


# ---- 7 -------------------------------------------------------------------------------------------------------
def check_realizability(tables, config) -> Verdict:
    fs = _fits(tables, "remainder_vs_H")
    ex = _summary(tables, "realizability_margin_excess_top_H")
    if len(fs) == 0 or ex is None or not math.isfinite(fs.iloc[0]["high"]):
        return undecided("needs the theory construction at >= 2 head counts with >= 3 points")
    r = fs.iloc[0]
    shrinks, holds = r["high"] < 0, ex["value"] >= 0
    sm, hs = _summary(tables, "realizability_smallest_H"), _summary(tables, "realizability_H_sufficient_median")
    return Verdict(bool(shrinks and holds), value={"remainder slope": float(r["slope"]),
                                                   "margin - log K at the largest H": float(ex["value"])},
                   threshold="remainder slope interval below 0, and min margin >= log K at the largest H",
                   detail=f"Taylor remainder slope against H {_ci(r)} {'ok' if shrinks else 'FAIL'}; min margin - log K "
                          f"at the largest H = {ex['value']:.3g} {'ok' if holds else 'FAIL'}; smallest grid H from "
                          f"which it holds: {sm['value']:g}; sufficient condition H >= {hs['value']:.3g} (median)")


# ---- 8 -------------------------------------------------------------------------------------------------------
def check_margin(tables, config) -> Verdict:
    mn, ratio = _summary(tables, "ntk_margin_min"), _summary(tables, "margin_zeta_ratio")
    fs = _fits(tables, "margin_vs_H", zeta=config.zeta)
    if mn is None or len(fs) == 0 or not math.isfinite(fs.iloc[0]["high"]):
        return undecided(f"no margin fit at zeta = {config.zeta}")
    r = fs.iloc[0]
    pos = mn["value"] > 0
    flat = r["high"] >= -W_MAX_HEADS and r["low"] <= W_MAX_HEADS
    grows = ratio is None or ratio["low"] > 1
    parts = [f"min gamma = {mn['value']:.3g} {'ok' if pos else 'FAIL'}",
             f"slope of log gamma against log H at zeta={config.zeta:g}: {_ci(r)} {'ok' if flat else 'FAIL'}"]
    value = {"min gamma": float(mn["value"]), "slope in H": float(r["slope"])}
    if ratio is not None:
        th = _summary(tables, "margin_zeta_ratio_theory")
        value["gamma ratio across zeta"] = float(ratio["value"])
        parts.append(f"gamma(zeta max)/gamma(zeta min) = {ratio['value']:.3f} [{ratio['low']:.3f}, {ratio['high']:.3f}] "
                     f"(U-part theory {th['value']:.2f}) {'ok' if grows else 'FAIL'}")
    return Verdict(bool(pos and flat and grows), value=value,
                   threshold=f"gamma > 0; slope interval in H meets [-{W_MAX_HEADS}, {W_MAX_HEADS}]; the gamma ratio "
                             f"across zeta above 1 at 99 %", detail="; ".join(parts))


def check_U_margin_formula(tables, config) -> Verdict:
    lo, hi = _summary(tables, "U_margin_sigma0_excess_min"), _summary(tables, "U_margin_sigma0_excess_max")
    if lo is None:
        return undecided("no margin rows")
    return Verdict(bool(lo["value"] >= -1e-6), value={"min": float(lo["value"]), "max": float(hi["value"])},
                   threshold="U-part SVM margin at sigma = 0 >= zeta S sqrt(T/2) (relative 1e-6: solver tolerance)",
                   detail=f"relative excess of the SVM U-part margin over zeta S sqrt(T/2) in [{lo['value']:.2e}, "
                          f"{hi['value']:.2e}] (>= 0: the formula is the margin of one feasible direction)")


# ---- 9 / 10 / 11 -----------------------------------------------------------------------------------------------
def _gen(tables, sigma, protocol="fixed_K"):
    g = tables["gen_summary"]
    return g[(g["protocol"] == protocol) & np.isclose(g["sigma"], sigma)]


def check_gap_stability(tables, config) -> Verdict:
    fs = _fits(tables, "gap_over_sumloss_vs_n", sigma=config.gen_sigma)
    g = _gen(tables, config.gen_sigma)
    if len(fs) == 0 or len(g) == 0 or not math.isfinite(fs.iloc[0]["high"]):
        return undecided(f"no fixed-K generalization fit at sigma = {config.gen_sigma}")
    r = fs.iloc[0]
    ok_rate = r["low"] <= -1
    ok_proxy = bool((g["gap"] <= g["proxy"]).all())
    return Verdict(bool(ok_rate and ok_proxy), value={"slope": float(r["slope"]),
                                                      **{f"n={int(n)}": float(v) for n, v in zip(g["n"], g["gap_norm"])}},
                   threshold="slope of gap/(eta sum_k L^(theta_k)) against n <= -1 not excluded, and mean gap <= "
                             "4 G^2 (eta/n) sum_k L^ at every n",
                   detail=f"sigma = {config.gen_sigma:g}: slope of log(gap / eta sum L^) against log n = {_ci(r)} "
                          f"{'ok' if ok_rate else 'FAIL'}; gap n / (eta sum L^) per n " +
                          ", ".join(f"n={int(n)}: {v:.3g}" for n, v in zip(g["n"], g["gap_norm"])) +
                          f"; gap <= proxy at every n {'ok' if ok_proxy else 'FAIL'}")


def check_gap(tables, config) -> Verdict:
    sigma = config.gen_sigma_separable
    fs = _fits(tables, "gap_vs_n", sigma=sigma)
    g = _gen(tables, sigma)
    if len(fs) == 0 or len(g) == 0 or not math.isfinite(fs.iloc[0]["high"]):
        return undecided(f"no fixed-K generalization fit at sigma = {sigma}")
    r = fs.iloc[0]
    return Verdict(bool(r["low"] <= -1), value=float(r["slope"]),
                   threshold="slope of the gap against n <= -1 not excluded (gap = O(1/n) at fixed K)",
                   detail=f"sigma = {sigma:g} (separable): slope of log gap against log n over seeds with gap > 0 = "
                          f"{_ci(r)}; n gap per n " +
                          ", ".join(f"n={int(n)}: {v:.3g} +- {Z_se:.2g}" for n, v, Z_se in
                                    zip(g["n"], g["n_gap"], g["n"] * g["gap_se"])))


def check_test_rate(tables, config) -> Verdict:
    fs = _fits(tables, "test_loss_vs_n")
    g = tables["gen_summary"]
    g = g[g["protocol"] == "K_prop_n"]
    if len(fs) == 0 or not math.isfinite(fs.iloc[0]["high"]):
        return undecided("no K-proportional-to-n fit")
    r = fs.iloc[0]
    Kg = float(np.exp(np.log(g["K"]).mean()))
    limit = -1 + 2.0 / math.log(Kg)
    return Verdict(bool(r["low"] <= limit), value=float(r["slope"]),
                   threshold=f"slope <= -1 + 2/ln K = {limit:.3f} not excluded (envelope O(log^2 K / n))",
                   detail=f"slope of log test loss against log n (K = {config.K_per_n} n) = {_ci(r)}; n L_test: " +
                          ", ".join(f"n={int(n)}: {v:.3g}" for n, v in zip(g["n"], g["n_test_loss"])))


# ---- 12-14: P0 against the one-step initializations ------------------------------------------------------------
def _init_check(metric: str, better: str):
    def check(tables, config) -> Verdict:
        e = tables["init_effects"]
        e = e[e["metric"] == metric]
        if len(e) == 0:
            return undecided("no one-step init rows")
        top = e[e["init_eta"] == e["init_eta"].max()]
        if not np.isfinite(top["se"]).all():
            return undecided("fewer than 2 seeds per init")
        ok = bool((top["low"] > 0).all()) if better == "higher" else bool((top["high"] < 0).all())
        value = {f"{r['init']} - P0": float(r["diff"]) for _, r in top.iterrows()}
        detail = "; ".join(f"{r['init']} (W-step {r['init_eta']:g}) - P0: {r['diff']:.3g} [{r['low']:.3g}, "
                           f"{r['high']:.3g}] ({r['mean_init']:.3g} vs {r['mean_P0']:.3g}, {int(r['seeds'])} paired seeds)"
                           for _, r in e.iterrows())
        return Verdict(ok, value=value,
                       threshold=f"paired difference to P0 {'above' if better == 'higher' else 'below'} 0 at 99 % for "
                                 f"P1 and P2 at the largest W-step", detail=detail)
    check.__name__ = f"check_init_{metric}"
    return check


CLAIMS = [
    Claim("hessian_shrinks_as_inverse_sqrt_heads",
          "||hess_theta Phi|| decays like H^-1/2 while ||grad_theta Phi|| does not depend on H.",
          "reconstruction", check_hessian, needs={"fits": ("fit", "slope", "low", "high")}),
    Claim("weak_convexity_lemma_bound",
          "lambda_min(hess L^) >= -(beta2/sqrt(H)) L^ with beta2 = sqrt(H) max_i ||hess Phi(theta; X_i)|| at every "
          "GD checkpoint (holds for every theta because |l'| <= l: checks the curvature code).",
          "reconstruction", check_lemma, kind="consistency", needs={"summary": ("quantity", "value")}),
    Claim("self_bounded_weak_convexity",
          "Along GD the curvature defect per unit loss, -lambda_min(hess L^)/L^, shrinks like H^-1/2 (self-bounded "
          "weak convexity improving with the number of heads).", "secondary", check_weak_convexity,
          needs={"fits": ("fit", "slope", "low", "high")}),
    Claim("train_loss_scales_as_inverse_eta_K",
          "At H = H_rates the training loss after K GD steps of size eta decays at least like 1/(eta K) (up to the "
          "log^2 factor of g(1/K)^2): the theorem is an upper bound.", "secondary", check_rate,
          needs={"fits": ("fit", "slope", "low", "high", "x_geo"), "summary": ("quantity", "value")}),
    Claim("train_loss_below_bound",
          "L^(theta_K) <= B(K) = 2 L^(theta_bar) + ||theta_bar - theta0||^2/(eta K) with theta_bar = theta0 + lambda "
          "theta* (template constants a = 2, b = 1).", "reconstruction", check_bound,
          needs={"summary": ("quantity", "value")}),
    Claim("distance_grows_logarithmically",
          "||theta_K - theta0|| grows linearly in log K: equal increments per decade of K.", "reconstruction",
          check_distance, needs={"summary": ("quantity", "value", "se", "low", "high")}),
    Claim("many_heads_train_lazily",
          "With more heads GD stays closer to its linearization: mean |Phi_K - Phi_lin_K| decays at least like H^-1/2.",
          "reconstruction", check_lazy, needs={"fits": ("fit", "slope", "low", "high")}),
    Claim("realizability_needs_enough_heads",
          "theta_bar = theta0 + lambda theta*, lambda = 2(log K + B0)/gamma, reaches margin >= log K once H is large: "
          "the Taylor remainder shrinks with H and the margin holds at the largest H.", "reconstruction",
          check_realizability, needs={"fits": ("fit", "slope"), "summary": ("quantity", "value")}),
    Claim("ntk_margin_positive_and_head_independent",
          "On the tokenized mixture at P0 the NTK margin is positive, flat in H, and grows with zeta.",
          "reconstruction", check_margin, needs={"fits": ("fit", "zeta", "slope"), "summary": ("quantity", "value")}),
    Claim("uniform_attention_margin_formula",
          "The U-part NTK margin at uniform attention and sigma = 0 is at least zeta S sqrt(T/2) (the margin of one "
          "feasible direction: checks the SVM solver).", "reconstruction", check_U_margin_formula, kind="consistency",
          needs={"summary": ("quantity", "value")}),
    Claim("generalization_gap_stability_form",
          "The test-train gap after K GD steps is bounded by c (eta/n) sum_{k<K} L^(theta_k) (on-average model "
          "stability): gap / sum_k L^ decays at least like 1/n, and the gap stays below the stability proxy.",
          "secondary", check_gap_stability, needs={"fits": ("fit", "sigma", "slope"),
                                                   "gen_summary": ("protocol", "sigma", "n", "gap", "proxy")}),
    Claim("generalization_gap_shrinks_as_inverse_n",
          "At a separable noise level (sigma = gen_sigma_separable) the test-train gap after K GD steps decays at "
          "least like 1/n.", "secondary", check_gap,
          needs={"fits": ("fit", "sigma", "slope"), "gen_summary": ("protocol", "sigma", "n", "n_gap")}),
    Claim("test_loss_scales_as_inverse_n",
          "With K proportional to n the test loss decays like 1/n up to log factors.", "secondary", check_test_rate,
          needs={"fits": ("fit", "slope"), "gen_summary": ("protocol", "K", "n_test_loss")}),
    Claim("one_step_init_enlarges_ntk_margin",
          "On the tokenized mixture one initialization step (P1: a W-step from P0; P2: a U-step from zero, then a "
          "W-step) gives a larger NTK margin than P0, hence a smaller realizability radius.", "reconstruction",
          _init_check("gamma", "higher"), needs={"init_effects": ("init", "init_eta", "metric", "diff", "low", "high")}),
    Claim("one_step_init_lowers_train_loss",
          "After K GD steps the one-step initializations P1 and P2 reach a lower training loss than P0.",
          "reconstruction", _init_check("train_loss", "lower"),
          needs={"init_effects": ("init", "init_eta", "metric", "diff", "low", "high")}),
    Claim("one_step_init_lowers_test_loss",
          "After K GD steps the one-step initializations P1 and P2 reach a lower test loss than P0.",
          "reconstruction", _init_check("test_loss", "lower"),
          needs={"init_effects": ("init", "init_eta", "metric", "diff", "low", "high")}),
]
