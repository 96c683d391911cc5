"""Derived numbers that claims and figures share, computed once in ``finalize`` and stored as tables.

| table          | what                                                                                       |
|----------------|--------------------------------------------------------------------------------------------|
| exits          | first passages: per (experiment, source, activation, D, seed, feature), t_exit = the first  |
|                | logged t with max_h abs(M_hf) > EXIT_OVERLAP (NaN: never), horizon = the last logged t      |
| ode_deviation  | the ODE-vs-SGD comparison on the plateau window: per (D, seed) e = RMS over the window of    |
|                | the norm of sgd - ode over the order parameters, d_<q> = window mean of sgd - ode of each    |
|                | quantity q (risk, N, Pvv, Rkk, M0..M{H-1} head-sorted), exit_shift = t_exit(sgd) - t_exit(ode)|
| split_counts   | per (seed, t) of the split experiment: pos / neg = heads with M_h > +SPLIT_OVERLAP / < -...  |

Definitions [reconstruction; thresholds from the brief's claims 4-7]: a head has specialized on feature f
when abs(M_hf) > 0.5; the sign of a head in the flipped-spike split is counted at abs(M_h) > 0.3.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

EXIT_OVERLAP = 0.5     # a head has specialized on feature f when |M_hf| > 0.5 [brief claims 4, 5]
SPLIT_OVERLAP = 0.3    # sign of a head in the split [brief claim 6]
EXIT_WINDOW = 10.0     # time units excluded before the first exit in the ODE comparison [brief claim 7]
ORDER_PARAMS = ("N", "Pvv", "Rkk")   # head means; plus the head-sorted M_h0 as M0..M{H-1}


def first_exit(dyn: pd.DataFrame, experiment: str, feature: int = 0, thr: float = EXIT_OVERLAP,
               source: str = "sgd") -> pd.DataFrame:
    """Per (activation, D, seed): first t with max_h |M_h,feature| > thr (NaN if never), and the horizon."""
    d = dyn[(dyn["experiment"] == experiment) & (dyn["source"] == source) & (dyn["name"] == "M")
            & (dyn["feature"] == feature)]
    keys = ["activation", "D", "seed"]
    m = d.assign(a=d["value"].abs()).groupby(keys + ["t"])["a"].max().reset_index()
    hit = m[m["a"] > thr].groupby(keys)["t"].min()
    allk = m.groupby(keys)["t"].max().rename("horizon")
    return pd.concat([hit.rename("t_exit"), allk], axis=1).reset_index()


def exits_table(dyn: pd.DataFrame) -> pd.DataFrame:
    """First passages of every (experiment, source, feature) present in the dynamics table."""
    m = dyn[dyn["name"] == "M"]
    frames = []
    for (exp, src, f), _ in m.groupby(["experiment", "source", "feature"]):
        e = first_exit(dyn, exp, int(f), source=src)
        frames.append(e.assign(experiment=exp, source=src, feature=int(f)))
    if not frames:
        return pd.DataFrame(columns=["experiment", "source", "activation", "D", "seed", "feature", "t_exit", "horizon"])
    out = pd.concat(frames, ignore_index=True)
    return out[["experiment", "source", "activation", "D", "seed", "feature", "t_exit", "horizon"]]


def final_overlaps(dyn: pd.DataFrame, experiment: str, name: str = "M", feature: int = 0,
                   source: str = "sgd") -> pd.DataFrame:
    d = dyn[(dyn["experiment"] == experiment) & (dyn["source"] == source) & (dyn["name"] == name)
            & (dyn["feature"] == feature)]
    tmax = d.groupby(["activation", "D", "seed"])["t"].transform("max")
    return d[d["t"] == tmax]


def invariants(dyn: pd.DataFrame, experiment: str = "plateau") -> pd.DataFrame:
    """Permutation-invariant summaries per (source, D, seed, t): risk; the head means of N_h, |v_h|^2/D,
    |k_h|^2/D; the head-sorted key overlaps M_(1) <= ... <= M_(H) (feature 0) as columns M0..M{H-1}."""
    d = dyn[(dyn["experiment"] == experiment) & dyn["source"].isin(["sgd", "ode"])]
    d = d.assign(t=d["t"].round(9))               # ODE log times are k * dt
    keys = ["source", "D", "seed", "t"]
    m = d[(d["name"] == "M") & (d["feature"] == 0)]
    risk_ = m.groupby(keys)["risk"].first()
    means = d[d["name"].isin(ORDER_PARAMS)].pivot_table(index=keys, columns="name", values="value", aggfunc="mean")
    mp = m.pivot_table(index=keys, columns="head", values="value")
    ms = pd.DataFrame(np.sort(mp.to_numpy(), 1), index=mp.index, columns=[f"M{h}" for h in range(mp.shape[1])])
    return pd.concat([risk_, means[[c for c in ORDER_PARAMS if c in means.columns]], ms], axis=1)


def ode_deviation(dyn: pd.DataFrame | None) -> pd.DataFrame | str:
    """Table ``ode_deviation`` (see the module docstring), or a string saying why it cannot be computed.

    Per D of the plateau runs with >= 2 ODE replicas beside their SGD runs, on the window 0 < t <= t_w =
    (earliest exit of any run) - EXIT_WINDOW."""
    if dyn is None or dyn.empty:
        return "no dynamics table"
    ode = dyn[(dyn["experiment"] == "plateau") & (dyn["source"] == "ode")]
    if ode.empty:
        return "no ODE runs"
    q = invariants(dyn)
    pairs = sorted(set(q.loc["ode"].reset_index()[["D", "seed"]].itertuples(index=False, name=None))
                   & set(q.loc["sgd"].reset_index()[["D", "seed"]].itertuples(index=False, name=None)))
    by_D: dict[int, list[int]] = {}
    for D, s in pairs:
        by_D.setdefault(int(D), []).append(int(s))
    Ds = sorted(D for D, ss in by_D.items() if len(ss) >= 2)
    if len(Ds) < 2:
        return (f"needs ODE runs from >= 2 replicas' inits at >= 2 values of D with SGD beside them "
                f"(have {dict((D, len(ss)) for D, ss in by_D.items())}); raise ode_seeds")
    ex = pd.concat([first_exit(dyn, "plateau", source=src).assign(source=src) for src in ("sgd", "ode")])
    ex = ex[ex["D"].isin(Ds)]
    t_first = float(ex["t_exit"].fillna(ex["horizon"]).min())
    t_w = t_first - EXIT_WINDOW
    tt = q.index.get_level_values("t")
    n_win = len(set(tt[(tt > 0) & (tt <= t_w)]))
    if n_win < 5:
        return (f"plateau window 0 < t <= {t_w:g} (earliest exit {t_first:g} - {EXIT_WINDOW:g}) has "
                f"{n_win} log points (< 5)")
    cols = [c for c in q.columns if c != "risk"]
    rows = []
    for D in Ds:
        sh = ex[ex["D"] == D].pivot_table(index="seed", columns="source", values="t_exit")
        for s in by_D[D]:
            d = (q.loc[("sgd", D, s)] - q.loc[("ode", D, s)])
            d = d[(d.index > 0) & (d.index <= t_w)].dropna()
            shift = (float(sh.loc[s, "sgd"] - sh.loc[s, "ode"])
                     if {"sgd", "ode"} <= set(sh.columns) and s in sh.index else np.nan)
            row = dict(D=D, seed=s, t_w=t_w, e=float(np.sqrt((d[cols] ** 2).sum(1).mean())), exit_shift=shift)
            row.update({f"d_{c}": float(v) for c, v in d.mean().items()})
            rows.append(row)
    return pd.DataFrame(rows)


def split_counts(dyn: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, t) of the split experiment (sgd): heads with M_h > +SPLIT_OVERLAP (pos) and < - (neg), H."""
    d = dyn[(dyn["experiment"] == "split") & (dyn["source"] == "sgd") & (dyn["name"] == "M") & (dyn["feature"] == 0)]
    if d.empty:
        return pd.DataFrame(columns=["seed", "t", "pos", "neg", "H"])
    H = int(d["head"].max()) + 1
    cnt = d.assign(pos=d["value"] > SPLIT_OVERLAP, neg=d["value"] < -SPLIT_OVERLAP).groupby(["seed", "t"])[["pos", "neg"]].sum()
    return cnt.reset_index().astype({"pos": int, "neg": int}).assign(H=H)


def derive(tables: dict, config) -> dict:
    """The derived tables from the task tables (no sampling): exits, ode_deviation, split_counts."""
    out = {}
    dyn = tables.get("dynamics")
    if dyn is not None and not dyn.empty:
        out["exits"] = exits_table(dyn)
        dev = ode_deviation(dyn)
        if not isinstance(dev, str):
            out["ode_deviation"] = dev
        sc = split_counts(dyn)
        if not sc.empty:
            out["split_counts"] = sc
    return out
