"""The paper's claims as checks over the final tables (ids from issue 7).

Claims on real models (SmolLM2, MiniLM, ...) are *transfer tests* of the paper's GPT-2 results.  Each check
returns a Verdict; tolerances are either exact-arithmetic (float64 rounding), or statistical (z = 2.576, i.e.
two-sided 99%, on standard errors over heads), or a declared band that *defines* the qualitative word of the
paper ("about linearly": a log-log slope in [0.75, 1.25]); the bands are fixed here, before any run.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ...claims import Claim, Verdict, mean_and_stderr

Z = 2.576                    # two-sided 99% normal quantile
LINEAR_BAND = (0.75, 1.25)   # "about linearly" in L: log-log slope band
SYNTH = "synthetic"


def _missing(tables, *names) -> Verdict | None:
    for n in names:
        if n not in tables or len(tables[n]) == 0:
            return Verdict(None, detail=f"table {n!r} is missing or empty in this run")
    return None


def _real(df: pd.DataFrame) -> pd.DataFrame:
    return df[~df["model"].astype(str).str.startswith(SYNTH)]


# 1 ------------------------------------------------------------------------------------------------------------
def check_lemma1(tables, config) -> Verdict:
    """Exact (float64): every softmax and 1+sigmoid weight within [C1/L, C2/L]; SSMax's max weight reported."""
    if (m := _missing(tables, "lemma1")):
        return m
    df = tables["lemma1"]
    bounded = df[df["normalizer"] != "ssmax"]
    n_bad = int((~bounded["within"].astype(bool)).sum())
    ss = df[df["normalizer"] == "ssmax"].groupby("L")["max_alpha"].mean()
    sm = df[df["normalizer"] == "softmax"].groupby("L")["max_alpha"].mean()
    slope_ss = float(np.polyfit(np.log(ss.index), np.log(ss.values), 1)[0]) if len(ss) > 1 else float("nan")
    slope_sm = float(np.polyfit(np.log(sm.index), np.log(sm.values), 1)[0]) if len(sm) > 1 else float("nan")
    return Verdict(n_bad == 0, value=n_bad, threshold=0,
                   detail=f"{n_bad} of {len(bounded)} (normalizer, T, L, rep) cases outside [C1, C2] "
                          f"(softmax: e^(+-2 Delta/T); 1+sigmoid: Lemma 1 constants; L = {sorted(df.L.unique())}); "
                          f"max-weight log-log slope vs L: softmax {slope_sm:.3f} (1/L law: -1), "
                          f"SSMax {slope_ss:.3f} (length-aware, not bound by Lemma 1)")


# 2 ------------------------------------------------------------------------------------------------------------
def check_jacobian(tables, config) -> Verdict:
    """max ||J||_2 T <= 1/2 (+ float rounding 1e-12); tied top two reaches 1/2 (within 1e-9); closed form equals
    autograd (1e-12) and central differences (1e-6: truncation (h/T)^2 = 1e-10 plus roundoff)."""
    if (m := _missing(tables, "jacobian")):
        return m
    df = tables["jacobian"]
    mx = float(df["spectral_norm_times_T"].max())
    tied = df[df["case"] == "tied_top2"]["spectral_norm_times_T"]
    tied_min = float(tied.min()) if len(tied) else float("nan")
    ad, fd = float(df["autograd_err_times_T"].max()), float(df["fd_err_times_T"].max())
    diag = float(df["diag_max_times_T"].max())
    ok = mx <= 0.5 + 1e-12 and abs(tied_min - 0.5) <= 1e-9 and ad <= 1e-12 and fd <= 1e-6 and diag <= 0.25 + 1e-12
    return Verdict(ok, value=mx, threshold=0.5,
                   detail=f"max ||J||_2 T = {mx:.12f} (bound 1/2); tied top-2 min ||J||_2 T = {tied_min:.12f} = twice "
                          f"the printed 1/(4T); max diag T = {diag:.6f} (<= 1/4: what 1/(4T) bounds); "
                          f"|J - autograd| T <= {ad:.1e}, |J - central diff| T <= {fd:.1e}")


