"""Derived tables of the head-count study, computed once in ``finalize`` (claims, figures and the ledger read
them; nothing here is recomputed elsewhere).

summary          per (experiment, D, h, T, n, N, layers, width_mode): min / mean / std over seeds of the
                 validation NMSE, mean and standard error of log10 NMSE (the paper's Table 2 format)
drops            per (experiment, D, N, T) and neighbouring head counts h -> h+1: NMSE(h)/NMSE(h+1) of the
                 min over seeds and of the mean over seeds, with the standard error of the log10 ratio
drop_summary     per (experiment, D, N, T): where the largest drop is (h_from -> h_to), its size, the drop
                 D-1 -> D, and an indicator that the largest drop is the one into h = D
T_trend          per (experiment, N, h): NMSE(T_max)/NMSE(T_min) (min and mean over seeds) with its log10 se
reversal         weighted reversal score R(h) over T per (experiment, N, h) (paper Fig. 2e)
reversal_onset   per (experiment, N): the first h with R(h) > 0
n_sweep          per (h, T) over the MLP widths N (main + nsweep): least-squares slope of log10 NMSE in log10 N
                 and -log10 NMSE at the best and worst N (paper Fig. 1b)
construction_rate per beta: max / mean excess of the h = D construction, its bound, and the log-log slope of
                 the max excess in beta with its bootstrap standard error (Thm 2(1))
bound_exponent   k(T, n, s, D) on T = 4..300 (Thm 2(2))
paper_vs_ours    per Table 2 cell measured: the paper's mean NMSE, ours (mean, std, min over seeds), ratio
"""
from __future__ import annotations

import csv
import functools
import math
from importlib import resources

import numpy as np
import pandas as pd

from ...claims import mean_and_stderr
from . import theory
from .config import HeadCountConfig, per_head_width

SUMMARY_KEYS = ["experiment", "D", "h", "T", "n", "N", "layers", "width_mode"]


