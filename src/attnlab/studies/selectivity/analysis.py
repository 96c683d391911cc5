"""Derived numbers of the selectivity study, computed once in ``finalize`` and stored as tables.

Claims, figures and the paper ledger read these tables; nothing here is recomputed elsewhere.

* ``critical_tests``     Fig. 2c: per (model, L, N, reading, expectation) the KS test of the paper, a paired
                         Wilcoxon test on the same heads, and effect sizes (per-head means pooled over chunks).
* ``critical_n_fraction`` the headline table: critical N and critical N / L per (model, L, alpha, reading,
                         expectation, test); ``critical_n``: its deciding rows (the config's reading/expectation, KS).
* ``distance_slope``     Fig. 2a: per head (or synthetic case) the log-log slope of d~ against L at N = N_fixed.
* ``distance_plateau``   Fig. 2b: per head, r_late = d(N_hi)/d(N_mid), r_early = d(N_mid)/d(N_lo) and
                         diff = |log r_late| - |log r_early| (< 0: a plateau).
* ``separability_summary`` Fig. 3: per (model, N) the median, mean, standard error and max of N_s/N over heads,
                         beside the means of Theorem 2's bounds (our reconstruction).
* ``gradient_summary``   Fig. 4: per (model, eps) the log-log slope of g_max over T <= 0.1 (with its 99 %
                         interval), g_max at T = 0.1, max g_max over T >= 1 and the drop between them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...claims import Z, mean_and_stderr, slope_fit

SYNTH = "synthetic"


READINGS = ("A", "B")
EXPECTATIONS = ("main", "mc")
TESTS = {"ks": "ks_p", "paired": "paired_p"}


def _columns(reading: str, expectation: str) -> tuple[str, str]:
    """(true, expected) columns of critical_scan for a reading and an expectation: the main term sits beside the
    true d~ of the crit_rows rows, the Monte-Carlo expectation beside the true d~ of the crit_mc_rows rows."""
    if expectation == "main":
        return f"d_{reading}", f"main_{reading}"
    return f"d_{reading}_mc_rows", f"mc_{reading}"


def compare_heads(a, b) -> dict:
    """Two samples of per-head values, paired by head: the paper's two-sample KS test (D, p), the paired
    Wilcoxon signed-rank test of a - b (p; 1 when every pair is equal), and effect sizes: the mean over heads of
    log(a / b) with its standard error, and Cohen's d_z = mean(a - b) / sd(a - b)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    out = dict(n_heads=int(a.size), ks_D=np.nan, ks_p=np.nan, paired_p=np.nan, log_ratio=np.nan,
               log_ratio_se=np.nan, dz=np.nan)
    if a.size < 2:
        return out
    ks = stats.ks_2samp(a, b)
    diff = a - b
    if np.all(diff == 0):
        pp = 1.0
    else:
        pp = float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)
    pos = (a > 0) & (b > 0)
    lr, lr_se = mean_and_stderr(np.log(a[pos] / b[pos]))
    sd = float(diff.std(ddof=1))
    out.update(ks_D=float(ks.statistic), ks_p=float(ks.pvalue), paired_p=pp, log_ratio=lr, log_ratio_se=lr_se,
               dz=float(diff.mean() / sd) if sd > 0 else np.nan)
    return out


def critical_tests(scan: pd.DataFrame | None) -> pd.DataFrame:
    """Per (model, L, N, reading, expectation): the tests of compare_heads on the per-head means of the true and
    the expected d~ (rows averaged per chunk in the task, then over the chunks); an (N, expectation) without values
    (the bisection points carry the main term only) has no row."""
    cols = ["model", "L", "N", "reading", "expectation", "n_heads", "ks_D", "ks_p", "paired_p", "log_ratio",
            "log_ratio_se", "dz", "n_chunks"]
    if scan is None or not len(scan):
        return pd.DataFrame(columns=cols)
    vals = [c for c in scan.columns if c not in ("model", "chunk", "layer", "head", "L", "N")]
    per_head = scan.groupby(["model", "L", "N", "layer", "head"], as_index=False)[vals].mean()
    n_chunks = scan.groupby("model")["chunk"].nunique()
    rows = []
    for (m, L, N), g in per_head.groupby(["model", "L", "N"]):
        for r in READINGS:
            for e in EXPECTATIONS:
                t, x = _columns(r, e)
                if t not in g or x not in g:
                    continue
                res = compare_heads(g[t], g[x])
                if res["n_heads"] < 2:                       # not computed at this N (bisection points: main only)
                    continue
                rows.append(dict(model=m, L=int(L), N=int(N), reading=r, expectation=e, **res,
                                 n_chunks=int(n_chunks[m])))
    return pd.DataFrame(rows, columns=cols)


