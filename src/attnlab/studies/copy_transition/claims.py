"""The paper's claims as checks over the result tables (brief section 7; ids from issue 4).

Each check is a pure function (tables, config) -> Verdict.  Theory checks use the numerical resolution of the
minimizer; simulation checks use standard errors over chains / seeds (attnlab.claims.mean_and_stderr).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...claims import Claim, Verdict, mean_and_stderr

NUM_TOL = 1e-6        # resolution of the theory minimizers (located to ~1e-10 in a)
BETA, BETA_TOL = 0.5, 0.1
SAMPLE_TOL = 0.05     # brief claim 4: |<m> - m_theory| within 0.05 away from P*
APART, AGREE = 0.05, 0.02   # brief claim 5
PRECURSOR = 0.1       # "close to uniform": below P*, m has risen by < 10% of the jump


def _rows(tables, name, **eq) -> pd.DataFrame:
    df = tables.get(name)
    if df is None or len(df) == 0:
        return pd.DataFrame()
    for k, v in eq.items():
        df = df[df[k] == v]
    return df


def spread(x) -> float:
    """ln(max/min) of positive values."""
    x = np.asarray(x, float)
    return float(np.log(x.max() / x.min()))


def slope(x, y) -> tuple[float, float]:
    """Least-squares slope of y on x and its standard error."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    A = np.vstack([x, np.ones_like(x)]).T
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    if len(x) <= 2:
        return float(coef[0]), math.inf
    r = y - A @ coef
    return float(coef[0]), math.sqrt(float(r @ r) / (len(x) - 2) / float(((x - x.mean()) ** 2).sum()))


def _sample_ref(tables, config, att):
    t = _rows(tables, "transition", attention=att, L=config.sample_L)
    return None if t.empty else t.iloc[0]


# ---- 1 ------------------------------------------------------------------------------------------------
def check_first_order(tables, config) -> Verdict:
    t = _rows(tables, "transition", attention="softmax")
    t = t[t.L.isin([32, 64, 128])] if not t.empty else t
    if t.empty:
        return Verdict(None, detail="no softmax theory row for L in {32, 64, 128}")
    ok, parts, dms = True, [], []
    for r in t.itertuples():
        window = (np.isfinite(r.P_spinodal_low) and np.isfinite(r.P_spinodal_high)
                  and r.P_spinodal_low < r.P_star < r.P_spinodal_high)
        dm, dres = r.m_high - r.m_low, r.residual_low - r.residual_high
        good = bool(window and dm > NUM_TOL and dres > NUM_TOL)
        ok &= good
        dms.append(float(dm) if np.isfinite(dm) else float("nan"))
        parts.append(f"L={r.L}: window [{r.P_spinodal_low:.1f}, {r.P_spinodal_high:.1f}], P*={r.P_star:.1f}, "
                     f"jump m {r.m_low:.4f}->{r.m_high:.4f}, residual {r.residual_low:.3f}->{r.residual_high:.3f}")
    return Verdict(bool(ok), value=dms, threshold=NUM_TOL,
                   detail="two minima over a finite window and a jump of the global minimizer at P*: "
                          + "; ".join(parts))


# ---- 2 ------------------------------------------------------------------------------------------------
def check_second_order(tables, config) -> Verdict:
    t = _rows(tables, "transition", attention="linear")
    if t.empty:
        return Verdict(None, detail="no linear theory rows")
    ok, parts, betas = True, [], []
    for r in t.itertuples():
        curve = _rows(tables, "theory_curve", attention="linear", L=r.L).sort_values("P")
        onset = _rows(tables, "linear_onset", L=r.L)
        onset = onset[(onset.P_minus_Pc > 0) & (onset.P < 1.3 * r.P_c) & (onset.a > 0)]
        if not np.isfinite(r.P_c) or len(onset) < 3 or curve.empty:
            ok = False
            parts.append(f"L={r.L}: no onset found")
            betas.append(float("nan"))
            continue
        beta, se = slope(np.log(onset.P_minus_Pc), np.log(onset.a))
        single = bool((curve.n_minima == 1).all())
        ratio = (1 - curve.residual[curve.P > r.P_c]).to_numpy()
        mono = bool(np.all(np.diff(ratio) >= -NUM_TOL)) if len(ratio) > 1 else False
        final = float(ratio[-1]) if len(ratio) else float("nan")
        good = single and abs(beta - BETA) <= BETA_TOL and mono and final >= 0.9
        ok &= good
        betas.append(beta)
        parts.append(f"L={r.L}: P_c={r.P_c:.2f}, beta={beta:.3f}+-{se:.3f}, single minimum={single}, "
                     f"m^2/q monotone={mono}, final m^2/q={final:.3f}")
    return Verdict(bool(ok), value=betas, threshold=f"{BETA}+-{BETA_TOL}; single minimum; m^2/q monotone to >= 0.9",
                   detail="; ".join(parts))