def analyse(config: HeadCountConfig, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every derived table from the task tables (nmse, construction, ...)."""
    tables = dict(tables)
    nm = tables.get("nmse")
    if nm is not None and not nm.empty:
        nm = nm.sort_values(["experiment", "D", "h", "T", "N", "layers", "seed"]).reset_index(drop=True)
        tables["nmse"] = nm
        summary = summary_table(nm)
        tables["summary"] = summary
        tables["drops"] = drops_table(summary)
        tables["drop_summary"] = drop_summary_table(tables["drops"])
        tables["T_trend"] = T_trend_table(summary)
        tables["reversal"] = reversal_table(summary)
        tables["reversal_onset"] = reversal_onset_table(tables["reversal"])
        tables["n_sweep"] = n_sweep_table(summary, config)
        tables["paper_vs_ours"] = paper_vs_ours_table(summary)
    c = tables.get("construction")
    if c is not None and not c.empty:
        tables["construction_rate"] = construction_rate_table(c)
    tables["bound_exponent"] = bound_exponent_table(config)
    return tables


# ---- NMSE over seeds ----------------------------------------------------------------------------------------
def summary_table(nmse_df: pd.DataFrame) -> pd.DataFrame:
    """Min / mean / std (ddof=1; NaN for one seed) over seeds of the validation NMSE per cell, and the mean
    and standard error of log10 NMSE over seeds (inf for one seed)."""
    rows = []
    for key, g in nmse_df.groupby(SUMMARY_KEYS):
        v = g["nmse_val"].to_numpy(dtype=float)
        lm, lse = mean_and_stderr(np.log10(v))
        rows.append({**dict(zip(SUMMARY_KEYS, key)), "nmse_min": float(v.min()), "nmse_mean": float(v.mean()),
                     "nmse_std": float(v.std(ddof=1)) if v.size > 1 else float("nan"),
                     "log10_mean": lm, "log10_se": lse, "seeds": int(v.size),
                     "params_ffn": int(g["params_ffn"].iloc[0]), "params_total": int(g["params_total"].iloc[0])})
    cols = SUMMARY_KEYS + ["nmse_min", "nmse_mean", "nmse_std", "log10_mean", "log10_se", "seeds", "params_ffn",
                           "params_total"]
    return pd.DataFrame(rows, columns=cols).sort_values(SUMMARY_KEYS).reset_index(drop=True)


def drops_table(summary: pd.DataFrame) -> pd.DataFrame:
    """NMSE(h)/NMSE(h+1) for consecutive head counts present, per (experiment, D, N, layers, T)."""
    rows = []
    for (exp, D, N, L, T), g in summary.groupby(["experiment", "D", "N", "layers", "T"]):
        g = g.set_index("h").sort_index()
        hs = list(g.index)
        for a, b in zip(hs[:-1], hs[1:]):
            if b != a + 1:
                continue
            rows.append({"experiment": exp, "D": int(D), "N": int(N), "layers": int(L), "T": int(T),
                         "h_from": int(a), "h_to": int(b),
                         "ratio_min": float(g.loc[a, "nmse_min"] / g.loc[b, "nmse_min"]),
                         "ratio_mean": float(g.loc[a, "nmse_mean"] / g.loc[b, "nmse_mean"]),
                         "log10_se": float(math.hypot(g.loc[a, "log10_se"], g.loc[b, "log10_se"]))})
    return pd.DataFrame(rows, columns=["experiment", "D", "N", "layers", "T", "h_from", "h_to", "ratio_min",
                                       "ratio_mean", "log10_se"])


def drop_summary_table(drops: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, D, N, layers, T): the largest drop (min over seeds) and where it is; the drop into
    h = D; ``largest_at_D`` = 1 when the largest drop is D-1 -> D."""
    rows = []
    for (exp, D, N, L, T), g in drops.groupby(["experiment", "D", "N", "layers", "T"]):
        top = g.loc[g["ratio_min"].idxmax()]
        atD = g[g["h_to"] == D]
        rows.append({"experiment": exp, "D": int(D), "N": int(N), "layers": int(L), "T": int(T),
                     "largest_drop_from": int(top["h_from"]), "largest_drop_to": int(top["h_to"]),
                     "largest_drop": float(top["ratio_min"]),
                     "drop_into_D": float(atD["ratio_min"].iloc[0]) if len(atD) else float("nan"),
                     "largest_at_D": int(top["h_to"] == D)})
    return pd.DataFrame(rows, columns=["experiment", "D", "N", "layers", "T", "largest_drop_from", "largest_drop_to",
                                       "largest_drop", "drop_into_D", "largest_at_D"])


def T_trend_table(summary: pd.DataFrame) -> pd.DataFrame:
    """NMSE(T_max)/NMSE(T_min) per (experiment, D, N, layers, h) over the T values present (>= 2)."""
    rows = []
    for (exp, D, N, L, h), g in summary.groupby(["experiment", "D", "N", "layers", "h"]):
        if g["T"].nunique() < 2:
            continue
        g = g.set_index("T").sort_index()
        lo, hi = int(g.index[0]), int(g.index[-1])
        rows.append({"experiment": exp, "D": int(D), "N": int(N), "layers": int(L), "h": int(h), "T_lo": lo,
                     "T_hi": hi, "ratio_min": float(g.loc[hi, "nmse_min"] / g.loc[lo, "nmse_min"]),
                     "ratio_mean": float(g.loc[hi, "nmse_mean"] / g.loc[lo, "nmse_mean"]),
                     "log10_se": float(math.hypot(g.loc[hi, "log10_se"], g.loc[lo, "log10_se"]))})
    return pd.DataFrame(rows, columns=["experiment", "D", "N", "layers", "h", "T_lo", "T_hi", "ratio_min",
                                       "ratio_mean", "log10_se"])


def reversal_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Weighted reversal score R(h) of each experiment over its T values (Fig. 2e), on the min over seeds."""
    rows = []
    for (exp, N, h), g in summary.groupby(["experiment", "N", "h"]):
        if g["T"].nunique() < 2:
            continue
        rows.append({"experiment": exp, "N": int(N), "h": int(h), "Ts": g["T"].nunique(),
                     "reversal": theory.reversal_score(dict(zip(g["T"].astype(int), g["nmse_min"])))})
    return pd.DataFrame(rows, columns=["experiment", "N", "h", "Ts", "reversal"])


def reversal_onset_table(rev: pd.DataFrame) -> pd.DataFrame:
    """First h with R(h) > 0 per (experiment, N) (0 when no h has R(h) > 0)."""
    rows = []
    for (exp, N), g in rev.groupby(["experiment", "N"]):
        pos = g[g["reversal"] > 0]["h"]
        rows.append({"experiment": exp, "N": int(N), "hs": len(g),
                     "first_positive_h": int(pos.min()) if len(pos) else 0})
    return pd.DataFrame(rows, columns=["experiment", "N", "hs", "first_positive_h"])


def n_sweep_table(summary: pd.DataFrame, config: HeadCountConfig) -> pd.DataFrame:
    """Fig. 1b: per (h, T) with >= 2 MLP widths N (main + nsweep at the main D): the slope of log10 NMSE
    (min over seeds) in log10 N, and -log10 NMSE at the best and the worst N."""
    sub = summary[summary["experiment"].isin(["main", "nsweep"]) & (summary["layers"] == config.layers)]
    rows = []
    for (h, T), g in sub.groupby(["h", "T"]):
        if g["N"].nunique() < 2:
            continue
        x, y = np.log10(g["N"].to_numpy(float)), np.log10(g["nmse_min"].to_numpy(float))
        slope = float(np.polyfit(x, y, 1)[0])
        rows.append({"h": int(h), "T": int(T), "Ns": int(g["N"].nunique()), "N_min": int(g["N"].min()),
                     "N_max": int(g["N"].max()), "slope": slope, "neg_log10_best": float(-y.min()),
                     "neg_log10_worst": float(-y.max())})
    return pd.DataFrame(rows, columns=["h", "T", "Ns", "N_min", "N_max", "slope", "neg_log10_best",
                                       "neg_log10_worst"])


# ---- theory -------------------------------------------------------------------------------------------------
def construction_rate_table(c: pd.DataFrame) -> pd.DataFrame:
    """Per beta: max / mean excess over features and inputs, the bound, the bootstrap se of log max excess;
    ``slope`` / ``slope_se`` (same on every row): least squares of log max excess on log beta, se propagated
    from the per-beta bootstrap standard errors."""
    per = c.groupby("beta").agg(max_excess=("max_excess", "max"), mean_excess=("mean_excess", "mean"),
                                upper_bound=("upper_bound", "max"), log_se=("log_max_excess_se", "max"),
                                violations=("violations_upper", "sum"), violations_lower=("violations_lower", "sum"),
                                samples=("samples", "first"), set_size=("set_size", "max"), T=("T", "first"),
                                D=("D", "first"), d=("d", "first"))
    per = per.reset_index().sort_values("beta").reset_index(drop=True)
    per["violations"] = per["violations"] + per.pop("violations_lower")
    slope, se = float("nan"), float("inf")
    if len(per) >= 2:
        lx = np.log(per["beta"].to_numpy())
        ly = np.log(per["max_excess"].to_numpy())
        w = (lx - lx.mean()) / ((lx - lx.mean()) ** 2).sum()
        slope = float(w @ ly)
        se = float(np.sqrt((w ** 2) @ (per["log_se"].to_numpy() ** 2)))
    per["slope"], per["slope_se"] = slope, se
    return per


def bound_exponent_table(config: HeadCountConfig) -> pd.DataFrame:
    """k(T, n, s, D) on T = 4..300 for the brief's (n, s, D) triples and the run's h = D-1 model."""
    n_run = per_head_width(config.width_mode, max(config.D - 1, 1), config.n, config.E)
    triples = [(8, 3, 4), (8, 1, 4), (2, 3, 4)]
    if config.D >= 2 and (n_run, config.D - 1, config.D) not in triples:
        triples.append((n_run, config.D - 1, config.D))
    rows = []
    for n, s, D in triples:
        first = theory.first_nonvacuous_T(n, s, D)
        run = (n, s, D) == (n_run, config.D - 1, config.D)
        for T in sorted(set(range(4, 301, 4)) | set(config.grid_Ts)):
            rows.append({"n": n, "s": s, "D": D, "T": T, "k": theory.bound_exponent(T, n, s, D), "first_T": first,
                         "experiment_T": bool(run and T in config.grid_Ts)})
    return pd.DataFrame(rows)


# ---- the paper's Table 2 beside ours ------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def reference_rows() -> tuple[dict, ...]:
    """The study's reference data (``reference.csv``, docs/reference-data.md) as dicts."""
    path = resources.files(__package__).joinpath("reference.csv")
    if not path.is_file():
        return ()
    return tuple(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def _where(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(";") if part)


def table2_reference() -> pd.DataFrame:
    """The paper's Table 2 (mean NMSE, D = 4, N = 32, n = 8) from reference.csv: h, T, paper_mean,
    paper_low, paper_high (mean -/+ std where the paper gives a std), source."""
    rows = []
    for r in reference_rows():
        if not r["id"].startswith("table2_nmse_"):
            continue
        w = _where(r["where"])
        f = (lambda s: float(s) if s else float("nan"))
        rows.append({"h": int(w["h"]), "T": int(w["T"]), "paper_mean": float(r["paper_value"]),
                     "paper_low": f(r["paper_low"]), "paper_high": f(r["paper_high"]), "source": r["source"]})
    return pd.DataFrame(rows, columns=["h", "T", "paper_mean", "paper_low", "paper_high", "source"])


def paper_vs_ours_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per Table 2 cell that this run measured (main experiment, D = 4, N = 32, n = 8, one layer): the paper's
    mean NMSE, ours (mean, std, min over seeds) and ratio = ours mean / paper mean."""
    cols = ["h", "T", "source", "paper_mean", "paper_low", "paper_high", "ours_mean", "ours_std", "ours_min",
            "seeds", "ratio", "ratio_min"]
    main = summary[(summary["experiment"] == "main") & (summary["D"] == 4) & (summary["N"] == 32)
                   & (summary["n"] == 8) & (summary["layers"] == 1)]
    ref = table2_reference()
    if main.empty or ref.empty:
        return pd.DataFrame(columns=cols)
    m = ref.merge(main[["h", "T", "nmse_mean", "nmse_std", "nmse_min", "seeds"]], on=["h", "T"], how="inner")
    m = m.rename(columns={"nmse_mean": "ours_mean", "nmse_std": "ours_std", "nmse_min": "ours_min"})
    m["ratio"] = m["ours_mean"] / m["paper_mean"]
    m["ratio_min"] = m["ours_min"] / m["paper_mean"]
    return m[cols].sort_values(["h", "T"]).reset_index(drop=True)
