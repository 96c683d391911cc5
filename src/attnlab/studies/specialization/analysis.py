"""Derived numbers that claims and figures share, computed once in ``finalize`` and stored as tables.

| table          | what                                                                                       |
|----------------|--------------------------------------------------------------------------------------------|
| exits          | first passages: per (experiment, source, activation, H, D, seed, feature), t_exit = first   |
|                | logged t with max_h abs(M_hf) > EXIT_OVERLAP (NaN: never), horizon = the last logged t      |
| ode_deviation  | the ODE-vs-SGD comparison on the plateau window: per (D, seed) e = RMS over the window of    |
|                | the norm of sgd - ode over the order parameters, d_<q> = window mean of sgd - ode of each    |
|                | quantity q (risk, N, Pvv, Rkk, M0..M{H-1} head-sorted), exit_shift = t_exit(sgd) - t_exit(ode)|
| lr_flow        | per (series, seed) at D = ode_D: tau_exit = lr t_exit and the plateau risk, for SGD at lr, the |
|                | finite-lr ODE, the gradient-flow ODE and SGD at small_lr: the plateau against gradient flow |
| split_counts   | per (seed, t) of the split experiment: pos / neg = heads with M_h > +SPLIT_OVERLAP / < -...  |
| split_events   | per seed of the split experiment: the first full split (every head assigned) and its time,  |
|                | uneven_first (abs(pos - neg) >= 2 there), excursion_t (first time a head that was assigned |
|                | to one mode is assigned to the other: the excursion), rebalance_t (first even split after  |
|                | an uneven full split), the final split and final_even                                       |
| pruning_summary| per (activation, seed): n_prunable = heads removed greedily by loss while the risk stays     |
|                | within PRUNE_REL of the full model's (plus Z MC SE), risk_full, risk_kept (after H - F),    |
|                | bayes_ratio = risk_full / Bayes risk of the train data, n_prunable_median per activation    |

Definitions [reconstruction; thresholds from the brief's claims 4-7]: a head has specialized on feature f
when abs(M_hf) > 0.5; the sign of a head in the flipped-spike split is counted at abs(M_h) > 0.3.
"""
from __future__ import annotations

import math

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
    if "H" not in d.columns:
        d = d.assign(H=d.groupby(["activation", "D", "seed"])["head"].transform("max") + 1)
    keys = ["activation", "H", "D", "seed"]
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
        return pd.DataFrame(columns=["experiment", "source", "activation", "H", "D", "seed", "feature", "t_exit", "horizon"])
    out = pd.concat(frames, ignore_index=True)
    return out[["experiment", "source", "activation", "H", "D", "seed", "feature", "t_exit", "horizon"]]


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