# ---- 3 ------------------------------------------------------------------------------------------------
def check_scaling(tables, config) -> Verdict:
    t = _rows(tables, "transition", attention="softmax")
    t = t[np.isfinite(t.P_star)] if not t.empty else t
    if len(t) < 3:
        return Verdict(None, detail=f"needs P* at >= 3 values of L, have {len(t)}")
    L, P = t.L.to_numpy(float), t.P_star.to_numpy(float)
    x1, x2 = P / (L * np.log(L) ** 2), P / L
    ratio = spread(x1) / spread(x2) if spread(x2) > 0 else math.inf
    k, se = slope(np.log(np.log(L)), np.log(x2))
    return Verdict(bool(ratio <= 0.5), value=ratio, threshold=0.5,
                   detail=f"spread ln(max/min) of P*/(L ln^2 L) = {spread(x1):.3f} vs of P*/L = {spread(x2):.3f} "
                          f"over L={L.astype(int).tolist()}; fit P*/L ~ (ln L)^k: k={k:.2f}+-{se:.2f} "
                          f"(asymptotically 2); P*/(L ln^2 L) at L={int(L[-1])}: {x1[-1]:.3f} vs leading order "
                          f"kappa/(4 sigma_a2)={config.kappa / (4 * config.sigma_a2):.3f}")


# ---- 4 ------------------------------------------------------------------------------------------------
def _basin_chains(s, r):
    """Chains started in the basin of the theory's global minimum (both starts outside the window)."""
    out = []
    for P, g in s.groupby("P"):
        if r.P_spinodal_low < P < r.P_spinodal_high:
            g = g[g.init == ("uniform" if P < r.P_star else "copy")]
        out.append(g)
    return pd.concat(out) if out else s


def check_sampling(tables, config) -> Verdict:
    r = _sample_ref(tables, config, "softmax")
    s = _rows(tables, "sampling", method="mala", attention="softmax", L=config.sample_L)
    if r is None or s.empty or not np.isfinite(r.P_star):
        return Verdict(None, detail="no MALA softmax samples or no theory P* at sample_L")
    s = s[(s.P < 0.8 * r.P_star) | (s.P > 1.25 * r.P_star)]
    if s.P.nunique() < 2:
        return Verdict(None, detail="fewer than 2 sampled P outside [0.8 P*, 1.25 P*]")
    s = _basin_chains(s, r)
    worst, parts, ok = 0.0, [], True
    for P, g in s.groupby("P"):
        for col in ("m", "residual"):
            mu, se = mean_and_stderr(g[col])
            dev = abs(mu - g[f"{col}_theory"].iloc[0])
            se = se if math.isfinite(se) else 0.0
            ok &= dev <= SAMPLE_TOL + 2 * se
            worst = max(worst, dev)
        parts.append(f"P={P}: m {g.m.mean():.3f} vs {g.m_theory.iloc[0]:.3f}, residual {g.residual.mean():.3f} "
                     f"vs {g.residual_theory.iloc[0]:.3f}")
    lin = _rows(tables, "sampling", method="mala", attention="linear", L=config.sample_L)
    extra = ""
    if not lin.empty:
        d = lin.groupby("P").agg(m=("m", "mean"), mt=("m_theory", "first"))
        extra = f" | linear (information): max |<m> - m_theory| = {float((d.m - d.mt).abs().max()):.3f}"
    return Verdict(bool(ok), value=worst, threshold=f"{SAMPLE_TOL} + 2 se",
                   detail=f"L={config.sample_L}, P* = {r.P_star:.1f}: " + "; ".join(parts) + extra)


