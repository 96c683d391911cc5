"""The brief's ten checkable claims (§7) as functions of the result tables.

Statistics: slopes are OLS fits in log-log coordinates over every (setting, seed) point
(scipy.stats.linregress), with a 95% Student-t interval  slope +- t_{0.975, dof} * stderr.  Where the theory
carries a known slowly varying factor (log^2 K of g(1/K)^2, the max over iid heads), the acceptance window is
widened by that factor's own local slope, fixed a priori and written in each check's ``detail``:

* W_MAX_HEADS = 0.1: slope of the max over H iid per-head Hessian norms, which enters ||hess Phi|| =
  max_h ||hess f_h|| / sqrt(H) (block-diagonal Hessian) [reconstruction];
* log^2 factors: the local slope of log^2(x) / x is -1 + 2 / ln x, so an envelope O(log^2 x / x) allows
  slope up to -1 + 2 / ln x at the geometric mean x of the fit;
* W_LOG_DISTANCE = 0.25: the O(1/ln K) correction to ||theta_K - theta0|| ~ ln K / gamma between K = 10 and
  1000 [reconstruction].
"""
from __future__ import annotations

import math

import numpy as np

from ...claims import Claim, Verdict, mean_and_stderr
from .theory import loglog_slope, t_quantile

W_MAX_HEADS = 0.1
W_LOG_DISTANCE = 0.25


class _TooFew(Exception):
    """Raised by _slope_ci when a slope has no finite confidence interval (fewer than 3 points)."""


def _slope_ci(x, y):
    """(slope, stderr, half-width of the 95% t interval, points); raises _TooFew without a finite interval."""
    slope, se, npts = loglog_slope(x, y)
    ci = t_quantile(npts - 2) * se
    if not math.isfinite(ci):
        raise _TooFew(f"only {npts} usable points for a log-log slope (>= 3 needed for an interval)")
    return slope, se, ci, npts


def _undecided_on_too_few(check):
    """A check whose slope has too few points is undecided (passed=None) with the reason, not failed."""
    def wrapped(tables, config):
        try:
            return check(tables, config)
        except _TooFew as e:
            return Verdict(None, detail=str(e))
    wrapped.__name__ = check.__name__
    wrapped.__doc__ = check.__doc__
    return wrapped


def _need(tables, name, cols):
    df = tables.get(name)
    if df is None or len(df) == 0:
        return None, f"table {name!r} is missing or empty"
    missing = [c for c in cols if c not in df.columns]
    if missing:
        return None, f"table {name!r} lacks columns {missing}"
    return df, ""


# ---- 1 -------------------------------------------------------------------------------------------------------
@_undecided_on_too_few
def check_hessian(tables, config) -> Verdict:
    df, why = _need(tables, "curvature", ["H", "init", "grad_norm", "hessian_norm"])
    if df is None:
        return Verdict(None, detail=why)
    parts, ok, value = [], True, None
    for init, g in df.groupby("init", sort=False):
        if g["H"].nunique() < 2:
            return Verdict(None, detail=f"init {init}: fewer than two head counts")
        sh, seh, th, nh = _slope_ci(g["H"], g["hessian_norm"])
        sg, seg, tg, ng = _slope_ci(g["H"], g["grad_norm"])
        ok_h = (-0.5 - th) <= sh <= (-0.5 + th + W_MAX_HEADS)
        ok_g = abs(sg) <= tg + W_MAX_HEADS
        ok &= bool(ok_h and ok_g)
        value = sh if value is None else value
        parts.append(f"{init}: hessian slope {sh:.3f} +- {th:.3f} (window [-0.5 - ci, -0.5 + ci + {W_MAX_HEADS}]) "
                     f"{'ok' if ok_h else 'FAIL'}; grad slope {sg:.3f} +- {tg:.3f} (|.| <= ci + {W_MAX_HEADS}) "
                     f"{'ok' if ok_g else 'FAIL'}; sqrt(H)||hess|| in [{(g['hessian_norm'] * np.sqrt(g['H'])).min():.3f}, "
                     f"{(g['hessian_norm'] * np.sqrt(g['H'])).max():.3f}]")
    return Verdict(ok, value=value, threshold=-0.5, detail="; ".join(parts))


