"""Derived numbers of the selectivity study, computed once in ``finalize`` and stored as tables.

Claims, figures and the paper ledger read these tables; nothing here is recomputed elsewhere.

* ``critical_n``         Fig. 2c: the KS critical N per (model, L, alpha) (per-head means averaged over chunks).
* ``distance_slope``     Fig. 2a: per head (or synthetic case) the log-log slope of d~ against L at N = N_fixed.
* ``distance_plateau``   Fig. 2b: per head, r_late = d(N_hi)/d(N_mid), r_early = d(N_mid)/d(N_lo) and
                         diff = |log r_late| - |log r_early| (< 0: a plateau).
* ``separability_summary`` Fig. 3: per (model, N) the median, mean and standard error of N_s/N over heads.
* ``gradient_summary``   Fig. 4: per (model, eps) the log-log slope of g_max over T <= 0.1 (with its 99 %
                         interval), g_max at T = 0.1, max g_max over T >= 1 and the drop between them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...claims import mean_and_stderr, slope_fit

SYNTH = "synthetic"


def critical_n_table(scan: pd.DataFrame | None, alphas, expectation: str = "mc") -> pd.DataFrame:
    """Fig. 2c: for each (model, L), the smallest N on the grid at which the per-head mean true distances and the
    per-head mean expected distances (column d_expected_<expectation>: Monte-Carlo or main term) are not told
    apart by a two-sample KS test (p > alpha).  Per-head values are averaged over text chunks first.
    critical_N = NaN when every N on the grid differs."""
    cols = ["model", "L", "critical_N", "alpha", "critical_frac", "p_value", "n_heads", "N_max_scanned"]
    if scan is None or len(scan) == 0:
        return pd.DataFrame(columns=cols)
    col = f"d_expected_{expectation}"
    per_head = scan.groupby(["model", "L", "N", "layer", "head"], as_index=False)[["d_sum", col]].mean()
    rows = []
    for (model, L), g in per_head.groupby(["model", "L"]):
        pvals = []
        for N, gn in g.groupby("N"):
            a, b = gn["d_sum"].dropna().to_numpy(), gn[col].dropna().to_numpy()
            p = float(stats.ks_2samp(a, b).pvalue) if len(a) > 1 and len(b) > 1 else float("nan")
            pvals.append((int(N), p, len(a)))
        for alpha in alphas:
            hit = [(N, p, n) for N, p, n in pvals if p > alpha]
            N, p, n = hit[0] if hit else (float("nan"), float("nan"), pvals[0][2] if pvals else 0)
            rows.append(dict(model=model, L=int(L), critical_N=float(N), alpha=float(alpha),
                             critical_frac=float(N) / L, p_value=p, n_heads=int(n),
                             N_max_scanned=int(max(q[0] for q in pvals)) if pvals else 0))
    return pd.DataFrame(rows, columns=cols)


def distance_slopes(distance: pd.DataFrame | None, synthetic: pd.DataFrame | None, N: int) -> pd.DataFrame:
    """Per (model, chunk, layer, head) the least-squares slope of log d~ (reading B) on log L at N; the synthetic
    cases (model "synthetic", head = rep) from the synthetic_distance table."""
    rows = []
    if synthetic is not None and len(synthetic):
        for rep, g in synthetic[synthetic["N"] == N].groupby("rep"):
            f = slope_fit(g["L"], g["d_sum"], log_x=True, log_y=True)
            rows.append(dict(model=SYNTH, chunk=0, layer=0, head=int(rep), N=N, slope=f.slope, n_L=f.n))
    if distance is not None and len(distance):
        d = distance[(distance["sweep"] == "L") & (distance["N"] == N)]
        for (m, c, li, h), g in d.groupby(["model", "chunk", "layer", "head"]):
            f = slope_fit(g["L"], g["d_sum"], log_x=True, log_y=True)
            if f.n >= 2:
                rows.append(dict(model=m, chunk=int(c), layer=int(li), head=int(h), N=N, slope=f.slope, n_L=f.n))
    return pd.DataFrame(rows, columns=["model", "chunk", "layer", "head", "N", "slope", "n_L"])


def distance_plateau(distance: pd.DataFrame | None) -> pd.DataFrame:
    """Per head of the N sweep: r_late = d(N_hi)/d(N_mid), r_early = d(N_mid)/d(N_lo), N_mid = 20 when scanned."""
    cols = ["model", "chunk", "layer", "head", "L", "N_lo", "N_mid", "N_hi", "r_late", "r_early", "diff"]
    if distance is None or not len(distance):
        return pd.DataFrame(columns=cols)
    rows = []
    d = distance[distance["sweep"] == "N"]
    for model, g in d.groupby("model"):
        Ns = sorted(g["N"].unique())
        if len(Ns) < 3:
            continue
        lo, hi = Ns[0], Ns[-1]
        mid = 20 if 20 in Ns else Ns[len(Ns) // 2]
        p = g.pivot_table(index=["chunk", "layer", "head"], columns="N", values="d_sum")
        p = p[(p[[lo, mid, hi]] > 0).all(axis=1)]
        L = int(g["L"].max())
        for (c, li, h), r in p.iterrows():
            late, early = r[hi] / r[mid], r[mid] / r[lo]
            rows.append(dict(model=model, chunk=int(c), layer=int(li), head=int(h), L=L, N_lo=int(lo), N_mid=int(mid),
                             N_hi=int(hi), r_late=float(late), r_early=float(early),
                             diff=float(abs(np.log(late)) - abs(np.log(early)))))
    return pd.DataFrame(rows, columns=cols)


def separability_summary(sep: pd.DataFrame | None) -> pd.DataFrame:
    """Per (model, N): median, mean and standard error of the per-head N_s/N (chunks and heads pooled)."""
    cols = ["model", "N", "median", "mean", "se", "n_heads"]
    if sep is None or not len(sep):
        return pd.DataFrame(columns=cols)
    rows = []
    for (m, N), g in sep.groupby(["model", "N"]):
        x = g["ratio"].dropna()
        mu, se = mean_and_stderr(x)
        rows.append(dict(model=m, N=int(N), median=float(x.median()), mean=mu, se=se, n_heads=int(len(x))))
    return pd.DataFrame(rows, columns=cols)


def gradient_summary(grad: pd.DataFrame | None) -> pd.DataFrame:
    """Per (model, eps): slope of log g_max on log T over T <= 0.1 (99 % interval), g_max at the largest T <= 0.1,
    the largest g_max over T >= 1, and drop = the first over the second (the paper: about 100x on GPT-2)."""
    cols = ["model", "eps", "slope_small_T", "slope_low", "slope_high", "g_at_0_1", "g_max_T_ge_1", "drop"]
    if grad is None or not len(grad):
        return pd.DataFrame(columns=cols)
    rows = []
    for (m, e), g in grad.groupby(["model", "eps"]):
        small = g[g["T"] <= 0.1].sort_values("T")
        f = slope_fit(small["T"], small["g_max"], log_x=True, log_y=True)
        hi = g[g["T"] >= 1.0]
        g01 = float(small["g_max"].iloc[-1]) if len(small) else float("nan")
        ghi = float(hi["g_max"].max()) if len(hi) else float("nan")
        rows.append(dict(model=m, eps=float(e), slope_small_T=f.slope, slope_low=f.low, slope_high=f.high,
                         g_at_0_1=g01, g_max_T_ge_1=ghi, drop=g01 / ghi if ghi > 0 else float("nan")))
    return pd.DataFrame(rows, columns=cols)


def finalize_tables(config, tables: dict) -> dict:
    """Add every derived table to the concatenated task tables."""
    t = dict(tables)
    t["critical_n"] = critical_n_table(t.get("critical_scan"), config.ks_alphas, config.critical_expectation)
    t["distance_slope"] = distance_slopes(t.get("distance"), t.get("synthetic_distance"), config.N_fixed)
    t["distance_plateau"] = distance_plateau(t.get("distance"))
    t["separability_summary"] = separability_summary(t.get("separability"))
    t["gradient_summary"] = gradient_summary(t.get("gradient"))
    return t