# ---- 5 ------------------------------------------------------------------------------------------------
def check_hysteresis(tables, config) -> Verdict:
    r = _sample_ref(tables, config, "softmax")
    s = _rows(tables, "sampling", method="mala", attention="softmax", L=config.sample_L)
    if r is None or s.empty or not np.isfinite(r.P_spinodal_low) or not np.isfinite(r.P_spinodal_high):
        return Verdict(None, detail="no MALA softmax samples or no coexistence window at sample_L")
    inside, outside, parts = [], [], []
    for P, g in s.groupby("P"):
        mc, sc = mean_and_stderr(g[g.init == "copy"].m)
        mu, su = mean_and_stderr(g[g.init == "uniform"].m)
        d, se = mc - mu, math.sqrt(sc**2 + su**2)
        se = se if math.isfinite(se) else 0.0
        (inside if r.P_spinodal_low < P < r.P_spinodal_high else outside).append((P, d, se))
        parts.append(f"P={P}: copy-uniform = {d:+.3f} (se {se:.3f})")
    if not inside or not outside:
        return Verdict(None, detail=f"needs sampled P inside and outside the window "
                                    f"[{r.P_spinodal_low:.1f}, {r.P_spinodal_high:.1f}]: " + "; ".join(parts))
    ok_in = all(d >= APART and d >= 2 * se for _, d, se in inside)
    ok_out = all(abs(d) <= AGREE + 2 * se for _, d, se in outside)
    return Verdict(bool(ok_in and ok_out), value=min(d for _, d, _ in inside),
                   threshold=f"inside >= {APART} (and 2 se); outside |d| <= {AGREE} + 2 se",
                   detail=f"window [{r.P_spinodal_low:.1f}, {r.P_spinodal_high:.1f}]; inside apart={ok_in}, "
                          f"outside agree={ok_out}; " + "; ".join(parts))


# ---- 6 ------------------------------------------------------------------------------------------------
def sqrt_onset_step_ratio(P_grid) -> float:
    """Largest (max step / second-largest step) that a continuous square-root onset m = sqrt(max(P - P_c, 0))
    can produce on this P grid, over onset positions P_c anywhere in the grid: the bound a second-order onset
    respects, so that a ratio above it on the same grid signals a jump."""
    P = np.sort(np.asarray(P_grid, float))
    worst = 0.0
    for Pc in np.geomspace(P[1], P[-3], 400):
        d = np.sort(np.diff(np.sqrt(np.clip(P - Pc, 0, None))))
        if d[-2] > 0:
            worst = max(worst, d[-1] / d[-2])
    return float(worst)


def _seed_jumps(s):
    """Per seed: (largest step of final m between consecutive P, ratio to its second-largest step, P of the step)."""
    out = []
    for _, g in s.groupby("seed"):
        g = g.sort_values("P")
        d = np.diff(g.m.to_numpy())
        order = np.argsort(d)
        i = int(order[-1])
        ratio = d[i] / d[order[-2]] if d[order[-2]] > 0 else math.inf
        out.append((float(d[i]), float(ratio), math.sqrt(g.P.iloc[i] * g.P.iloc[i + 1])))
    return out