# ---- 2 -------------------------------------------------------------------------------------------------------
@_undecided_on_too_few
def check_weak_convexity(tables, config) -> Verdict:
    df, why = _need(tables, "weak_convexity", ["H", "K", "train_loss", "lambda_min", "kappa", "beta2"])
    if df is None:
        return Verdict(None, detail=why)
    ratio = df["kappa"] / df["beta2"]
    ok_bound = bool((df["kappa"] <= df["beta2"]).all())
    parts = [f"lemma: max kappa/beta2 = {ratio.max():.3g} (<= 1 needed) {'ok' if ok_bound else 'FAIL'}"]
    ok_scal, slopes = True, []
    for K, g in df.groupby("K"):
        neg = g[g["lambda_min"] < 0]
        if neg["H"].nunique() < 2:
            parts.append(f"K={K}: no negative curvature at >= 2 head counts (defect 0; nothing to fit)")
            continue
        s, se, ci, _ = _slope_ci(neg["H"], -neg["lambda_min"] / neg["train_loss"])
        good = s <= -0.5 + ci + W_MAX_HEADS
        ok_scal &= bool(good)
        slopes.append(s)
        parts.append(f"K={K}: slope of -lambda_min/L vs H = {s:.3f} +- {ci:.3f} (<= -0.5 + ci + {W_MAX_HEADS}) "
                     f"{'ok' if good else 'FAIL'}")
    trend = []
    for H, g in df[df["lambda_min"] < 0].groupby("H"):
        if g["K"].nunique() >= 2:
            st, _, _, _ = _slope_ci(g["train_loss"], g["kappa"])
            trend.append(f"H={H}: d log kappa / d log L = {st:.2f}")
    parts.append("no-trend check (reported, not scored): " + (", ".join(trend) or "n/a"))
    if not slopes:
        return Verdict(ok_bound if not ok_bound else None, value=float(ratio.max()), threshold=1.0,
                       detail="; ".join(parts))
    return Verdict(ok_bound and ok_scal, value=float(ratio.max()), threshold=1.0, detail="; ".join(parts))


# ---- 3 -------------------------------------------------------------------------------------------------------
@_undecided_on_too_few
def check_rate(tables, config) -> Verdict:
    df, why = _need(tables, "rates", ["eta", "K", "train_loss"])
    if df is None:
        return Verdict(None, detail=why)
    late = df[df["K"] >= 100] if (df["K"] >= 100).sum() >= 3 else df[df["K"] >= df["K"].median()]
    x = late["eta"] * late["K"]
    if x.nunique() < 2:
        return Verdict(None, detail="fewer than two values of eta*K in the late phase")
    s, se, ci, npts = _slope_ci(x, late["train_loss"])
    xg = float(np.exp(np.log(x).mean()))
    w = 2.0 / math.log(xg)
    ok = (-1 - ci) <= s <= (-1 + w + ci)
    prod = late.assign(p=x * late["train_loss"]).groupby(["eta", "K"])["p"].mean()
    extra = ""
    if "monotone" in df and "eta_max_est" in df:
        runs = df.groupby(["eta", "seed"]).agg(mono=("monotone", "all"), emax=("eta_max_est", "first"))
        extra = ("; monotone loss in " + ", ".join(f"eta={e:g}: {int(g['mono'].sum())}/{len(g)} runs"
                                                  for e, g in runs.groupby(level=0)) +
                 f"; 1/rho estimate {runs['emax'].min():.3g}..{runs['emax'].max():.3g}")
    return Verdict(bool(ok), value=s, threshold=[-1 - ci, -1 + w + ci],
                   detail=f"slope of log L vs log(eta K) over {npts} late points (K >= {late['K'].min()}) = {s:.3f} "
                          f"+- {ci:.3f}; window [-1 - ci, -1 + 2/ln({xg:.0f}) + ci] (log^2 factor of the bound); "
                          f"eta K L per (eta, K): " + ", ".join(f"({e:g},{k}): {v:.3g}" for (e, k), v in prod.items()) + extra)


# ---- 4 -------------------------------------------------------------------------------------------------------
@_undecided_on_too_few
def check_bound(tables, config) -> Verdict:
    df, why = _need(tables, "bound", ["K", "train_loss", "bound"])
    if df is None:
        return Verdict(None, detail=why)
    fin = df[np.isfinite(df["bound"])]
    if len(fin) == 0:
        return Verdict(False, detail="no lambda on the grid reached min margin >= log K: realizability failed")
    r = fin["train_loss"] / fin["bound"]
    ok = bool((r <= 1).all()) and len(fin) == len(df)
    per_K = r.groupby(fin["K"]).agg(["mean", "max"])
    return Verdict(ok, value=float(r.max()), threshold=1.0,
                   detail=f"L^(theta_K)/B(K), B = 2 L^(theta_bar) + lambda^2/(eta K): " +
                          ", ".join(f"K={k}: mean {m['mean']:.3g}, max {m['max']:.3g}" for k, m in per_K.iterrows()) +
                          (f"; {len(df) - len(fin)} rows without a grid lambda" if len(fin) < len(df) else ""))