# 3 ------------------------------------------------------------------------------------------------------------
def check_bound(tables, config) -> Verdict:
    """No violation of the (derived) Theorem 1 bound in >= 1000 synthetic cases (exact d1, float64, rel. 1e-12)
    nor in any row of any real head (float32, rel. 1e-4, counted per row in the task)."""
    if (m := _missing(tables, "synthetic_distance")):
        return m
    syn = tables["synthetic_distance"]
    syn_bad = int((syn["d_sum"] > syn["d_bound"] * (1 + 1e-12) + 1e-12).sum())
    n_cases = len(syn)
    real_bad, real_rows = 0, 0
    if "distance" in tables and len(tables["distance"]):
        dist = tables["distance"]
        real_bad = int(dist["bound_violations"].sum())
        real_rows = int(dist["n_rows"].sum())
    ok = syn_bad == 0 and real_bad == 0
    enough = n_cases >= 1000
    detail = (f"synthetic: {syn_bad} violations in {n_cases} cases (need >= 1000 cases); real models: {real_bad} "
              f"violating rows of {real_rows} (head, row) pairs")
    if ok and not enough:
        return Verdict(None, value=syn_bad + real_bad, threshold=0,
                       detail=detail + "; too few synthetic cases to decide (raise syn_reps)")
    return Verdict(ok, value=syn_bad + real_bad, threshold=0, detail=detail)


# 4 ------------------------------------------------------------------------------------------------------------
def _head_slopes(df: pd.DataFrame) -> np.ndarray:
    """log-log slope of d_sum vs L per (chunk, layer, head)."""
    out = []
    for _, g in df.groupby(["chunk", "layer", "head"]):
        g = g[(g["d_sum"] > 0) & np.isfinite(g["d_sum"])]
        if g["L"].nunique() >= 2:
            out.append(np.polyfit(np.log(g["L"]), np.log(g["d_sum"]), 1)[0])
    return np.asarray(out)


def check_grows_with_L(tables, config) -> Verdict:
    """Per model at N = N_fixed: mean over heads of the log-log slope of d~ vs L; passes when the 99% interval
    lies above 0 and the mean lies in LINEAR_BAND.  Decided on the pretrained models; the synthetic slope (random
    unit vectors, N(0,1) logits: top weights ~ 1/L, so d~ ~ (L - N)||s|| grows sub-linearly) is reported."""
    if (m := _missing(tables, "synthetic_distance")):
        return m
    N = config.N_fixed
    results = {}
    syn = tables["synthetic_distance"]
    syn = syn[syn["N"] == N]
    if len(syn):
        sl = [np.polyfit(np.log(g["L"]), np.log(g["d_sum"]), 1)[0] for _, g in syn.groupby("rep")]
        results[SYNTH] = mean_and_stderr(sl)
    if "distance" in tables and len(tables["distance"]):
        d = tables["distance"]
        d = d[(d["sweep"] == "L") & (d["N"] == N)]
        for model, g in d.groupby("model"):
            results[model] = mean_and_stderr(_head_slopes(g))
    oks = {k: (mu - Z * se > 0 and LINEAR_BAND[0] <= mu <= LINEAR_BAND[1]) for k, (mu, se) in results.items()}
    detail = "; ".join(f"{k}: slope {mu:.3f} +- {se:.3f} ({'in band' if oks[k] else 'not in band'})"
                       for k, (mu, se) in results.items())
    decided = [k for k in results if k != SYNTH]
    if not decided:
        return Verdict(None, value={k: round(v[0], 4) for k, v in results.items()}, threshold=list(LINEAR_BAND),
                       detail=detail + f" (N = {N}); no pretrained model in this run: Fig. 2a is a real-model claim, "
                                       "the synthetic slope is reported only")
    return Verdict(all(oks[k] for k in decided), value={k: round(v[0], 4) for k, v in results.items()},
                   threshold=list(LINEAR_BAND),
                   detail=detail + f" (N = {N}; decided on the pretrained models, transfer tests of GPT-2's Fig. 2a; "
                                   "the synthetic slope with an L-independent logit law is reported only)")