def check_adam(tables, config) -> Verdict:
    rs, rl = _sample_ref(tables, config, "softmax"), _sample_ref(tables, config, "linear")
    ss = _rows(tables, "sampling", method="adam", attention="softmax", L=config.sample_L)
    sl = _rows(tables, "sampling", method="adam", attention="linear", L=config.sample_L)
    if rs is None or ss.empty or ss.P.nunique() < 4:
        return Verdict(None, detail="no Adam softmax runs on >= 4 values of P")
    bound = sqrt_onset_step_ratio(np.sort(ss.P.unique()))
    jumps = _seed_jumps(ss)
    hi = rs.P_spinodal_high if np.isfinite(rs.P_spinodal_high) else rs.P_star
    lo_ok, hi_ok = 0.8 * rs.P_star, 1.2 * hi
    abrupt = all(r > bound for _, r, _ in jumps)
    located = all(lo_ok <= P <= hi_ok for _, _, P in jumps)
    detail = (f"softmax, per seed: largest step of final m / second-largest = "
              f"{[round(r, 1) for _, r, _ in jumps]} (a square-root onset on this grid gives <= {bound:.2f}); "
              f"jump at P = {[round(P) for _, _, P in jumps]} vs [0.8 P*, 1.2 P_s2] = [{lo_ok:.1f}, {hi_ok:.1f}]")
    ok = abrupt and located
    if rl is not None and not sl.empty and sl.P.nunique() >= 4:
        bound_l = sqrt_onset_step_ratio(np.sort(sl.P.unique()))
        jl = _seed_jumps(sl)
        cont = all(r <= bound_l for _, r, _ in jl)
        ml = sl.groupby("P").m.mean().sort_index()
        half = ml.min() + 0.5 * (ml.max() - ml.min())
        j = int(np.argmax(ml.to_numpy() >= half))
        if j == 0:
            P_on = float(ml.index[0])
        else:
            x0, x1, y0, y1 = math.log(ml.index[j - 1]), math.log(ml.index[j]), ml.iloc[j - 1], ml.iloc[j]
            P_on = math.exp(x0 + (half - y0) * (x1 - x0) / (y1 - y0))
        near = rl.P_c / 2 <= P_on <= 2 * rl.P_c
        ok = ok and cont and near
        detail += (f" | linear, per seed: step ratios {[round(r, 1) for _, r, _ in jl]} (continuous: <= "
                   f"{bound_l:.2f}); half-rise onset of the seed mean at P={P_on:.1f} vs P_c={rl.P_c:.1f} "
                   f"(within x2: {near})")
    else:
        detail += " | linear: no Adam runs"
    return Verdict(bool(ok), value=min(r for _, r, _ in jumps), threshold=bound, detail=detail)


# ---- 7 ------------------------------------------------------------------------------------------------
def check_no_precursor(tables, config) -> Verdict:
    t = _rows(tables, "transition", attention="softmax")
    t = t[np.isfinite(t.P_star)] if not t.empty else t
    if t.empty:
        return Verdict(None, detail="no softmax P*")
    ok, parts, Rs = True, [], []
    for r in t.itertuples():
        c = _rows(tables, "theory_curve", attention="softmax", L=r.L).sort_values("P")
        m0 = float(c.m.iloc[0])
        R = (r.m_low - m0) / (r.m_high - m0)
        Rs.append(float(R))
        ok &= R <= PRECURSOR
        parts.append(f"L={r.L}: (m(P*-) - m(P_min))/jump = {R:.3f}")
    rs = _sample_ref(tables, config, "softmax")
    s = _rows(tables, "sampling", method="mala", attention="softmax", L=config.sample_L)
    if rs is not None and not s.empty and np.isfinite(rs.P_star):
        c = _rows(tables, "theory_curve", attention="softmax", L=config.sample_L).sort_values("P")
        m0, jump = float(c.m.iloc[0]), rs.m_high - float(c.m.iloc[0])
        u = s[(s.init == "uniform") & (s.P < 0.8 * rs.P_star)]
        for P, g in u.groupby("P"):
            mu, se = mean_and_stderr(g.m)
            se = se if math.isfinite(se) else 0.0
            R = (mu - m0) / jump
            ok &= R <= PRECURSOR + 2 * se / jump
            parts.append(f"MALA P={P}: {R:.3f}")
    lin = _rows(tables, "transition", attention="linear")
    for r in lin.itertuples():
        c = _rows(tables, "theory_curve", attention="linear", L=r.L).sort_values("P")
        ratio = (1 - c.residual).to_numpy()
        if not (ratio >= 0.9).any() or not (ratio >= 0.5).any():
            parts.append(f"linear L={r.L}: crossover not reached on the grid")
            continue
        m0 = float(c.m.iloc[0])
        m_x, m_90 = float(c.m.iloc[np.argmax(ratio >= 0.5)]), float(c.m.iloc[np.argmax(ratio >= 0.9)])
        R = (m_x - m0) / (m_90 - m0)
        ok &= R >= PRECURSOR
        parts.append(f"linear L={r.L}: m at m^2/q=0.5 is {R:.2f} of its value at m^2/q=0.9 (>= {PRECURSOR})")
    return Verdict(bool(ok), value=max(Rs), threshold=PRECURSOR, detail="; ".join(parts))