def critical_n_fraction(tests: pd.DataFrame, alphas, reading: str, expectation: str) -> pd.DataFrame:
    """Fig. 2c's headline table: per (model, L, alpha, reading, expectation, test) the smallest scanned N whose
    p-value exceeds alpha (KS: the paper's test; paired: Wilcoxon on the same heads), its fraction of L, and the
    effect size there (mean log(true/expected) with its 99 % interval).  NaN when every scanned N differs (the
    effect size is then the one at the largest scanned N).  N_below: the largest scanned N below it (it rejects);
    resolution = critical_N - N_below (1 once the task's bisection has closed the bracket).  decides: the reading
    and expectation of the config with the KS test (what the claims read)."""
    cols = ["model", "L", "alpha", "reading", "expectation", "test", "critical_N", "fraction", "p_value", "ks_D",
            "log_ratio", "log_ratio_low", "log_ratio_high", "n_heads", "n_chunks", "N_max_scanned", "N_below",
            "resolution", "decides"]
    if tests is None or not len(tests):
        return pd.DataFrame(columns=cols)
    rows = []
    for (m, L, r, e), g in tests.groupby(["model", "L", "reading", "expectation"]):
        g = g.sort_values("N")
        for alpha in alphas:
            for test, pcol in TESTS.items():
                hit = g[g[pcol] > alpha]
                at = hit.iloc[0] if len(hit) else g.iloc[-1]
                N = float(at["N"]) if len(hit) else np.nan
                below = g.loc[g["N"] < N, "N"] if len(hit) else g["N"].iloc[:0]
                N_below = float(below.max()) if len(below) else np.nan
                rows.append(dict(model=m, L=int(L), alpha=float(alpha), reading=r, expectation=e, test=test,
                                 critical_N=N, fraction=N / L, p_value=float(at[pcol]) if len(hit) else np.nan,
                                 ks_D=float(at["ks_D"]), log_ratio=float(at["log_ratio"]),
                                 log_ratio_low=float(at["log_ratio"] - Z * at["log_ratio_se"]),
                                 log_ratio_high=float(at["log_ratio"] + Z * at["log_ratio_se"]),
                                 n_heads=int(at["n_heads"]), n_chunks=int(at["n_chunks"]),
                                 N_max_scanned=int(g["N"].max()), N_below=N_below, resolution=N - N_below,
                                 decides=bool(r == reading and e == expectation and test == "ks")))
    return pd.DataFrame(rows, columns=cols)


def critical_n_table(frac: pd.DataFrame) -> pd.DataFrame:
    """The deciding rows of critical_n_fraction in the short form the claims and Fig. 2c read."""
    cols = ["model", "L", "critical_N", "alpha", "critical_frac", "p_value", "n_heads", "N_max_scanned",
            "resolution", "reading", "expectation"]
    if frac is None or not len(frac):
        return pd.DataFrame(columns=cols)
    d = frac[frac["decides"]].rename(columns={"fraction": "critical_frac"})
    return d[cols].reset_index(drop=True)