# 5 ------------------------------------------------------------------------------------------------------------
def check_plateau(tables, config) -> Verdict:
    """At L_fixed: per head, |log(d(100)/d(20))| < |log(d(20)/d(1))|; the mean difference over heads must be < 0
    at 99% (mean + Z se < 0).  Uses the largest N of the grid in place of 100 and the smallest in place of 1."""
    if (m := _missing(tables, "distance")):
        return m
    d = tables["distance"]
    d = d[d["sweep"] == "N"]
    res = {}
    for model, g in d.groupby("model"):
        Ns = sorted(g["N"].unique())
        if len(Ns) < 3:
            continue
        lo, hi = Ns[0], Ns[-1]
        mid = 20 if 20 in Ns else Ns[len(Ns) // 2]
        p = g.pivot_table(index=["chunk", "layer", "head"], columns="N", values="d_sum")
        p = p[(p[[lo, mid, hi]] > 0).all(axis=1)]
        diff = np.abs(np.log(p[hi] / p[mid])) - np.abs(np.log(p[mid] / p[lo]))
        mu, se = mean_and_stderr(diff)
        res[model] = (mu, se, float(np.exp(np.log(p[hi] / p[mid]).mean())), float(np.exp(np.log(p[mid] / p[lo]).mean())),
                      lo, mid, hi)
    if not res:
        return Verdict(None, detail="no N sweep in this run")
    oks = {k: v[0] + Z * v[1] < 0 for k, v in res.items()}
    return Verdict(all(oks.values()), value={k: round(v[0], 4) for k, v in res.items()}, threshold=0.0,
                   detail="; ".join(f"{k}: geo-mean d({v[6]})/d({v[5]}) = {v[2]:.3f} vs d({v[5]})/d({v[4]}) = "
                                    f"{v[3]:.3f}, mean(|log r_late| - |log r_early|) = {v[0]:.3f} +- {v[1]:.3f} "
                                    f"({'ok' if oks[k] else 'FAIL'})" for k, v in res.items()))


# 6 ------------------------------------------------------------------------------------------------------------
def check_critical_n(tables, config) -> Verdict:
    """Per model and alpha (brief, experiment 6 (iii)): critical N found at >= 3 lengths, increasing with L
    (Kendall tau > 0 with one-sided p < 0.05) and about in proportion to L (least-squares slope of log critical N
    on log L in [0.75, 1.25], the tolerance of distance_grows_with_L_at_fixed_N).  critical N / L is reported
    next to the paper's 0.06 (a GPT-2 number, not part of the verdict)."""
    if (m := _missing(tables, "critical_n")):
        return m
    c = tables["critical_n"]
    res, notes = {}, []
    for (model, a), g in c.groupby(["model", "alpha"]):
        g = g.dropna(subset=["critical_N"]).sort_values("L")
        fr = ", ".join(f"L={int(r.L)}: {r.critical_N:g} ({r.critical_N / r.L:.3f} L)" for r in g.itertuples())
        if len(g) < 3:
            miss = c[(c["model"] == model) & (c["alpha"] == a) & c["critical_N"].isna()]
            lb = ", ".join(f"L={int(r.L)}: > {int(r.N_max_scanned)}" for r in miss.itertuples()) \
                if "N_max_scanned" in miss else ""
            notes.append(f"{model} alpha={a:g}: critical N found at only {len(g)} lengths ({fr}); top-N and random-N "
                         f"distances still differ at every scanned N elsewhere ({lb})")
            continue
        tau, p = stats.kendalltau(g["L"], g["critical_N"])
        p1 = p / 2 if tau > 0 else 1.0
        slope = float(np.polyfit(np.log(g["L"]), np.log(g["critical_N"]), 1)[0])
        res[(model, a)] = (float(tau), float(p1), slope)
        notes.append(f"{model} alpha={a:g}: tau={tau:.2f}, p={p1:.3g}, log-log slope {slope:.2f}, mean critical N/L "
                     f"{float((g['critical_N'] / g['L']).mean()):.2f}; {fr}")
    if not res:
        return Verdict(None, detail="; ".join(notes) + " -- growth cannot be decided without a critical N inside "
                                    "the grid (raise critical_fracs); paper, GPT-2: critical N ~ 0.06 L")
    ok = all(t > 0 and p < 0.05 and 0.75 <= sl <= 1.25 for t, p, sl in res.values())
    return Verdict(ok, value={f"{k[0]}@{k[1]:g}": round(v[2], 3) for k, v in res.items()}, threshold=[0.75, 1.25],
                   detail="; ".join(notes) + " (paper, GPT-2: critical N ~ 0.06 L)")


# 7 ------------------------------------------------------------------------------------------------------------
def check_separability(tables, config) -> Verdict:
    """Per model: decline = mean over heads of r(N=1) - r(N=16) > 0 at 99%; saturation = per-octave drop beyond 16
    at most half the per-octave drop before 16.  The 0.70-0.85 band of GPT-2 is reported, not required.
    Decided on the pretrained models; the random-sphere control is reported next to them."""
    if (m := _missing(tables, "separability")):
        return m
    s = tables["separability"]
    res = {}
    for model, g in s.groupby("model"):
        p = g.pivot_table(index=["chunk", "layer", "head"], columns="N", values="ratio")
        Ns = sorted(p.columns)
        if 16 not in Ns or len([n for n in Ns if n > 16]) == 0:
            continue
        lo, hi = Ns[0], Ns[-1]
        dec = p[lo] - p[16]
        late = p[16] - p[hi]
        mu_d, se_d = mean_and_stderr(dec)
        mu_l, se_l = mean_and_stderr(late)
        per_oct_before = mu_d / max(math.log2(16 / lo), 1e-9)
        per_oct_after = mu_l / max(math.log2(hi / 16), 1e-9)
        med = {n: float(p[n].median()) for n in Ns}
        ok = (mu_d - Z * se_d > 0) and per_oct_after <= 0.5 * per_oct_before
        res[model] = (ok, mu_d, se_d, per_oct_before, per_oct_after, med)
    decided = [k for k in res if not str(k).startswith(SYNTH)]
    if not decided:
        return Verdict(None, detail="no pretrained-model separability rows with N = 16 and a larger N")
    return Verdict(all(res[k][0] for k in decided), value={k: round(v[5][max(v[5])], 3) for k, v in res.items()},
                   threshold=[0.70, 0.85],
                   detail="; ".join(f"{k}: decline to N=16 {v[1]:.3f} +- {v[2]:.3f}, drop/octave before {v[3]:.3f} "
                                    f"vs after {v[4]:.3f}; medians " + ", ".join(f"{n}:{m:.2f}" for n, m in v[5].items())
                                    + f" ({'ok' if v[0] else 'FAIL'})" for k, v in res.items())
                          + " (decided on the pretrained models; synthetic-sphere is the control; value: median at "
                            "the largest N; paper GPT-2 band 0.70-0.85)")


# 8 ------------------------------------------------------------------------------------------------------------
def _slope(g: pd.DataFrame, col: str, lo: float, hi: float) -> float:
    g = g[(g["T"] >= lo) & (g["T"] <= hi) & (g[col] > 0)]
    if g["T"].nunique() < 2:
        return float("nan")
    return float(np.polyfit(np.log(g["T"]), np.log(g[col]), 1)[0])


def check_gradient(tables, config) -> Verdict:
    """Exact bounds everywhere: g <= 1/(2T) and g <= sqrt(2)/eps (mean-value theorem; rel. 1e-9).  Scaling: for a
    tied top two (synthetic-gap=0) the log-log slope of g_max over 10 eps_min <= T <= 0.1 is -1 within 0.1.
    Real models: slope over T <= 0.1 at the smallest eps and the drop g(0.1)/g(>=1) are reported (transfer)."""
    if (m := _missing(tables, "gradient")):
        return m
    g = tables["gradient"]
    lim = np.minimum(1 / (2 * g["T"]), math.sqrt(2) / g["eps"])
    n_bad = int((g["g_max"] > lim * (1 + 1e-9)).sum())
    e0 = float(g["eps"].min())
    tied = g[(g["model"] == "synthetic-gap=0") & (g["eps"] == e0)]
    s_tied = _slope(tied, "g_max", 10 * e0, 0.1)
    notes = []
    for model, gm in g[g["eps"] == e0].groupby("model"):
        if model == "synthetic-gap=0":
            continue
        s = _slope(gm, "g_max", 0, 0.1)
        lo = gm[gm["T"] <= 0.1].sort_values("T")
        hi = gm[gm["T"] >= 1.0]
        drop = float(lo["g_max"].iloc[-1] / hi["g_max"].max()) if len(lo) and len(hi) else float("nan")
        notes.append(f"{model}: slope(T<=0.1) {s:.2f}, g_max(0.1)/max g_max(T>=1) = {drop:.3g}")
    ok = n_bad == 0 and abs(s_tied + 1) <= 0.1
    return Verdict(ok, value=s_tied, threshold=-1.0,
                   detail=f"{n_bad} rows above min(1/(2T), sqrt2/eps); tied top-2 slope {s_tied:.3f} (eps={e0:g}); "
                          + "; ".join(notes) + " (real-model slopes are transfer tests; GPT-2 tracked 1/T for T < 0.1)")


# 9 ------------------------------------------------------------------------------------------------------------
def check_coverage(tables, config) -> Verdict:
    """1 - (1 - 0.8)^H = 0.96 at H = 2 and 0.992 at H = 3 (exact up to 1e-12)."""
    if (m := _missing(tables, "coverage")):
        return m
    c = tables["coverage"]
    got = {H: float(c[(np.isclose(c["p"], 0.8)) & (c["H"] == H)]["coverage"].iloc[0]) for H in (2, 3)}
    err = max(abs(got[2] - 0.96), abs(got[3] - 0.992))
    return Verdict(err <= 1e-12, value=[got[2], got[3]], threshold=[0.96, 0.992],
                   detail=f"p=0.8: H=2 -> {got[2]:.12f}, H=3 -> {got[3]:.12f}; max error {err:.1e}")


CLAIMS = [
    Claim("attention_weights_within_lemma1_bounds",
          "Lemma 1 / Corollary 1: with bounded logits every weight of a length-independent normalizer (softmax, "
          "1+sigmoid) lies in [C1/L, C2/L] (softmax: e^(+-2 Delta/T)/L); SSMax escapes the 1/L law.",
          "secondary", check_lemma1),
    Claim("softmax_jacobian_norm_at_most_half_over_T",
          "The softmax Jacobian (diag a - a a^T)/T has spectral norm <= 1/(2T), attained by a tied top two; the "
          "printed 1/(4T) bounds only its diagonal.", "reconstruction", check_jacobian),
    Claim("distance_below_theorem1_bound",
          "Theorem 1 (our derived form for reading B): d~ <= (1 - abar) d1 + max||x_j|| sqrt(...) for every row.",
          "reconstruction", check_bound),
    Claim("distance_grows_with_L_at_fixed_N",
          "Fig. 2a: at N = 5 the (head-averaged) d~ grows about linearly in L (synthetic; transfer test on the "
          "offline models).", "paper", check_grows_with_L),
    Claim("distance_plateaus_in_N",
          "Fig. 2b: at fixed L, d~ changes less from N = 20 to 100 than from N = 1 to 20 (plateau; transfer test).",
          "paper", check_plateau),
    Claim("critical_N_grows_with_L",
          "Fig. 2c: the KS critical N (top-N vs random-N distances indistinguishable) grows about in proportion to L "
          "(GPT-2: ~0.06 L; transfer test).", "paper", check_critical_n),
    Claim("separability_declines_then_saturates",
          "Fig. 3: N_s/N declines up to N ~ 16 and then saturates (GPT-2: 0.70-0.85; transfer test).", "paper",
          check_separability),
    Claim("gradient_sensitivity_scales_as_inverse_T",
          "Fig. 4 / Corollary 3: the finite-difference sensitivity g(T, eps) scales as 1/T at small T where rows "
          "have near-ties, never exceeds min(1/(2T), sqrt2/eps); real-model slopes are transfer tests.", "paper",
          check_gradient),
    Claim("multihead_coverage_arithmetic",
          "Discussion: H independent heads each separating a fraction p cover 1 - (1 - p)^H; p = 0.8 gives 0.96 "
          "(H = 2) and 0.992 (H = 3).", "paper", check_coverage),
]