# ---- 5 -------------------------------------------------------------------------------------------------------
@_undecided_on_too_few
def check_distance(tables, config) -> Verdict:
    df, why = _need(tables, "rates", ["eta", "K", "seed", "distance_from_init"])
    if df is None:
        return Verdict(None, detail=why)
    base = df[df["eta"] == df["eta"].min()]
    Ks = sorted(base["K"].unique())
    decades = [k for k in Ks if 10 * k in Ks and 100 * k in Ks]
    if not decades:
        return Verdict(None, detail=f"needs checkpoints K, 10K, 100K at the smallest eta; have {Ks}")
    k0 = decades[0]
    piv = base.pivot_table(index="seed", columns="K", values="distance_from_init")
    d1, d2 = piv[10 * k0] - piv[k0], piv[100 * k0] - piv[10 * k0]
    r = d2 / d1
    m, se = mean_and_stderr(r)
    ci = t_quantile(len(r) - 1) * se if len(r) > 1 else float("inf")
    ok = abs(m - 1) <= ci + W_LOG_DISTANCE
    gam = ""
    b = tables.get("bound")
    if b is not None and len(b) and "gamma" in b:
        gam = f"; growth per ln K: {float((d2 / math.log(10)).mean()):.3g} vs 1/gamma = {1 / float(b['gamma'].mean()):.3g}"
    return Verdict(bool(ok) if math.isfinite(ci) else None, value=m, threshold=[1 - ci - W_LOG_DISTANCE, 1 + ci + W_LOG_DISTANCE],
                   detail=f"dD({10 * k0}->{100 * k0}) / dD({k0}->{10 * k0}) = {m:.3f} +- {ci:.3f} over {len(r)} seeds "
                          f"(1 = linear in log K; window 1 +- (ci + {W_LOG_DISTANCE})){gam}")


# ---- 6 -------------------------------------------------------------------------------------------------------
@_undecided_on_too_few
def check_lazy(tables, config) -> Verdict:
    df, why = _need(tables, "lazy", ["H", "test_dev", "train_loss", "train_loss_lin"])
    if df is None:
        return Verdict(None, detail=why)
    if df["H"].nunique() < 2:
        return Verdict(None, detail="fewer than two head counts")
    s, se, ci, npts = _slope_ci(df["H"], df["test_dev"])
    ok = s <= -0.5 + ci
    by_H = df.groupby("H").agg(dev=("test_dev", "mean"), L=("train_loss", "mean"), Llin=("train_loss_lin", "mean"))
    return Verdict(bool(ok), value=s, threshold=-0.5 + ci,
                   detail=f"slope of log mean|Phi - Phi_lin| vs log H = {s:.3f} +- {ci:.3f} (<= -0.5 + ci); per H "
                          + ", ".join(f"H={h}: dev {r.dev:.3g}, L/L_lin {r.L / r.Llin:.3f}" for h, r in by_H.iterrows()))


# ---- 7 -------------------------------------------------------------------------------------------------------
@_undecided_on_too_few
def check_realizability(tables, config) -> Verdict:
    df, why = _need(tables, "realizability", ["H", "K", "min_margin", "target_margin"])
    if df is None:
        return Verdict(None, detail=why)
    th = df[df["construction"] == "theory"] if "construction" in df else df
    if len(th) == 0 or "remainder" not in th or th["H"].nunique() < 2:
        return Verdict(None, detail="needs the theory construction at >= 2 head counts")
    s, se, ci, npts = _slope_ci(th["H"], th["remainder"])
    shrinks = s + ci < 0
    Hmax = th["H"].max()
    top = th[th["H"] == Hmax]
    ok_top = bool((top["min_margin"] >= top["target_margin"]).all())
    okH = th.groupby("H").apply(lambda g: bool((g["min_margin"] >= g["target_margin"]).all()), include_groups=False)
    smallest = next((int(h) for h, v in okH.items() if v and okH[okH.index >= h].all()), None)
    Hs = float(th["H_sufficient"].median()) if "H_sufficient" in th else float("nan")
    return Verdict(bool(shrinks and ok_top), value=float(top["min_margin"].min()),
                   threshold=float(top["target_margin"].iloc[0]),
                   detail=f"Taylor remainder max|Phi - Phi_lin| at theta_bar: slope vs H {s:.3f} +- {ci:.3f} "
                          f"(< 0 needed) {'ok' if shrinks else 'FAIL'}; min margin at H={Hmax}: "
                          f"{top['min_margin'].min():.3g} vs log K = {top['target_margin'].iloc[0]:.3g}; "
                          f"smallest grid H from which it holds: {smallest}; sufficient condition "
                          f"H >= beta2^2 lambda^2/gamma^2 = {Hs:.3g} (median)")