def split_events(cnt: pd.DataFrame, dyn: pd.DataFrame) -> pd.DataFrame:
    """Table ``split_events`` from split_counts and the split trajectories (see the module docstring)."""
    d = dyn[(dyn["experiment"] == "split") & (dyn["source"] == "sgd") & (dyn["name"] == "M") & (dyn["feature"] == 0)]
    rows = []
    for seed, g in cnt.groupby("seed"):
        g = g.sort_values("t")
        H = int(g["H"].iloc[0])
        full = g[g["pos"] + g["neg"] == H]
        first = full.iloc[0] if len(full) else None
        uneven = (full["pos"] - full["neg"]).abs() >= 2
        t_uneven = float(full[uneven]["t"].min()) if uneven.any() else np.nan
        even_after = g[(g["pos"] == H // 2) & (g["neg"] == H - H // 2) & (g["t"] > t_uneven)] if np.isfinite(t_uneven) else g.iloc[:0]
        # excursion: a head assigned to one mode (|M| > SPLIT_OVERLAP) later assigned to the other
        exc, exc_head = np.nan, -1
        for h, gh in d[d["seed"] == seed].groupby("head"):
            gh = gh.sort_values("t")
            sgn = np.where(gh["value"] > SPLIT_OVERLAP, 1, np.where(gh["value"] < -SPLIT_OVERLAP, -1, 0))
            tt = gh["t"].to_numpy()
            nz = np.flatnonzero(sgn)
            flips = [tt[b] for a, b in zip(nz, nz[1:]) if sgn[a] != sgn[b]]
            if flips and not (exc <= flips[0]):
                exc, exc_head = float(flips[0]), int(h)
        last = g.iloc[-1]
        rows.append(dict(seed=int(seed), H=H,
                         first_full_t=float(first["t"]) if first is not None else np.nan,
                         first_pos=int(first["pos"]) if first is not None else -1,
                         first_neg=int(first["neg"]) if first is not None else -1,
                         uneven_first=int(first is not None and abs(int(first["pos"]) - int(first["neg"])) >= 2),
                         uneven_t=t_uneven, excursion_t=exc, excursion_head=exc_head,
                         rebalance_t=float(even_after["t"].min()) if len(even_after) else np.nan,
                         final_pos=int(last["pos"]), final_neg=int(last["neg"]),
                         final_even=int(last["pos"] == H // 2 and last["neg"] == H - H // 2), horizon=float(last["t"])))
    return pd.DataFrame(rows)


PRUNE_REL = 0.1        # "little loss": within 10 % of the full model's risk (plus Z MC SE) [our threshold]


def pruning_summary(p: pd.DataFrame, bayes_risk: float = np.nan) -> pd.DataFrame:
    """Table ``pruning_summary`` from the pruning table (greedy by loss, rows n_pruned = 0..H-1 per seed);
    bayes_ratio = risk_full / the Bayes risk of the train data."""
    from ...claims import Z

    rows = []
    for (act, seed), g in p.groupby(["activation", "seed"]):
        g = g.set_index("n_pruned").sort_index()
        full, se0 = float(g.loc[0, "risk"]), float(g.loc[0, "stderr"])
        H = int(g["H"].iloc[0])
        F = int(g["F"].iloc[0]) if "F" in g.columns else 2
        n = 0
        for k in g.index[1:]:
            if g.loc[k, "risk"] <= (1 + PRUNE_REL) * full + Z * math.hypot(float(g.loc[k, "stderr"]), se0):
                n = int(k)
            else:
                break
        rows.append(dict(activation=act, seed=int(seed), H=H, F=F, n_prunable=n, risk_full=full,
                         bayes_ratio=full / bayes_risk,
                         risk_kept=float(g.loc[H - F, "risk"]) if (H - F) in g.index else np.nan))
    out = pd.DataFrame(rows)
    med = out.groupby("activation")["n_prunable"].median().rename("n_prunable_median")
    return out.merge(med, on="activation")


def lr_flow(dyn: pd.DataFrame, config) -> pd.DataFrame:
    """Table ``lr_flow``: the plateau against gradient flow, on the gradient-flow clock tau = lr t, at D = ode_D
    from the first ode_seeds replicas' inits: per series (sgd at lr; the finite-lr ODE; the gradient-flow ODE;
    sgd at small_lr) and seed, tau_exit = lr t_exit (max_h |M_h| > 0.5) and plateau_risk = the mean risk on
    tau in (tau_exit / 2, 0.9 tau_exit) (the ODE's exact risk; SGD's online estimate)."""
    D = config.ode_D
    series = [("sgd", "plateau", "sgd", config.lr), ("ode", "plateau", "ode", config.lr),
              ("gradient_flow", "plateau", "gradient_flow", config.lr),
              ("sgd_small_lr", "plateau_small_lr", "sgd", config.small_lr)]
    rows = []
    for name, exp, src, lr in series:
        d = dyn[(dyn["experiment"] == exp) & (dyn["source"] == src) & (dyn["D"] == D) & (dyn["seed"] < config.ode_seeds)]
        if d.empty:
            continue
        ex = first_exit(dyn[dyn["D"] == D], exp, source=src)
        m = d[(d["name"] == "M") & (d["head"] == 0) & (d["feature"] == 0)]
        for seed, g in m.groupby("seed"):
            te = ex[ex["seed"] == seed]["t_exit"]
            te = float(te.iloc[0]) if len(te) else np.nan
            plat = g[(g["t"] > te / 2) & (g["t"] < 0.9 * te)]["risk"].mean() if np.isfinite(te) else np.nan
            rows.append(dict(series=name, lr=lr, D=D, seed=int(seed), tau_exit=lr * te, t_exit=te, plateau_risk=float(plat),
                             final_risk=float(g.sort_values("t")["risk"].iloc[-5:].mean())))
    return pd.DataFrame(rows)


def derive(tables: dict, config) -> dict:
    """The derived tables from the task tables (no sampling): exits, ode_deviation, split_counts."""
    out = {}
    dyn = tables.get("dynamics")
    if dyn is not None and not dyn.empty:
        out["exits"] = exits_table(dyn)
        dev = ode_deviation(dyn)
        if not isinstance(dev, str):
            out["ode_deviation"] = dev
        lf = lr_flow(dyn, config)
        if not lf.empty:
            out["lr_flow"] = lf
        sc = split_counts(dyn)
        if not sc.empty:
            out["split_counts"] = sc
            out["split_events"] = split_events(sc, dyn)
    p = tables.get("pruning")
    if p is not None and not p.empty:
        b = tables.get("bayes")
        eb = (float(b[b["experiment"] == "train"]["risk"].iloc[0])
              if b is not None and not b.empty and (b["experiment"] == "train").any() else np.nan)
        out["pruning_summary"] = pruning_summary(p, eb)
    return out
