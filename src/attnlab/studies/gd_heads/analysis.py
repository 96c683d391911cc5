"""Derived numbers, computed once in ``finalize`` and stored as tables; claims, figures and the ledger read them.

Tables added to the run (documented in study.tables_doc):

* ``fits``: one row per fitted log-log slope: fit, group, K, zeta, sigma, W0_scale (NaN where they do not
  apply), slope, se, low, high (the lab's 99 % Student-t interval, attnlab.claims.slope_fit), n_points, x_geo
  (geometric mean of x: the log^2 x / x envelope allows a local slope -1 + 2/ln x_geo there).
* ``summary``: one row per named scalar: quantity, value, se, low, high (99 %: value -+ Z se where se exists).
* ``gen_summary``: per protocol, sigma, n: gap, gap_se, gap_norm = gap n / (eta sum_k L^(theta_k)) (the
  stability form, brief §4d), proxy, test_loss, test_loss_se, n_test_loss, train_loss.
* ``init_effects``: per one-step init (P1/P2) and W-step size: the paired (same seed) difference to P0 of
  gamma, attn_relevant, B0, radius, train_loss, test_loss: diff, se, low, high (99 %), and the P0 / one-step means.
* ``init_sample_effects``: the same differences (train_loss, test_loss, test_error, gamma, B0) for the rows of
  ``init_sample``: per training-set size n and step_n (the one step's gradient on an independent sample of that
  size; 0 = on the training set), against P0 on the same n examples.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...claims import Z, mean_and_stderr, slope_fit

NAN = float("nan")


def _fit_row(fit: str, x, y, group: str = "", **keys) -> dict:
    f = slope_fit(x, y, log_x=True, log_y=True)
    xs = np.asarray(x, float)
    xs = xs[np.isfinite(xs) & (xs > 0)]
    row = dict(fit=fit, group=group, K=NAN, zeta=NAN, sigma=NAN, W0_scale=NAN)
    row.update({k: float(v) for k, v in keys.items()})
    row.update(slope=f.slope, se=f.se, low=f.low, high=f.high, n_points=f.n,
               x_geo=float(np.exp(np.log(xs).mean())) if len(xs) else NAN)
    return row


def _scalar(quantity: str, value: float, se: float = NAN) -> dict:
    lo, hi = (value - Z * se, value + Z * se) if math.isfinite(se) else (NAN, NAN)
    return dict(quantity=quantity, value=float(value), se=float(se), low=lo, high=hi)


def _mean_row(quantity: str, values) -> dict:
    m, se = mean_and_stderr(values)
    return _scalar(quantity, m, se)


def fits_and_summary(tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    fits, summ = [], []
    c = tables.get("curvature")
    if c is not None and len(c):
        for W0, g in c.groupby("W0_scale"):
            fits.append(_fit_row("hessian_vs_H", g["H"], g["hessian_norm"], f"W0={W0:g}", W0_scale=W0))
            fits.append(_fit_row("grad_vs_H", g["H"], g["grad_norm"], f"W0={W0:g}", W0_scale=W0))
        summ.append(_scalar("beta2_theta0_max", float((c["hessian_norm"] * np.sqrt(c["H"])).max())))
    w = tables.get("weak_convexity")
    if w is not None and len(w):
        summ.append(_scalar("kappa_over_beta2_max", float((w["kappa"] / w["beta2"]).max())))
        for K, g in w.groupby("K"):
            neg = g[g["lambda_min"] < 0]
            if neg["H"].nunique() >= 2:
                fits.append(_fit_row("defect_vs_H", neg["H"], -neg["lambda_min"] / neg["train_loss"], f"K={K}", K=K))
        for H, g in w[w["lambda_min"] < 0].groupby("H"):
            if g["K"].nunique() >= 2:
                fits.append(_fit_row("kappa_vs_loss", g["train_loss"], g["kappa"], f"H={H}"))
    r = tables.get("rates")
    if r is not None and len(r):
        late = r[r["K"] >= 100] if (r["K"] >= 100).sum() >= 3 else r[r["K"] >= r["K"].median()]
        fits.append(_fit_row("rate_late", late["eta"] * late["K"], late["train_loss"], f"K>={late['K'].min()}"))
        prod = late["eta"] * late["K"] * late["train_loss"]
        summ.append(_scalar("etaK_loss_late_geomean", float(np.exp(np.log(prod).mean()))))
        for (eta, K), g in r.assign(p=r["eta"] * r["K"] * r["train_loss"]).groupby(["eta", "K"]):
            summ.append(_mean_row(f"etaK_loss_eta{eta:g}_K{K}", g["p"]))
        base = r[r["eta"] == r["eta"].min()]
        Ks = sorted(base["K"].unique())
        decades = [k for k in Ks if 10 * k in Ks and 100 * k in Ks]
        if decades:
            k0 = decades[0]
            piv = base.pivot_table(index="seed", columns="K", values="distance_from_init")
            d1, d2 = piv[10 * k0] - piv[k0], piv[100 * k0] - piv[10 * k0]
            summ.append(_mean_row("distance_decade_ratio", d2 / d1))
            summ.append(_mean_row("distance_growth_per_lnK", d2 / math.log(10)))
        summ.append(_scalar("monotone_fraction", float(r.groupby(["eta", "seed"])["monotone"].all().mean())))
    b = tables.get("bound")
    if b is not None and len(b):
        fin = b[np.isfinite(b["bound"])]
        summ.append(_scalar("bound_ratio_max", float((fin["train_loss"] / fin["bound"]).max()) if len(fin) else NAN))
        summ.append(_scalar("bound_missing_rows", float(len(b) - len(fin))))
        summ.append(_mean_row("inverse_gamma", 1.0 / b["gamma"]))
        for K, g in fin.groupby("K"):
            summ.append(_scalar(f"bound_ratio_max_K{K}", float((g["train_loss"] / g["bound"]).max())))
    lz = tables.get("lazy")
    if lz is not None and len(lz) and lz["H"].nunique() >= 2:
        fits.append(_fit_row("lazy_dev_vs_H", lz["H"], lz["test_dev"]))
        for H, g in lz.groupby("H"):
            summ.append(_scalar(f"lazy_loss_ratio_H{H}", float(g["train_loss"].mean() / g["train_loss_lin"].mean())))
    rz = tables.get("realizability")
    if rz is not None and len(rz) and "construction" in rz:
        th = rz[rz["construction"] == "theory"]
        if len(th) and th["H"].nunique() >= 2:
            fits.append(_fit_row("remainder_vs_H", th["H"], th["remainder"]))
            Hmax = th["H"].max()
            top = th[th["H"] == Hmax]
            summ.append(_scalar("realizability_margin_excess_top_H", float((top["min_margin"] - top["target_margin"]).min())))
            ok = th.groupby("H").apply(lambda g: bool((g["min_margin"] >= g["target_margin"]).all()),
                                       include_groups=False)
            smallest = next((float(h) for h, v in ok.items() if v and ok[ok.index >= h].all()), NAN)
            summ.append(_scalar("realizability_smallest_H", smallest))
            summ.append(_scalar("realizability_H_sufficient_median", float(th["H_sufficient"].median())))
    m = tables.get("margins")
    if m is not None and len(m):
        summ.append(_scalar("ntk_margin_min", float(m["gamma"].min())))
        for z, g in m.groupby("zeta"):
            if g["H"].nunique() >= 2:
                fits.append(_fit_row("margin_vs_H", g["H"], g["gamma"], f"zeta={z:g}", zeta=z))
        zs = sorted(m["zeta"].unique())
        if len(zs) >= 2:
            lo, hi = m[m["zeta"] == zs[0]]["gamma"], m[m["zeta"] == zs[-1]]["gamma"]
            (ml, sl), (mh, sh) = mean_and_stderr(lo), mean_and_stderr(hi)
            ratio = mh / ml
            summ.append(_scalar("margin_zeta_ratio", ratio, ratio * math.hypot(sl / ml, sh / mh)))
            summ.append(_scalar("margin_zeta_ratio_theory", zs[-1] / zs[0]))
        rel = m["gamma_U_sigma0"] / m["gamma_U_theory"] - 1
        summ.append(_scalar("U_margin_sigma0_excess_min", float(rel.min())))
        summ.append(_scalar("U_margin_sigma0_excess_max", float(rel.max())))
    return pd.DataFrame(fits), pd.DataFrame(summ)


def generalization_summary(tables) -> tuple[pd.DataFrame, list[dict]]:
    g = tables.get("generalization")
    if g is None or len(g) == 0:
        return pd.DataFrame(), []
    g = g.assign(gap_norm=g["gap"] * g["n"] / (g["eta"] * g["sum_loss"]))
    rows, fits = [], []
    for (protocol, sigma, n), h in g.groupby(["protocol", "sigma", "n"]):
        gap, gap_se = mean_and_stderr(h["gap"])
        tl, tl_se = mean_and_stderr(h["test_loss"])
        rows.append(dict(protocol=protocol, sigma=sigma, n=n, K=int(h["K"].iloc[0]), gap=gap, gap_se=gap_se,
                         gap_norm=float(h["gap_norm"].mean()), gap_norm_se=mean_and_stderr(h["gap_norm"])[1],
                         proxy=float(h["stability_proxy"].mean()), test_loss=tl, test_loss_se=tl_se,
                         n_test_loss=n * tl, n_gap=n * gap, train_loss=float(h["train_loss"].mean()),
                         gamma=float(h["gamma"].mean()), seeds=len(h)))
    for (protocol, sigma), h in g.groupby(["protocol", "sigma"]):
        if h["n"].nunique() < 2:
            continue
        if protocol == "fixed_K":
            fits.append(_fit_row("gap_vs_n", h["n"], h["gap"], f"sigma={sigma:g}", sigma=sigma))
            fits.append(_fit_row("gap_over_sumloss_vs_n", h["n"], h["gap"] / (h["eta"] * h["sum_loss"]),
                                 f"sigma={sigma:g}", sigma=sigma))
            fits.append(_fit_row("gap_norm_vs_n", h["n"], h["gap_norm"], f"sigma={sigma:g}", sigma=sigma))
        else:
            fits.append(_fit_row("test_loss_vs_n", h["n"], h["test_loss"], f"K={h['K'].min()}..{h['K'].max()}",
                                 sigma=sigma))
    return pd.DataFrame(rows), fits


INIT_METRICS = ("gamma", "attn_relevant", "B0", "radius", "train_loss", "test_loss")


def _paired_to_P0(g: pd.DataFrame, p0: pd.DataFrame, metrics=INIT_METRICS, **keys) -> list[dict]:
    """Paired (same seed: same data and U draw) differences of the rows g to the P0 rows p0, both indexed by seed."""
    seeds = g.index.intersection(p0.index)
    rows = []
    for metric in metrics:
        d = g.loc[seeds, metric] - p0.loc[seeds, metric]
        m, se = mean_and_stderr(d)
        rows.append(dict(**keys, metric=metric, diff=m, se=se, low=m - Z * se, high=m + Z * se,
                         mean_P0=float(p0.loc[seeds, metric].mean()), mean_init=float(g.loc[seeds, metric].mean()),
                         seeds=len(seeds)))
    return rows


def init_effects(tables) -> pd.DataFrame:
    """Paired (same seed, same data and U draw) differences of each one-step init to P0 (table initialization)."""
    t = tables.get("initialization")
    if t is None or len(t) == 0:
        return pd.DataFrame()
    p0 = t[t["init"] == "P0"].set_index("seed")
    rows = []
    for (init, ie), g in t[t["init"] != "P0"].groupby(["init", "init_eta"]):
        rows += _paired_to_P0(g.set_index("seed"), p0, init=init, init_eta=ie)
    return pd.DataFrame(rows)


def init_sample_effects(tables) -> pd.DataFrame:
    """The same paired differences for the rows of init_sample: per training-set size n and one-step sample
    step_n (0 = the training set), against P0 on the same n examples (from either table)."""
    s = tables.get("init_sample")
    if s is None or len(s) == 0:
        return pd.DataFrame()
    both = pd.concat([t for t in (tables.get("initialization"), s) if t is not None and "n" in t], ignore_index=True)
    p0_all = both[both["init"] == "P0"]
    rows = []
    for (n, step_n, init, ie), g in s[s["init"] != "P0"].groupby(["n", "step_n", "init", "init_eta"]):
        p0 = p0_all[p0_all["n"] == n].drop_duplicates("seed").set_index("seed")
        rows += _paired_to_P0(g.set_index("seed"), p0, ("train_loss", "test_loss", "test_error", "gamma", "B0"),
                              n=int(n), step_n=int(step_n), init=init, init_eta=ie)
    return pd.DataFrame(rows)


def analyze(config, tables):
    """finalize: the task tables plus fits, summary, gen_summary and init_effects."""
    out = dict(tables)
    fits, summ = fits_and_summary(tables)
    gen, gen_fits = generalization_summary(tables)
    if gen_fits:
        fits = pd.concat([fits, pd.DataFrame(gen_fits)], ignore_index=True)
    if len(fits):
        out["fits"] = fits
    if len(summ):
        out["summary"] = summ
    if len(gen):
        out["gen_summary"] = gen
    eff = init_effects(tables)
    if len(eff):
        out["init_effects"] = eff
    eff = init_sample_effects(tables)
    if len(eff):
        out["init_sample_effects"] = eff
    return out