def distance_slopes(distance: pd.DataFrame | None, synthetic: pd.DataFrame | None, N: int,
                    reading: str = "B") -> pd.DataFrame:
    """Per (model, chunk, layer, head) the least-squares slope of log d~ (the given reading: B = d_sum, A = d_norm)
    on log L at N; the synthetic cases (model "synthetic", head = rep) from the synthetic_distance table."""
    col = "d_sum" if reading == "B" else "d_norm"
    rows = []
    if synthetic is not None and len(synthetic):
        for rep, g in synthetic[synthetic["N"] == N].groupby("rep"):
            f = slope_fit(g["L"], g[col], log_x=True, log_y=True)
            rows.append(dict(model=SYNTH, chunk=0, layer=0, head=int(rep), N=N, slope=f.slope, n_L=f.n))
    if distance is not None and len(distance):
        d = distance[(distance["sweep"] == "L") & (distance["N"] == N)]
        for (m, c, li, h), g in d.groupby(["model", "chunk", "layer", "head"]):
            f = slope_fit(g["L"], g[col], log_x=True, log_y=True)
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
    """Per (model, N): median, mean, standard error and max of the per-head N_s/N (chunks and heads pooled), and,
    where the table has them, the means over heads of Theorem 2's bounds in our reconstruction (lower, count_lower,
    upper) and the fraction of heads whose N_s/N exceeds the reconstructed upper form."""
    cols = ["model", "N", "median", "mean", "se", "max", "n_heads", "lower_mean", "count_lower_mean", "upper_mean",
            "frac_above_upper"]
    if sep is None or not len(sep):
        return pd.DataFrame(columns=cols)
    rows = []
    for (m, N), g in sep.groupby(["model", "N"]):
        x = g["ratio"].dropna()
        mu, se = mean_and_stderr(x)
        row = dict(model=m, N=int(N), median=float(x.median()), mean=mu, se=se, max=float(x.max()),
                   n_heads=int(len(x)))
        if "upper" in g:
            ok = g["ratio"].notna()
            row.update(lower_mean=float(g.loc[ok, "lower"].mean()), count_lower_mean=float(g.loc[ok, "count_lower"].mean()),
                       upper_mean=float(g.loc[ok, "upper"].mean()),
                       frac_above_upper=float((g.loc[ok, "ratio"] > g.loc[ok, "upper"]).mean()))
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


AGGS = {"row_mean": "g_max", "row_max": "g_rowmax"}


def gradient_summary(grad: pd.DataFrame | None, logits: str = "raw", agg: str = "row_mean") -> pd.DataFrame:
    """Per (model, logits, agg, eps): the slope of log g on log T over T <= 0.1 (99 % interval), g_times_4T = the
    geometric mean over T <= 0.1 of g / (1/(4T)) (1: on the paper's curve), g at the largest T <= 0.1, the
    largest g over T >= 1, and drop = the first over the second (the paper: about 100x on GPT-2).  agg row_mean
    reads g_max (max over heads of the token mean, Alg. 5), row_max reads g_rowmax.  decides: the config's
    candidate (synthetic logits never decide)."""
    cols = ["model", "logits", "agg", "eps", "slope_small_T", "slope_low", "slope_high", "g_times_4T", "g_at_0_1",
            "g_max_T_ge_1", "drop", "decides"]
    if grad is None or not len(grad):
        return pd.DataFrame(columns=cols)
    grad = grad.copy()
    if "logits" not in grad:
        grad["logits"] = "raw"
    if "g_rowmax" not in grad:
        grad["g_rowmax"] = grad["g_max"]
    rows = []
    for (m, lg, e), g0 in grad.groupby(["model", "logits", "eps"]):
        g0 = g0.groupby("T", as_index=False)[["g_max", "g_rowmax"]].max()   # chunks: the max, as over heads
        for a, col in AGGS.items():
            small = g0[g0["T"] <= 0.1].sort_values("T")
            f = slope_fit(small["T"], small[col], log_x=True, log_y=True)
            pos = small[small[col] > 0]
            track = float(np.exp(np.mean(np.log(pos[col] * 4 * pos["T"])))) if len(pos) else float("nan")
            hi = g0[g0["T"] >= 1.0]
            g01 = float(small[col].iloc[-1]) if len(small) else float("nan")
            ghi = float(hi[col].max()) if len(hi) else float("nan")
            rows.append(dict(model=m, logits=lg, agg=a, eps=float(e), slope_small_T=f.slope, slope_low=f.low,
                             slope_high=f.high, g_times_4T=track, g_at_0_1=g01, g_max_T_ge_1=ghi,
                             drop=g01 / ghi if ghi > 0 else float("nan"),
                             decides=bool(lg == logits and a == agg)))
    return pd.DataFrame(rows, columns=cols)


def finalize_tables(config, tables: dict) -> dict:
    """Add every derived table to the concatenated task tables."""
    t = dict(tables)
    t["critical_tests"] = critical_tests(t.get("critical_scan"))
    t["critical_n_fraction"] = critical_n_fraction(t["critical_tests"], config.ks_alphas, config.distance_reading,
                                                   config.critical_expectation)
    t["critical_n"] = critical_n_table(t["critical_n_fraction"])
    t["distance_slope"] = distance_slopes(t.get("distance"), t.get("synthetic_distance"), config.N_fixed,
                                          config.distance_reading)
    t["distance_plateau"] = distance_plateau(t.get("distance"))
    t["separability_summary"] = separability_summary(t.get("separability"))
    t["gradient_summary"] = gradient_summary(t.get("gradient"), config.grad_logits, config.grad_agg)
    return t