# ---- 8 ------------------------------------------------------------------------------------------------
def check_onset_order(tables, config) -> Verdict:
    s = _rows(tables, "transition", attention="softmax")
    lin = _rows(tables, "transition", attention="linear")
    if s.empty or lin.empty:
        return Verdict(None, detail="needs softmax and linear theory rows")
    d = s[["L", "P_star"]].merge(lin[["L", "P_c"]], on="L")
    d = d[d.L.isin([64, 128, 256]) & np.isfinite(d.P_star) & np.isfinite(d.P_c)].sort_values("L")
    if len(d) < 2:
        return Verdict(None, detail=f"needs P* and P_c at >= 2 of L in (64, 128, 256), have {len(d)}")
    r = (d.P_star / d.P_c).to_numpy()
    L = d.L.to_numpy(float)
    inc = bool(np.all(np.diff(r) > 0)) and bool(np.all(r > 1))
    k, se = slope(np.log(np.log(L)), np.log(r))
    like = spread(r / np.log(L) ** 2) <= 0.5 * spread(r) if len(r) > 1 else False
    return Verdict(bool(inc and like), value=r.tolist(), threshold="> 1, increasing; spread(r/ln^2 L) <= 0.5 spread(r)",
                   detail=f"P*/P_c = {np.round(r, 2).tolist()} at L={L.astype(int).tolist()}; "
                          f"fit r ~ (ln L)^k: k={k:.2f}+-{se:.2f}; spread r/ln^2L={spread(r / np.log(L) ** 2):.3f} "
                          f"vs r={spread(r):.3f}")


CLAIMS = [
    Claim("softmax_transition_is_first_order", "For softmax attention (L = 32, 64, 128) the action has two local "
          "minima over a finite window of P and the global minimizer jumps at the Maxwell point P*: m rises and "
          "the residual 1 - m^2/q falls discontinuously.", "paper", check_first_order),
    Claim("linear_transition_is_second_order_then_crossover", "For linear attention the action has a single "
          "minimum at every P; a grows from P_c like (P - P_c)^beta with beta = 0.5 +- 0.1; then m^2/q rises "
          "monotonically toward 1.", "paper", check_second_order),
    Claim("critical_data_scales_as_L_log2_L", "With logit prior variance 1/L per entry, P*/(L ln^2 L) varies "
          "much less (at most half the log-spread) than P*/L over the theory's L.", "secondary", check_scaling),
    Claim("sampling_matches_theory_away_from_transition", "Reduced-posterior MALA (softmax, L = sample_L) "
          "matches the theory's minimizer in <m> and <1 - m^2/q> within 0.05 (+ 2 se) for P outside "
          "[0.8 P*, 1.25 P*].", "reconstruction", check_sampling),
    Claim("hysteresis_inside_coexistence_window", "Inside the spinodal window MALA chains started from uniform "
          "attention and from the copy pattern stay apart (<m> differs by >= 0.05); outside they agree within "
          "0.02 (+ 2 se).", "reconstruction", check_hysteresis),
    Claim("adam_shows_abrupt_emergence", "Adam from uniform attention: for every seed the softmax final m jumps "
          "between consecutive grid points (one step larger, relative to the seed's next-largest step, than any "
          "square-root onset can give on that grid) at P in [0.8 P*, 1.2 P_s2]; linear has no such jump and its "
          "half-rise onset is within a factor 2 of P_c.", "paper", check_adam),
    Claim("no_precursor_below_transition", "Softmax m(P) below P* (theory, and MALA from uniform start) rises by "
          "less than 10% of the jump; linear m has already grown (>= 10%) when its crossover is half done.",
          "secondary", check_no_precursor),
    Claim("linear_onset_precedes_softmax_jump", "P*_softmax / P_c,linear > 1 grows with L (64, 128, 256), roughly "
          "like ln^2 L.", "reconstruction", check_onset_order),
]