# ---- 8 -------------------------------------------------------------------------------------------------------
@_undecided_on_too_few
def check_margin(tables, config) -> Verdict:
    df, why = _need(tables, "margins", ["H", "zeta", "gamma", "gamma_U_sigma0", "gamma_U_theory"])
    if df is None:
        return Verdict(None, detail=why)
    pos = bool((df["gamma"] > 0).all())
    zs = sorted(df["zeta"].unique())
    z0 = config.zeta if config.zeta in zs else zs[0]
    g0 = df[df["zeta"] == z0]
    s, se, ci, _ = _slope_ci(g0["H"], g0["gamma"])
    flat = abs(s) <= ci + W_MAX_HEADS
    parts = [f"min gamma = {df['gamma'].min():.3g} (> 0) {'ok' if pos else 'FAIL'}",
             f"slope of log gamma vs log H at zeta={z0}: {s:.3f} +- {ci:.3f} (|.| <= ci + {W_MAX_HEADS}) "
             f"{'ok' if flat else 'FAIL'}"]
    grows = True
    if len(zs) >= 2:
        lo, hi = df[df["zeta"] == zs[0]]["gamma"], df[df["zeta"] == zs[-1]]["gamma"]
        (ml, sl), (mh, sh) = mean_and_stderr(lo), mean_and_stderr(hi)
        ratio = mh / ml
        se_r = ratio * math.sqrt((sl / ml) ** 2 + (sh / mh) ** 2)
        grows = ratio - 1.96 * se_r > 1
        parts.append(f"gamma(zeta={zs[-1]})/gamma(zeta={zs[0]}) = {ratio:.3f} +- {1.96 * se_r:.3f} (> 1 needed; "
                     f"U-part theory predicts {zs[-1] / zs[0]:.2f}) {'ok' if grows else 'FAIL'}")
    th_ok = bool((df["gamma_U_sigma0"] >= df["gamma_U_theory"] * (1 - 1e-6)).all())
    rel = (df["gamma_U_sigma0"] / df["gamma_U_theory"] - 1)
    parts.append(f"U-only margin at sigma=0 vs zeta S sqrt(T/2): relative excess in [{rel.min():.2e}, {rel.max():.2e}] "
                 f"(>= 0: the formula is the margin of one feasible direction) {'ok' if th_ok else 'FAIL'}")
    return Verdict(bool(pos and flat and grows and th_ok), value=float(df["gamma"].min()), threshold=0.0,
                   detail="; ".join(parts))


# ---- 9 / 10 ----------------------------------------------------------------------------------------------------
def _per_n(tables, protocol, col):
    df, why = _need(tables, "generalization", ["protocol", "n", col])
    if df is None:
        return None, why
    g = df[df["protocol"] == protocol]
    if g["n"].nunique() < 2:
        return None, f"protocol {protocol}: fewer than two n"
    return g, ""


