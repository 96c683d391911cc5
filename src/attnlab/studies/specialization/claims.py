"""The paper's claims as checks over the result tables (brief section 6).

Thresholds are the brief's where it pre-registers one (named in each check), otherwise statistical under
the lab's one confidence policy (:mod:`attnlab.claims`): 99 % two-sided, mean +- Z SE with Z = 2.576, slopes
with a Student-t interval.  Each check is ``check(tables, config) -> Verdict``; it reads the final tables
only (the derived ones come from :mod:`analysis`) and declares them with ``needs=``.  Values are numbers or
flat dicts of named numbers; thresholds are words."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...claims import Z, Claim, Verdict, diff_z, mean_and_stderr, undecided
from .analysis import EXIT_OVERLAP, ode_deviation

ZT = f"{Z:.3g}"


def _verdict(passed, **kw) -> Verdict:
    return Verdict(passed=None if passed is None else bool(passed), **kw)


def _act(tables, prior="flipped") -> pd.DataFrame | None:
    df = tables.get("activations")
    if df is None or len(df) == 0:
        return None
    df = df[df["prior"] == prior]
    return df if len(df) else None


def _row(df, nu, activation):
    r = df[(df["nu"] == nu) & (df["activation"] == activation)]
    return None if r.empty else r.iloc[0]


def _exits(tables, experiment, feature=0, source="sgd") -> pd.DataFrame:
    ex = tables["exits"]
    return ex[(ex["experiment"] == experiment) & (ex["source"] == source) & (ex["feature"] == feature)]


# ---- 1 --------------------------------------------------------------------------------------------------
def check_bayes_optimal(tables, config) -> Verdict:
    """Consistency (holds by construction: the Bayes-softmax construction IS the posterior mean, and no
    predictor beats the posterior mean): |risk(bayes_softmax) - Bayes risk| <= Z SE(Bayes risk) at every
    (prior, nu), and no aligned softmax / softmax1 configuration beats bayes_softmax by more than Z paired SE."""
    df = tables["activations"]
    worst_z, worst_beat, lines = 0.0, -math.inf, []
    for (prior, nu), g in df.groupby(["prior", "nu"]):
        b, bs = _row(g, nu, "bayes"), _row(g, nu, "bayes_softmax")
        if b is None or bs is None:
            continue
        worst_z = max(worst_z, abs(bs["risk"] - b["risk"]) / max(b["stderr"], 1e-300))
        for _, o in g[~g["activation"].isin(["bayes", "bayes_softmax"])].iterrows():
            worst_beat = max(worst_beat, (bs["excess"] - o["excess"]) / max(o["excess_stderr"], 1e-300))
        lines.append(f"{prior} nu={nu:g}: bayes={b['risk']:.4g}+-{b['stderr']:.2g}, bayes_softmax={bs['risk']:.4g}")
    if not lines:
        return undecided("no (bayes, bayes_softmax) pairs in the table")
    passed = worst_z <= Z and worst_beat <= Z
    return _verdict(passed, value={"max |bs - bayes| / SE": worst_z, "max z aligned beats bs": worst_beat},
                    threshold=f"both <= {ZT} (99 %)",
                    detail=f"max |bayes_softmax - bayes| / SE = {worst_z:.3g}; max z by which an aligned "
                           f"softmax/softmax1 beats bayes_softmax = {worst_beat:.3g}. " + "; ".join(lines))


# ---- 2 --------------------------------------------------------------------------------------------------
def _two_nus(df) -> tuple[float, float] | None:
    nus = sorted(set(df["nu"]))
    if len(nus) < 2:
        return None
    return (9.0 if 9.0 in nus and nus[-1] > 9.0 else nus[-2]), nus[-1]


def check_softmax_floor(tables, config) -> Verdict:
    """From nu_a (9) to nu_b (25): softmax's risk flattens while the Bayes risk keeps falling, i.e.
    log(R_s(b)/R_s(a)) - log(R_B(b)/R_B(a)) > Z SE (delta method), and softmax stays > Z SE above Bayes."""
    df = _act(tables)
    if df is None or (pair := _two_nus(df)) is None:
        return undecided("needs the flipped-prior activations rows at two values of nu")
    a, b = pair
    rs = [_row(df, n, "softmax") for n in pair]
    rb = [_row(df, n, "bayes") for n in pair]
    if any(r is None for r in rs + rb):
        return undecided("missing softmax or bayes rows")
    lr_s = math.log(rs[1]["risk"] / rs[0]["risk"])
    lr_b = math.log(rb[1]["risk"] / rb[0]["risk"])
    se = math.sqrt(sum((r["stderr"] / r["risk"]) ** 2 for r in rs + rb))
    gap_z = rs[1]["excess"] / max(rs[1]["excess_stderr"], 1e-300)
    passed = (lr_s - lr_b) > Z * se and gap_z > Z
    return _verdict(passed, value={"softmax ratio": math.exp(lr_s), "Bayes ratio": math.exp(lr_b),
                                   "softmax - Bayes z": gap_z},
                    threshold=f"log-ratio gap > {ZT} SE ({Z * se:.3g}) and softmax above Bayes by > {ZT} SE",
                    detail=f"nu {a:g} -> {b:g}: softmax {rs[0]['risk']:.4g} -> {rs[1]['risk']:.4g} (x{math.exp(lr_s):.3g}), "
                           f"Bayes {rb[0]['risk']:.4g} -> {rb[1]['risk']:.4g} (x{math.exp(lr_b):.3g}); "
                           f"log-ratio gap {lr_s - lr_b:.3g} vs {ZT} SE = {Z * se:.3g}; softmax - Bayes at nu={b:g} is "
                           f"{gap_z:.3g} paired SE")


# ---- 3 --------------------------------------------------------------------------------------------------
def check_softmax1(tables, config) -> Verdict:
    """softmax1_nobias (Miller's softmax-1, sink logit 0) <= softmax (not above by Z SE) at every nu >= 4;
    softmax1 with a learned sink logit significantly below softmax at the largest nu and still falling from
    nu_a to nu_b (Z SE)."""
    df = _act(tables)
    if df is None or (pair := _two_nus(df)) is None:
        return undecided("needs the flipped-prior activations rows at two values of nu")
    worst, lines = -math.inf, []
    for nu in sorted(set(df["nu"])):
        if nu < 4:
            continue
        s, s1 = _row(df, nu, "softmax"), _row(df, nu, "softmax1_nobias")
        if s is None or s1 is None:
            return undecided(f"missing softmax/softmax1_nobias at nu={nu:g}")
        worst = max(worst, diff_z(s1["risk"], s1["stderr"], s["risk"], s["stderr"]))
        lines.append(f"nu={nu:g}: softmax {s['risk']:.4g}, softmax1_nobias {s1['risk']:.4g}")
    a, b = pair
    s_b, sb_a, sb_b = _row(df, b, "softmax"), _row(df, a, "softmax1"), _row(df, b, "softmax1")
    if s_b is None or sb_a is None or sb_b is None:
        return undecided("missing softmax1 (learned sink) rows")
    z_below = diff_z(s_b["risk"], s_b["stderr"], sb_b["risk"], sb_b["stderr"])
    z_fall = diff_z(sb_a["risk"], sb_a["stderr"], sb_b["risk"], sb_b["stderr"])
    passed = worst <= Z and z_below > Z and z_fall > Z
    return _verdict(passed, value={"max z(softmax1_nobias - softmax)": worst, "z(softmax - softmax1) at nu max": z_below,
                                   "z(softmax1 falls)": z_fall},
                    threshold=f"first <= {ZT}; the other two > {ZT} (99 %)",
                    detail=f"max z(softmax1_nobias - softmax) = {worst:.3g}; softmax1 (learned sink) at nu={b:g}: "
                           f"{sb_b['risk']:.4g} vs softmax {s_b['risk']:.4g} (z={z_below:.3g}); softmax1 nu {a:g}->{b:g}: "
                           f"{sb_a['risk']:.4g} -> {sb_b['risk']:.4g} (z={z_fall:.3g}). " + "; ".join(lines))


# ---- 4 --------------------------------------------------------------------------------------------------
def _plateau_stats(tables, config):
    """The plateau experiment's numbers shared by claims 4a and 4b (or a string: why undecided)."""
    dyn, ex = tables["dynamics"], _exits(tables, "plateau")
    if ex.empty:
        return "no plateau runs"
    Ds = sorted(set(ex["D"]))
    frac_exit = ex.groupby("D")["t_exit"].apply(lambda s: s.notna().mean())
    if (frac_exit < 0.5).any():
        return (f"fewer than half the seeds left the plateau within the horizon at D = "
                f"{[int(d) for d in frac_exit[frac_exit < 0.5].index]}; lengthen plateau_horizon")
    d = dyn[(dyn["experiment"] == "plateau") & (dyn["source"] == "sgd") & (dyn["name"] == "M") & (dyn["head"] == 0)
            & (dyn["feature"] == 0)]
    drops = []
    for (D, seed), g in d.groupby(["D", "seed"]):
        te = ex[(ex["D"] == D) & (ex["seed"] == seed)]["t_exit"].iloc[0]
        if not np.isfinite(te):
            continue
        hor = g["t"].max()
        plateau = g[(g["t"] > te / 2) & (g["t"] < 0.9 * te)]["risk"].mean()
        final = g[g["t"] >= 0.9 * hor]["risk"].mean()
        drops.append(plateau - final)
    drop_m, drop_se = mean_and_stderr(drops)
    med = ex.groupby("D")["t_exit"].median()
    fin = dyn[(dyn["experiment"] == "plateau") & (dyn["source"] == "sgd") & (dyn["name"] == "M") & (dyn["feature"] == 0)]
    fin = fin[fin["t"] == fin.groupby(["D", "seed"])["t"].transform("max")]
    both = fin.groupby(["D", "seed"])["value"].apply(
        lambda v: int((v > EXIT_OVERLAP).any() and (v < -EXIT_OVERLAP).any()))
    out = dict(Ds=Ds, ex=ex, med=med, drop_m=drop_m, drop_se=drop_se, staged=float(both.mean()))
    if len(Ds) >= 2:
        se_med = ex.groupby("D")["t_exit"].apply(lambda s: 1.2533 * s.dropna().std(ddof=1) / math.sqrt(max(s.notna().sum(), 1)))
        x = np.log(np.array(Ds, float))
        y = med.loc[Ds].to_numpy()
        w = 1.0 / np.maximum(se_med.loc[Ds].fillna(0).to_numpy(), 0.5 * config.log_dt) ** 2
        X = np.stack([np.ones_like(x), x], 1)
        cov = np.linalg.inv(X.T @ (w[:, None] * X))
        a_, b_ = cov @ (X.T @ (w * y))
        out.update(slope=float(b_), slope_se=math.sqrt(cov[1, 1]), pred_ratio=(a_ + b_ * x[-1]) / (a_ + b_ * x[0]),
                   obs_ratio=y[-1] / y[0])
    return out


def _exit_text(st) -> str:
    return ("median exit time (max_h |M_h| > " + f"{EXIT_OVERLAP}) by D: "
            + ", ".join(f"D={int(D)}: {st['med'][D]:.3g}" for D in st["Ds"]))


def check_plateau(tables, config) -> Verdict:
    """[paper] An unspecialized plateau, then specialization in stages: each seed's online risk on
    (t_exit/2, 0.9 t_exit) exceeds its final risk (mean over runs, by > Z SE), and at the end heads of both
    flipped modes are specialized (>= 1 head with M > 0.5 and >= 1 with M < -0.5) in at least half the runs."""
    st = _plateau_stats(tables, config)
    if isinstance(st, str):
        return undecided(st)
    passed = bool(st["drop_m"] > Z * st["drop_se"] and st["staged"] >= 0.5)
    return _verdict(passed, value={"plateau - final risk": st["drop_m"], "drop SE": st["drop_se"],
                                   "fraction both signs": st["staged"]},
                    threshold=f"drop > {ZT} SE; both signs specialized in at least half the runs",
                    detail=_exit_text(st) + f"; plateau-minus-final risk {st['drop_m']:.3g} +- {st['drop_se']:.2g}; "
                                            f"both signs specialized at the end in {st['staged']:.0%} of runs")


def check_plateau_log_D(tables, config) -> Verdict:
    """[reconstruction, brief 3.4 and claim 4] The plateau length grows like log D: the weighted slope of the
    median exit time vs log D is > 0 by Z SE (SE of a median 1.2533 sd/sqrt(n)) and the observed t(Dmax)/t(Dmin)
    is within +-40% of the affine fit's prediction [brief's pre-registered tolerance]."""
    st = _plateau_stats(tables, config)
    if isinstance(st, str):
        return undecided(st)
    if "slope" not in st:
        return undecided("needs at least two values of D")
    ratio_ok = abs(st["obs_ratio"] / st["pred_ratio"] - 1.0) <= 0.4
    passed = bool(st["slope"] > Z * st["slope_se"] and ratio_ok)
    return _verdict(passed, value={"slope in log D": st["slope"], "slope SE": st["slope_se"],
                                   "t(Dmax)/t(Dmin)": float(st["obs_ratio"]), "fit ratio": float(st["pred_ratio"])},
                    threshold=f"slope > {ZT} SE; t(Dmax)/t(Dmin) within 40 % of the fit (brief)",
                    detail=_exit_text(st) + f"; affine fit in log D slope {st['slope']:.3g} +- {st['slope_se']:.3g}; "
                                            f"t(Dmax)/t(Dmin) observed {st['obs_ratio']:.3g} vs fit {st['pred_ratio']:.3g} "
                                            f"(+-40%: {'ok' if ratio_ok else 'no'})")


# ---- 5 --------------------------------------------------------------------------------------------------
ORDER_FRAC = 0.9     # feature 0 first in >= 9/10 seeds [brief claim 5]
STAGE2_FRAC = 0.5    # the second stage "observed" when reached within the horizon in at least half the seeds


def _stage2_theory(tables, act: str, H: int | None = None) -> dict | None:
    """Per activation, from table `stability` (point one_feature, feature 1): lam (the largest growth rate of
    feature 1 at the one-feature state over the ODE replicas) with its SE, the ODE's own second-stage times and
    the extrapolated ones; None when the table has no such rows."""
    st = tables.get("stability")
    if st is None or st.empty:
        return None
    if H is not None and "H" in st.columns:
        st = st[st["H"] == H]
    one = st[(st["experiment"] == "variance") & (st["activation"] == act) & (st["point"] == "one_feature")
             & (st["feature"] == 1)]
    if one.empty:
        return None
    hi = one["lam"] + Z * one["lam_se"].fillna(np.inf)
    lo = one["lam"] - Z * one["lam_se"].fillna(np.inf)
    t2 = one["t2_ode"].dropna()
    pred = one["t2_pred"].dropna()
    plat = st[(st["experiment"] == "variance") & (st["activation"] == act) & (st["point"] == "plateau")]
    lam_plat = plat.groupby("feature")["lam"].mean().to_dict()
    k = int(one["lam"].idxmax())
    return dict(lam=float(one.loc[k, "lam"]), lam_se=float(one.loc[k, "lam_se"]), n=len(one),
                stable=bool((hi < 0).all() and t2.empty), unstable=bool((lo > 0).any() or not t2.empty),
                t2_ode=sorted(float(x) for x in t2), t2_pred=sorted(float(x) for x in pred),
                residual=float(one["residual"].max()), ode_horizon=float(one["ode_horizon"].max()),
                lam_plateau=lam_plat)


def check_variance_order(tables, config) -> Verdict:
    """Feature 0 (largest Var theta_f) reaches max_h |M_h0| > 0.5 before feature 1 in >= 90% of seeds [brief],
    per activation, judged on the first passages of the SGD seeds, right-censored at the horizon (a seed where
    feature 1 is not reached by the horizon has t1 > horizon >= t0).

    The censoring only settles the order if the second stage comes at all.  So when feature 1 is reached in
    fewer than half the seeds, the overlap ODE from the replicas' own inits decides (table `stability`):
      - the one-feature state (feature 0 learned, the ODE relaxed inside feature 1 = 0) is stable along
        feature 1 (every replica's growth rate lam + Z SE < 0, and no ODE run reaches feature 1): there is no
        second stage, the heads never learn feature 1, and the claim FAILS for that activation;
      - it is unstable (lam - Z SE > 0 in some replica, or an ODE run reaches feature 1): the second stage
        comes after the horizon (its ODE / extrapolated time is reported) and the censored order decides;
      - otherwise (no ODE rows, or lam within Z SE of 0): undecided.
    value: per activation [fraction of seeds ordered, fraction with feature 1 reached, lam of feature 1 at the
    one-feature state]."""
    e0 = _exits(tables, "variance", feature=0)
    e1 = _exits(tables, "variance", feature=1)
    if e0.empty or e1.empty:
        return undecided("no variance runs")
    m = e0.drop(columns=["feature"]).merge(e1.drop(columns=["feature", "experiment", "source"]), on=["activation", "H", "D", "seed"], suffixes=("0", "1"))
    verdicts, lines, value = [], [], {}
    for (act0, H), g in m.groupby(["activation", "H"]):
        act = f"{act0} H={int(H)}"
        n, hor = len(g), float(g["horizon0"].max())
        n0, n1 = int(g["t_exit0"].notna().sum()), int(g["t_exit1"].notna().sum())
        if n0 < 0.5 * n:
            return undecided(f"{act}: feature 0 reached (max_h |M_h0| > {EXIT_OVERLAP}) in only {n0}/{n} seeds within "
                             f"t = {hor:g}; lengthen variance_horizon")
        ordered = g["t_exit0"].notna() & (g["t_exit1"].isna() | (g["t_exit0"] < g["t_exit1"]))
        frac = float(ordered.mean())
        th = _stage2_theory(tables, act0, int(H))
        lam = math.nan if th is None else th["lam"]
        value[f"{act} ordered"] = frac
        value[f"{act} stage 2 reached"] = n1 / n
        value[f"{act} lam"] = lam
        line = (f"{act}: feature 0 first in {int(ordered.sum())}/{n} seeds (feature 0 reached in {n0}, median t = "
                f"{g['t_exit0'].median():.3g}; feature 1 in {n1}" + (f", median t = {g['t_exit1'].median():.3g}" if n1 else "")
                + f"; horizon {hor:g})")
        if th is not None:
            plat = th["lam_plateau"]
            if plat:
                line += ("; ODE growth rates at the unspecialized plateau: "
                         + ", ".join(f"feature {int(f)} {v:.3g}" for f, v in sorted(plat.items())))
            line += (f"; feature 1 at the one-feature state ({th['n']} ODE replicas, residual drift "
                     f"{th['residual']:.1g}): lam = {th['lam']:.3g} +- {th['lam_se']:.2g}")
            if th["t2_ode"]:
                line += f", ODE second stage at t = {', '.join(f'{x:.3g}' for x in th['t2_ode'])}"
            elif th["t2_pred"]:
                line += f", extrapolated second stage at t = {', '.join(f'{x:.3g}' for x in th['t2_pred'])}"
            else:
                line += f", no ODE second stage up to t = {th['ode_horizon']:g}"
        if frac < ORDER_FRAC:
            verdicts.append(False)
            line += f" -> FAIL: ordered in {frac:.0%} < {ORDER_FRAC:.0%}"
        elif n1 >= STAGE2_FRAC * n:
            verdicts.append(True)
            line += " -> pass: both stages observed, in order"
        elif th is None:
            verdicts.append(None)
            line += (" -> undecided: the second stage is not reached in most seeds and there is no ODE stability "
                     "row (variance_ode_seeds; not computed for value_mode=theta) to tell a later stage from none")
        elif th["stable"]:
            verdicts.append(False)
            line += (" -> FAIL: no second stage; the one-feature state is a stable fixed point along feature 1, so "
                     "the heads never learn the smaller-variance feature")
        elif th["unstable"]:
            verdicts.append(True)
            line += (" -> pass on the censored first-passage order: the one-feature state is unstable along feature "
                     "1, the second stage comes after the horizon")
        else:
            verdicts.append(None)
            line += " -> undecided: the growth rate of feature 1 is within Z SE of 0"
        lines.append(line)
    passed = False if False in verdicts else (None if None in verdicts else True)
    return _verdict(passed, value=value,
                    threshold=(f"feature 0 first in >= {ORDER_FRAC:.0%} of seeds (brief); when stage 2 is reached in < "
                               f"{STAGE2_FRAC:.0%} the ODE decides: lam < -{ZT} SE no second stage (fail), > {ZT} SE later stage"),
                    detail="; ".join(lines))


# ---- 6 --------------------------------------------------------------------------------------------------
EVEN_FRAC = 0.8      # even split in >= 8/10 seeds [brief claim 6]


def check_even_split(tables, config) -> Verdict:
    """At the end, H/2 heads have M > 0.3 and H/2 have M < -0.3 in >= 80% of seeds [brief]; seeds that pass
    through an uneven full split (e.g. 3/1) on the way are listed."""
    cnt = tables["split_counts"]
    H = int(cnt["H"].iloc[0])
    final = cnt[cnt["t"] == cnt.groupby("seed")["t"].transform("max")]
    if ((final["pos"] + final["neg"]) == 0).mean() > 0.5:
        return undecided("no head has |M| > 0.3 at the end in most seeds; lengthen split_horizon")
    even = (final["pos"] == H // 2) & (final["neg"] == H - H // 2)
    uneven_seen = cnt[(cnt["pos"] + cnt["neg"] == H) & ((cnt["pos"] - cnt["neg"]).abs() >= 2)]["seed"].unique()
    rebalanced = sorted(set(uneven_seen) & set(final[even]["seed"]))
    frac = float(even.mean())
    return _verdict(frac >= EVEN_FRAC, value={"fraction even": frac, "seeds through uneven": float(len(uneven_seen)),
                                              "of which rebalanced": float(len(rebalanced))},
                    threshold=f"even split in >= {EVEN_FRAC:.0%} of seeds (brief's pre-registered threshold)",
                    detail=f"even {H // 2}/{H - H // 2} split at t={final['t'].max():g} in {int(even.sum())}/{len(final)} seeds; "
                           f"final (pos, neg) counts: {list(zip(final['pos'].astype(int), final['neg'].astype(int)))}; "
                           f"seeds through an uneven full split: {sorted(int(s) for s in uneven_seen)}, of which rebalanced: "
                           f"{[int(s) for s in rebalanced]}")


def _student_key(config) -> str | None:
    """The config's student as table split_stability labels it (None: free values, not analysed)."""
    if config.student_values == "tied":
        return "tied"
    if config.student_values == "fixed":
        return {"1": "fixed N_h=1", "2/H": "fixed N_h=2/H"}.get(config.fixed_value, "fixed N_h=1/H")
    return None


def split_stability_text(tables, config) -> tuple[dict, str]:
    """The cause looked for (table split_stability): per student, is the uneven split a stable state of the
    ODE; value: the config's student's numbers at the uneven split."""
    st = tables.get("split_stability")
    if st is None or st.empty:
        return {}, ""
    H = int(st["H"].iloc[0])
    un, ev = f"{H - 1}/1", f"{H // 2}/{H - H // 2}"
    parts, value = [], {}
    for student, g in st.groupby("student", sort=False):
        g = g.set_index("pattern")
        if un not in g.index or ev not in g.index:
            continue
        u, e = g.loc[un], g.loc[ev]
        if not u["kept"] and np.isfinite(u["switch_t"]):
            txt = (f"{student}: {un} UNSTABLE, the ODE leaves it through an excursion (head {int(u['switch_head'])} "
                   f"changes mode at t = {u['switch_t']:g}) into {int(u['final_pos'])}/{int(u['final_neg'])}")
        elif not u["kept"]:
            txt = (f"{student}: {un} not kept, the ODE ends at {int(u['final_pos'])}/{int(u['final_neg'])} (heads "
                   f"assigned at |M| > 0.3) without a head changing mode")
        else:
            txt = (f"{student}: {un} {u['verdict']} (kept by the ODE for t = {u['relax']:g}; flip rate lam = "
                   f"{u['lam_flip']:.2g} +- {u['lam_flip_se']:.1g}; full-Jacobian top eigenvalue {u['lam_full']:.2g} +- "
                   f"{u['lam_full_se']:.1g}, at {ev} {e['lam_full']:.2g} +- {e['lam_full_se']:.1g}: slow modes of "
                   f"the drifting state; a head leaves only past M = {u['m_sep']:.2g} from {u['m_head']:.2g}, barrier "
                   f"{u['barrier']:.2g}, SGD noise on M_h {u['diffusion_state']:.2g} per unit t at the state and "
                   f"{u['diffusion']:.2g} on the path at D = {int(u['D'])}: escape exponent "
                   f"{u['escape_exponent']:.3g}, growing like D)")
        txt += f"; risk {un} {u['risk']:.3f} +- {u['risk_se']:.3f} vs {ev} {e['risk']:.3f} +- {e['risk_se']:.3f}"
        if "sgd_replicas" in u and np.isfinite(u["sgd_replicas"]):
            txt += (f"; SGD at D = {int(u['D'])} started at {un}: {int(u['sgd_switched'])}/{int(u['sgd_replicas'])} "
                    f"replicas rearrange through an excursion" + (f" (median t = {u['sgd_switch_t']:.3g})"
                                                               if np.isfinite(u["sgd_switch_t"]) else "")
                    + f", {int(u['sgd_kept'])} keep {un} to t = {u['sgd_horizon']:g}")
        parts.append(txt)
        if student == _student_key(config):
            value = {f"{un} kept by the ODE": float(u["kept"]), f"{un} flip rate": float(u["lam_flip"]),
                     f"SGD from {un}: replicas switching": float(u.get("sgd_switched", math.nan)),
                     f"{un} flip rate SE": float(u["lam_flip_se"]), f"{un} escape exponent": float(u["escape_exponent"]),
                     f"{un} - {ev} risk": float(u["risk"] - e["risk"])}
    if not parts:
        return {}, ""
    return value, ("; cause looked for (table split_stability, the split experiment's ODE from replica 0's init "
                   "with the heads placed at each split): " + "; ".join(parts))


def check_excursion(tables, config) -> Verdict:
    """Uneven splits rearrange through an excursion into an even split [secondary]: among the seeds whose
    heads reach an uneven full split (every head assigned, abs(pos - neg) >= 2; table split_events), at least
    half end evenly split by the horizon, a head having changed mode (the excursion, excursion_t) no later
    than the rebalancing.  Undecided when no seed splits unevenly (the phenomenon is not triggered).  The
    detail adds the cause looked for: whether the uneven split is a stable state of the ODE, per student
    (table split_stability, :func:`split_stability_text`)."""
    ev = tables["split_events"]
    un = ev[np.isfinite(ev["uneven_t"])]
    n_exc = int(np.isfinite(ev["excursion_t"]).sum())
    cause_value, cause = split_stability_text(tables, config)
    if un.empty:
        return undecided(f"no seed reached an uneven full split (first splits: "
                         f"{list(zip(ev['first_pos'].astype(int), ev['first_neg'].astype(int)))}; excursions in "
                         f"{n_exc}/{len(ev)} seeds)" + cause,
                         value={"seeds uneven": 0.0, "excursions": float(n_exc), **cause_value})
    ok = un[(un["final_even"] == 1) & np.isfinite(un["excursion_t"]) & (un["excursion_t"] <= un["rebalance_t"])]
    frac = len(ok) / len(un)
    times = ", ".join(f"seed {int(r.seed)}: uneven at t={r.uneven_t:g}, excursion (head {int(r.excursion_head)}) at "
                      f"t={r.excursion_t:g}, even at t={r.rebalance_t:g}" for r in ok.itertuples())
    stuck = [f"seed {int(r.seed)} ends {int(r.final_pos)}/{int(r.final_neg)}" for r in un.itertuples()
             if not (r.final_even == 1)]
    return _verdict(frac >= 0.5, value={"seeds uneven": float(len(un)), "rearranged by excursion": float(len(ok)),
                                        "fraction": frac,
                                        "median excursion t": float(ok["excursion_t"].median()) if len(ok) else math.nan,
                                        **cause_value},
                    threshold="at least half of the seeds that split unevenly end even through an excursion (ours)",
                    detail=f"{len(un)}/{len(ev)} seeds reach an uneven full split; {len(ok)} rearrange into the even split "
                           f"through an excursion ({times or 'none'}); " + ("; ".join(stuck) or "none stays uneven")
                           + f"; seeds with any excursion: {n_exc}/{len(ev)}" + cause)


# ---- 7 --------------------------------------------------------------------------------------------------
ODE_TOL = 0.05       # absolute tolerance on a seed-averaged overlap or risk [brief claim 7]


def check_ode(tables, config) -> Verdict:
    """The finite-lr ODE started from each replica's own initial overlaps against online SGD, at every D of
    the plateau experiment, on the plateau window 0 < t <= T_w = (earliest exit of any run) - 10, using
    permutation-invariant quantities (risk, head means of N, |v|^2, |k|^2, head-sorted M); table
    ``ode_deviation`` from :func:`analysis.ode_deviation`.

    The high-D theory (overlaps concentrate on the ODE, fluctuations O(D^{-1/2})) predicts [reconstruction]:
      (a) at the largest D, the seed mean of the window-averaged sgd - ode is zero within Z SE over seeds, or
          below the brief's absolute tolerance 0.05, for every quantity (risk included);
      (b) e_D (seed mean of the RMS deviation over the order parameters, risk left out) falls with D: slope of
          log e_D vs log D (weighted by the seed SE) below 0 by Z SE and within Z SE of -1/2.
    The exit itself is excluded (its time is seeded by SGD noise as much as by the init; reported)."""
    dev = tables.get("ode_deviation")
    if dev is None or dev.empty:
        why = ode_deviation(tables.get("dynamics"))
        return undecided(why if isinstance(why, str) else "no ode_deviation table")
    Ds = sorted(int(D) for D in dev["D"].unique())
    t_w = float(dev["t_w"].iloc[0])
    dcols = [c for c in dev.columns if c.startswith("d_")]
    cols = [c for c in dcols if c != "d_risk"]
    e_mean, e_se, lines, a_ok, worst_a = [], [], [], True, ""
    for D in Ds:
        g = dev[dev["D"] == D]
        m, se = mean_and_stderr(g["e"])
        e_mean.append(m); e_se.append(se)
        if D == Ds[-1]:
            a_m, a_se = g[dcols].mean(), g[dcols].std(ddof=1) / math.sqrt(len(g))
            ok = (a_m.abs() <= Z * a_se) | (a_m.abs() <= ODE_TOL)
            a_ok = bool(ok.all())
            zz = a_m.abs() / a_se.replace(0.0, np.nan)
            worst_a = ", ".join(f"{c[2:]} {a_m[c]:+.2g} +- {a_se[c]:.1g}" for c in dcols) + \
                f" (max |mean|/SE {zz.max():.3g}; {'all' if a_ok else 'NOT all'} within {ZT} SE or {ODE_TOL})"
        sh_m, sh_se = mean_and_stderr(g["exit_shift"].dropna())
        lines.append(f"D={D} ({len(g)} replicas): e_D = {m:.3g} +- {se:.2g}; exit t sgd - ode {sh_m:+.3g} +- {sh_se:.2g}")
    x, y = np.log(np.array(Ds, float)), np.log(np.array(e_mean))
    y_se = np.maximum(np.array(e_se) / np.array(e_mean), 1e-6)
    w = 1.0 / y_se ** 2
    X = np.stack([np.ones_like(x), x], 1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    b = float((cov @ (X.T @ (w * y)))[1])
    se_b = float(math.sqrt(cov[1, 1]))
    shrinks, consistent = b + Z * se_b < 0, abs(b + 0.5) <= Z * se_b
    passed = a_ok and shrinks and consistent
    return _verdict(passed, value={"slope": b, "slope SE": se_b},
                    threshold=f"slope below 0 by {ZT} SE and within {ZT} SE of -1/2; seed-mean offsets at the largest "
                              f"D within {ZT} SE or {ODE_TOL} (brief)",
                    detail=f"plateau window 0 < t <= {t_w:g}; " + "; ".join(lines)
                           + f"; log e_D vs log D slope {b:.3g} +- {se_b:.2g} (theory -0.5: "
                             f"{'shrinks' if shrinks else 'does NOT shrink'}, {'consistent' if consistent else 'NOT consistent'}); "
                             f"(a) at D={Ds[-1]}, seed-mean window-averaged sgd - ode: {worst_a}")


# ---- 8 --------------------------------------------------------------------------------------------------
def _var_y(tables, config) -> float:
    b = tables.get("bayes")
    if b is not None and not b.empty and (b["experiment"] == "train").any():
        return float(b[b["experiment"] == "train"]["var_y"].iloc[0])
    return 1.0 + config.noise ** 2


PRUNE_ACTS = ("softmax1", "bayes_softmax")      # softmax-1 with its learned sink logit, and Bayes-softmax


def check_pruning(tables, config) -> Verdict:
    """About H - F heads can be pruned with little loss under softmax1 (learned sink) and bayes_softmax
    [secondary]: heads removed greedily by loss (no retraining); a seed's n_prunable = the most heads removed
    while the risk stays within 10 % of the full model's (+ Z MC SE) (table pruning_summary); passes when
    the per-seed median n_prunable is within one head of H - F for both activations ("about", our reading).
    softmax's and softmax1_nobias' medians are reported."""
    ps = tables["pruning_summary"]
    H, F = int(ps["H"].iloc[0]), int(ps["F"].iloc[0])
    vals, lines, ok = {}, [], True
    for act in PRUNE_ACTS + ("softmax1_nobias", "softmax"):
        g = ps[ps["activation"] == act]
        if g.empty:
            if act in PRUNE_ACTS:
                return undecided(f"{act} was not trained (train_activations)")
            continue
        med = float(g["n_prunable"].median())
        vals[f"{act} median n_prunable"] = med
        lines.append(f"{act}: n_prunable per seed {sorted(int(x) for x in g['n_prunable'])} (median {med:g}); risk "
                     f"{g['risk_full'].median():.4g} -> {g['risk_kept'].median():.4g} (medians) with {F} heads kept")
        if act in PRUNE_ACTS:
            ok &= abs(med - (H - F)) <= 1
    vals["H - F"] = float(H - F)
    return _verdict(bool(ok), value=vals, threshold=f"median n_prunable within one head of H - F = {H - F} (ours: 'about')",
                    detail="; ".join(lines))


def check_trained_bayes_softmax(tables, config) -> Verdict:
    """Trained Bayes-softmax reaches the Bayes risk [paper]: after training (train experiment, all heads), the
    seed-mean population risk is within 20 % of the Bayes risk of the same data (the deep notes' threshold),
    i.e. its 99 % interval does not lie above 1.2 x Bayes.  Compared with the Bayes risk, not with the
    finite-lr fixed point: the paper's statement is about the Bayes-optimal error."""
    p = tables["pruning"]
    g = p[(p["activation"] == "bayes_softmax") & (p["n_pruned"] == 0)]
    b = tables.get("bayes")
    if g.empty or b is None or not (b["experiment"] == "train").any():
        return undecided("needs bayes_softmax in train_activations and the train Bayes risk")
    eb = float(b[b["experiment"] == "train"]["risk"].iloc[0])
    m, se = mean_and_stderr(g["risk"])
    ratio, ratio_lo = m / eb, (m - Z * se) / eb
    return _verdict(ratio_lo <= 1.2, value={"risk / Bayes": ratio, "lower 99 %": ratio_lo, "Bayes risk": eb},
                    threshold="risk within 20 % of the Bayes risk (99 % interval not above 1.2 x Bayes)",
                    detail=f"trained bayes_softmax {m:.4g} +- {se:.2g} over {len(g)} seeds vs Bayes {eb:.4g}: ratio "
                           f"{ratio:.3g} (99 % lower end {ratio_lo:.3g})")


# ---- 9 --------------------------------------------------------------------------------------------------
def check_ordering(tables, config) -> Verdict:
    """After training (all heads): bayes_softmax <= softmax1_nobias <= softmax (each not above by Z SE over
    seeds), and bayes_softmax closes at least half the gap between softmax and the Bayes risk."""
    p = tables["pruning"]
    full = p[p["n_pruned"] == 0]
    stats = {a: mean_and_stderr(g["risk"]) for a, g in full.groupby("activation")}
    need = ("softmax", "softmax1_nobias", "bayes_softmax")
    if any(a not in stats for a in need):
        return undecided(f"needs {need} in train_activations")
    b = tables.get("bayes")
    eb = float(b[b["experiment"] == "train"]["risk"].iloc[0]) if b is not None and (b["experiment"] == "train").any() else np.nan
    z1 = diff_z(*stats["bayes_softmax"], *stats["softmax1_nobias"])
    z2 = diff_z(*stats["softmax1_nobias"], *stats["softmax"])
    gap_frac = (stats["bayes_softmax"][0] - eb) / (stats["softmax"][0] - eb)
    passed = z1 <= Z and z2 <= Z and gap_frac <= 0.5
    return _verdict(passed, value={"z(bs - s1)": z1, "z(s1 - s)": z2, "gap fraction": gap_frac},
                    threshold=f"z <= {ZT} each; (bs - Bayes)/(softmax - Bayes) <= 0.5",
                    detail="final risk: " + ", ".join(f"{a} {m:.4g} +- {s:.2g}" for a, (m, s) in stats.items())
                           + f"; Bayes {eb:.4g}; z(bs - s1) {z1:.3g}, z(s1 - s) {z2:.3g}; (bs - Bayes)/(softmax - Bayes) = {gap_frac:.3g}")


ACT_COLS = ("prior", "nu", "activation", "risk", "stderr", "excess", "excess_stderr")
CLAIMS = [
    Claim("bayes_softmax_is_bayes_optimal",
          "Bayes-softmax (one head per support point of P_theta) attains the Bayes risk; no teacher-aligned "
          "softmax or softmax-1 configuration beats it.", "paper", check_bayes_optimal, kind="consistency",
          needs={"activations": ACT_COLS}),
    Claim("softmax_error_floor",
          "Softmax keeps an error floor as the signal nu grows while the Bayes risk keeps falling.",
          "secondary", check_softmax_floor, needs={"activations": ACT_COLS}),
    Claim("softmax1_reduces_irrelevant_head_noise",
          "Softmax-1 lowers the error of softmax at every nu; with a learned sink logit its error falls far below "
          "the softmax floor.", "paper", check_softmax1, needs={"activations": ACT_COLS}),
    Claim("unspecialized_plateau_then_staged_specialization",
          "Online SGD first sits on an unspecialized plateau, then heads specialize in stages (both flipped modes).",
          "paper", check_plateau,
          needs={"dynamics": ("experiment", "source", "name", "head", "feature", "t", "risk", "value"),
                 "exits": ("experiment", "source", "feature", "D", "seed", "t_exit")}),
    Claim("plateau_length_grows_like_log_D",
          "The unspecialized plateau lasts a time that grows like log D.", "reconstruction", check_plateau_log_D,
          needs={"dynamics": ("experiment", "source", "name", "head", "feature", "t", "risk", "value"),
                 "exits": ("experiment", "source", "feature", "D", "seed", "t_exit")}),
    Claim("specialization_order_follows_variance",
          "With diagonal Cov(theta), heads learn the features in decreasing order of Var theta_f.",
          "secondary", check_variance_order,
          needs={"exits": ("experiment", "source", "feature", "activation", "D", "seed", "t_exit", "horizon")}),
    Claim("even_split_between_flipped_modes",
          "With a flipped spike (p = 1/2) the heads end evenly split between the two modes, uneven splits "
          "rebalancing through an excursion.", "secondary", check_even_split,
          needs={"split_counts": ("seed", "t", "pos", "neg", "H")}),
    Claim("uneven_split_rearranges_through_excursion",
          "Heads that first split unevenly between the flipped modes rearrange, through an excursion, into the even "
          "split.", "secondary", check_excursion,
          needs={"split_events": ("seed", "uneven_t", "excursion_t", "rebalance_t", "final_even")}),
    Claim("ode_matches_sgd",
          "The order-parameter ODE (Monte-Carlo drifts, same initial overlaps) follows finite-D online SGD on the "
          "plateau, the finite-D deviations shrinking like D^{-1/2}.",
          "reconstruction", check_ode),
    Claim("pruning_costs_little_for_softmax1_and_bayes_softmax",
          "After training, about H - F heads can be pruned with little loss under softmax-1 (+ bias) and "
          "Bayes-softmax.", "secondary", check_pruning,
          needs={"pruning_summary": ("activation", "seed", "H", "F", "n_prunable", "risk_full", "risk_kept")}),
    Claim("trained_bayes_softmax_reaches_bayes_risk",
          "Bayes-softmax trained by online SGD reaches the Bayes-optimal error (within 20 %).", "paper",
          check_trained_bayes_softmax, needs={"pruning": ("activation", "seed", "n_pruned", "risk")}),
    Claim("activation_ordering_after_training",
          "After training: Bayes-softmax <= softmax-1 <= softmax, Bayes-softmax close to the Bayes risk.",
          "reconstruction", check_ordering, needs={"pruning": ("activation", "seed", "n_pruned", "risk")}),
]