@_undecided_on_too_few
def check_gap(tables, config) -> Verdict:
    g, why = _per_n(tables, "fixed_K", "gap")
    if g is None:
        return Verdict(None, detail=why)
    stats = g.groupby("n").agg(gap=("gap", "mean"), proxy=("stability_proxy", "mean"))
    se = g.groupby("n")["gap"].apply(lambda v: mean_and_stderr(v)[1])
    pos = stats[stats["gap"] > 0]
    if len(pos) < 2:
        return Verdict(None, detail=f"mean gap > 0 at fewer than two n: {stats['gap'].to_dict()}")
    s, sse, ci, npts = _slope_ci(pos.index.values, pos["gap"].values)
    ok_slope = abs(s + 1) <= ci
    ok_proxy = bool((stats["gap"] <= stats["proxy"]).all())
    detail = (f"slope of log mean gap vs log n = {s:.3f} +- {ci:.3f} over {npts} n with mean gap > 0 "
              f"(|slope + 1| <= ci) {'ok' if ok_slope else 'FAIL'}; gap <= stability proxy at every n "
              f"{'ok' if ok_proxy else 'FAIL'}; per n: " +
              ", ".join(f"n={n}: gap {r.gap:.3g} +- {se[n]:.2g}, n*gap {n * r.gap:.3g}, proxy {r.proxy:.3g}"
                        for n, r in stats.iterrows()))
    if "gamma" in g:
        gam = g.groupby("n")["gamma"].mean()
        detail += ("; reported, not scored: NTK margin gamma(n) at theta0 " +
                   ", ".join(f"n={n}: {v:.3g}" for n, v in gam.items()) + "; n*gap*gamma^2 " +
                   ", ".join(f"n={n}: {n * stats['gap'][n] * gam[n] ** 2:.3g}" for n in stats.index))
    return Verdict(bool(ok_slope and ok_proxy), value=s, threshold=-1.0, detail=detail)


@_undecided_on_too_few
def check_test_rate(tables, config) -> Verdict:
    g, why = _per_n(tables, "K_prop_n", "test_loss")
    if g is None:
        return Verdict(None, detail=why)
    s, se, ci, npts = _slope_ci(g["n"], g["test_loss"])
    Kg = float(np.exp(np.log(g["K"]).mean()))
    w = 2.0 / math.log(Kg)
    ok = s <= -1 + w + ci
    m = g.groupby("n")["test_loss"].mean()
    return Verdict(bool(ok), value=s, threshold=-1 + w + ci,
                   detail=f"slope of log test loss vs log n (K = {config.K_per_n} n) = {s:.3f} +- {ci:.3f}; envelope "
                          f"O(log^2 K / n) allows <= -1 + 2/ln({Kg:.0f}) + ci = {-1 + w + ci:.3f}; n*L_test: " +
                          ", ".join(f"n={n}: {n * v:.3g}" for n, v in m.items()))


CLAIMS = [
    Claim("hessian_shrinks_as_inverse_sqrt_heads",
          "||hess_theta Phi|| decays like H^-1/2 while ||grad_theta Phi|| does not depend on H.",
          "reconstruction", check_hessian),
    Claim("self_bounded_weak_convexity",
          "Along GD, lambda_min(hess L^) >= -(beta2/sqrt(H)) L^: kappa = -lambda_min sqrt(H)/L^ stays below the "
          "lemma's constant and the curvature defect per unit loss shrinks like H^-1/2.", "paper", check_weak_convexity),
    Claim("train_loss_scales_as_inverse_eta_K",
          "The training loss after K GD steps of size eta scales as 1/(eta K) (up to the log^2 factor of g(1/K)^2).",
          "secondary", check_rate),
    Claim("train_loss_below_bound",
          "L^(theta_K) <= B(K) = 2 L^(theta_bar) + ||theta_bar - theta0||^2/(eta K) with theta_bar = theta0 + lambda "
          "theta* (template constants a = 2, b = 1).", "reconstruction", check_bound),
    Claim("distance_grows_logarithmically",
          "||theta_K - theta0|| grows linearly in log K: equal increments per decade of K.", "reconstruction",
          check_distance),
    Claim("many_heads_train_lazily",
          "With more heads GD stays closer to its linearization: mean |Phi_K - Phi_lin_K| decays at least like H^-1/2.",
          "reconstruction", check_lazy),
    Claim("realizability_needs_enough_heads",
          "theta_bar = theta0 + lambda theta*, lambda = 2(log K + B0)/gamma, reaches margin >= log K once H is large: "
          "the Taylor remainder shrinks with H and the margin holds at the largest H.", "reconstruction",
          check_realizability),
    Claim("ntk_margin_positive_and_head_independent",
          "On the tokenized mixture at P0 the NTK margin is positive, flat in H, and grows with zeta "
          "(U-part: zeta S sqrt(T/2)).", "paper", check_margin),
    Claim("generalization_gap_shrinks_as_inverse_n",
          "The test-train gap after K GD steps shrinks like 1/n and stays below the stability proxy.", "secondary",
          check_gap),
    Claim("test_loss_scales_as_inverse_n",
          "With K proportional to n the test loss decays like 1/n up to log factors.", "secondary", check_test_rate),
]
