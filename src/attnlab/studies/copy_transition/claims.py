"""The paper's claims as checks over the final tables (brief section 7; ids from issue 4).

Each check is a pure function (tables, config) -> Verdict that reads the tables written by ``analysis.py``
(it does no analysis a figure also needs).  Intervals follow the lab's one confidence policy
(attnlab.claims: 99 %, mean +- Z se; slopes with a Student-t interval).  Thresholds that come from the brief are
used as it states them; ours are named and explained in docs/studies/copy-transition.md.
"""
from __future__ import annotations

import math

import numpy as np

from ...claims import Claim, Verdict, Z, undecided
from .analysis import BARRIER_MIN, reference, select

NUM_TOL = 1e-6        # resolution of the theory minimizers (located to ~1e-10 in a)
BETA, BETA_TOL = 0.5, 0.1   # brief claim 2
SAMPLE_TOL = 0.05     # brief claim 4: |<m> - m_theory| within 0.05 away from P*
APART, AGREE = 0.05, 0.02   # brief claim 5
PRECURSOR = 0.1       # ours: "close to uniform" = below P*, m has risen by < 10 % of the jump
SPREAD = 0.5          # brief claim 3, "varies much less": at most half the log-spread


def _f(x, nd=4):
    return round(float(x), nd) if x is not None and np.isfinite(x) else float("nan")


# ---- 1 ------------------------------------------------------------------------------------------------
def check_first_order(tables, config) -> Verdict:
    t = select(tables, "transition", attention="softmax")
    t = t[t.L.isin([32, 64, 128])] if not t.empty else t
    if t.empty:
        return undecided("no softmax theory row for L in {32, 64, 128}")
    ok, parts, value = True, [], {}
    for r in t.itertuples():
        window = bool(r.has_window) and r.P_spinodal_low < r.P_star < r.P_spinodal_high
        good = bool(window and r.jump_m > NUM_TOL and r.jump_residual > NUM_TOL)
        ok &= good
        value[f"L={r.L}"] = _f(r.jump_m) if window else 0.0
        parts.append(f"L={r.L}: window [{r.P_spinodal_low:.1f}, {r.P_spinodal_high:.1f}], P*={r.P_star:.1f}, jump m "
                     f"{r.m_low:.4f}->{r.m_high:.4f}, residual {r.residual_low:.3f}->{r.residual_high:.3f}"
                     if window else f"L={r.L}: no coexistence window (crossover at P={r.P_cross:.1f})")
    return Verdict(bool(ok), value=value, threshold="two minima over a finite window and a jump of m > 0 at P*",
                   detail=f"boundary {config.boundary}, ansatz {config.ansatz}: " + "; ".join(parts))


# ---- 2 ------------------------------------------------------------------------------------------------
def check_second_order(tables, config) -> Verdict:
    o = select(tables, "onset_fit")
    if o.empty:
        return undecided("no linear theory rows")
    ok, parts, value = True, [], {}
    for r in o.itertuples():
        if not np.isfinite(r.beta):
            ok = False
            parts.append(f"L={r.L}: no onset found")
            continue
        good = bool(r.single_minimum) and abs(r.beta - BETA) <= BETA_TOL and bool(r.monotone) and r.final_ratio >= 0.9
        ok &= good
        value[f"L={r.L}"] = _f(r.beta)
        parts.append(f"L={r.L}: P_c={r.P_c:.2f}, beta={r.beta:.3f} [{r.beta_low:.3f}, {r.beta_high:.3f}], "
                     f"single minimum={bool(r.single_minimum)}, m^2/q monotone={bool(r.monotone)}, "
                     f"final m^2/q={r.final_ratio:.3f}")
    return Verdict(bool(ok), value=value,
                   threshold="beta within 0.5 +- 0.1 (brief), a single minimum, m^2/q monotone up to >= 0.9",
                   detail="; ".join(parts))


# ---- 3 ------------------------------------------------------------------------------------------------
def check_scaling(tables, config) -> Verdict:
    d, f = select(tables, "scaling"), select(tables, "fits")
    d = d[np.isfinite(d.P_star)] if not d.empty else d
    if len(d) < 3 or f.empty or "lnL_exponent_upper" not in set(f.fit):
        return undecided(f"needs P* at >= 3 values of L, have {len(d)}")
    fit = {r.fit: r for r in f.itertuples()}
    up, al, sp = fit["lnL_exponent_upper"], fit["lnL_exponent_all"], fit["spread_ratio"].slope
    ratio = d.ratio_to_leading.to_numpy()
    falling = bool(np.all(np.diff(ratio) < 0)) and bool(np.all(ratio > 1))
    k_ok = 1.0 < up.low <= 2.0          # the interval excludes k <= 1 and does not lie above 2
    rising = up.slope > al.slope
    ok = sp <= SPREAD and k_ok and rising and falling
    return Verdict(bool(ok), value={"k_upper": _f(up.slope, 3), "k_all": _f(al.slope, 3), "spread_ratio": _f(sp, 3),
                                    f"ratio_to_leading_L={int(d.L.iloc[-1])}": _f(ratio[-1], 3)},
                   threshold="spread of P*/(L ln^2 L) <= half that of P*/L (brief); exponent k of ln L over the upper "
                             "half of L in (1, 2] and above the full-range k; P*/(L ln^2 L) above and falling "
                             "toward kappa/(4 sigma_a2)",
                   detail=f"L={d.L.astype(int).tolist()}: P*/(L ln^2 L)={np.round(d.P_star_over_L_ln2L, 3).tolist()} "
                          f"(leading order {d.leading_order.iloc[0]:.3f}); spread ratio {sp:.3f}; fit P*/L ~ "
                          f"(ln L)^k: all L k={al.slope:.3f} [{al.low:.3f}, {al.high:.3f}], L>={up.L_min} "
                          f"k={up.slope:.3f} [{up.low:.3f}, {up.high:.3f}] (99 %); the corrections to ln^2 L are of "
                          f"relative order ln ln L/ln L, so k approaches 2 slowly from below")


# ---- 4 ------------------------------------------------------------------------------------------------
def _basin(g, r):
    """Inside the window, keep the chains started in the basin of the theory's global minimum."""
    P = g.P.iloc[0]
    if np.isfinite(r.P_spinodal_low) and r.P_spinodal_low < P < r.P_spinodal_high:
        return g[g.init == ("uniform" if P < r.ref else "copy")]
    return g


def check_sampling(tables, config) -> Verdict:
    r = reference(tables, "softmax", config.sample_L)
    s = select(tables, "sampling_summary", method="mala", attention="softmax", L=config.sample_L)
    if r is None or s.empty or not np.isfinite(r.ref):
        return undecided("no MALA softmax samples or no theory reference P at sample_L")
    s = s[(s.P < 0.8 * r.ref) | (s.P > 1.25 * r.ref)]
    if s.P.nunique() < 2:
        return undecided("fewer than 2 sampled P outside [0.8 P*, 1.25 P*]")
    ok, parts, value = True, [], {}
    for P, g in s.groupby("P"):
        g = _basin(g, r)
        for row in g.itertuples():
            for col in ("m", "residual"):
                mu, se, th = getattr(row, col), getattr(row, f"{col}_se"), getattr(row, f"{col}_theory")
                se = se if math.isfinite(se) else 0.0
                dev = abs(mu - th)
                ok &= dev <= SAMPLE_TOL + Z * se
                key = f"{col} P={P}"
                value[key] = max(value.get(key, 0.0), _f(dev))
        parts.append(f"P={P}: m {g.m.mean():.3f} vs {g.m_theory.iloc[0]:.3f}, residual {g.residual.mean():.3f} vs "
                     f"{g.residual_theory.iloc[0]:.3f}")
    lin = select(tables, "sampling_summary", method="mala", attention="linear", L=config.sample_L)
    extra = ""
    if not lin.empty:
        extra = f" | linear (information): max |<m> - m_theory| = {float((lin.m - lin.m_theory).abs().max()):.3f}"
    worst = {"max |m - theory|": max(v for k, v in value.items() if k.startswith("m ")),
             "max |residual - theory|": max(v for k, v in value.items() if k.startswith("residual "))}
    return Verdict(bool(ok), value=worst, threshold=f"within {SAMPLE_TOL} + Z se of the theory (brief: 0.05)",
                   detail=f"L={config.sample_L}, boundary {config.boundary}, reference P = {r.ref:.1f}: "
                          + "; ".join(parts) + extra)


# ---- 5 ------------------------------------------------------------------------------------------------
def check_hysteresis(tables, config) -> Verdict:
    h = select(tables, "hysteresis")
    if h.empty:
        return undecided("no MALA softmax samples from both starts")
    used, out = h[h.used == 1], h[h.inside == 0]
    skipped = h[(h.inside == 1) & (h.used == 0)]
    if used.empty or out.empty:
        return undecided(f"needs sampled P outside the window and inside it with both barriers >= {BARRIER_MIN} "
                         f"nats; inside points with lower barriers: "
                         + ", ".join(f"P={r.P} ({r.barrier_min:.1f} nats)" for r in skipped.itertuples()))
    ok_in = bool(((used.d >= APART) & (used.d >= Z * used.se)).all())
    ok_out = bool((out.d.abs() <= AGREE + Z * out.se).all())
    value = {f"inside L={int(r.L)} P={r.P}": _f(r.d, 3) for r in used.itertuples()}
    value.update({f"barrier L={int(r.L)} P={r.P}": _f(r.barrier_min, 3) for r in used.itertuples()})
    value.update({f"outside L={int(r.L)} P={r.P}": _f(r.d, 3) for r in out.itertuples()})
    detail = (f"L={', '.join(str(int(x)) for x in h.L.unique())}; inside points used (barriers >= {BARRIER_MIN} "
              f"nats): " + ", ".join(f"L={int(r.L)} P={r.P} ({r.P_over_ref:.3f} P*): copy-uniform {r.d:+.3f} "
                                     f"(se {r.se:.3f}), barrier {r.barrier_min:.1f}" for r in used.itertuples())
              + "; outside: " + ", ".join(f"L={int(r.L)} P={r.P}: {r.d:+.3f} (se {r.se:.3f})"
                                          for r in out.itertuples()))
    if len(skipped):
        detail += "; inside but barrier < 10 nats (not used): " + ", ".join(
            f"L={int(r.L)} P={r.P}: {r.d:+.3f}, barrier {r.barrier_min:.1f}" for r in skipped.itertuples())
    return Verdict(ok_in and ok_out, value=value,
                   threshold=f"inside apart by >= {APART} and Z se; outside within {AGREE} + Z se (brief)",
                   detail=detail)


# ---- 6 ------------------------------------------------------------------------------------------------
def check_adam(tables, config) -> Verdict:
    rs = reference(tables, "softmax", config.sample_L)
    j = select(tables, "adam_jumps", attention="softmax")
    if rs is None or j.empty:
        return undecided("no Adam softmax runs on >= 4 values of P")
    bound = float(j.bound.iloc[0])
    hi = rs.P_spinodal_high if np.isfinite(rs.P_spinodal_high) else rs.ref
    lo_ok, hi_ok = 0.8 * rs.ref, 1.2 * hi
    abrupt = bool((j.ratio > bound).all())
    located = bool(((j.P_jump >= lo_ok) & (j.P_jump <= hi_ok)).all())
    value = {"softmax min step ratio": _f(j.ratio.min(), 2), "sqrt-onset bound": _f(bound, 2)}
    detail = (f"softmax, per seed: largest step of final m / second-largest = {np.round(j.ratio, 1).tolist()} (a "
              f"square-root onset on this grid gives <= {bound:.2f}); jump at P = {np.round(j.P_jump).tolist()} vs "
              f"[0.8 P*, 1.2 P_s2] = [{lo_ok:.1f}, {hi_ok:.1f}]")
    ok = abrupt and located
    jl, al = select(tables, "adam_jumps", attention="linear"), select(tables, "adam_linear")
    if jl.empty or al.empty:
        return Verdict(bool(ok), value=value, threshold="see detail", detail=detail + " | linear: no Adam runs")
    cont = bool((jl.ratio <= jl.bound).all())
    m_sat = math.sqrt(config.V / config.sample_L)
    below, above = al[al.P_over_map <= 0.5], al[al.P_over_map >= 2.0]
    quiet = bool((below.m <= 0.2 * m_sat + Z * below.m_se.fillna(0)).all()) if len(below) else False
    risen = bool((above.m >= 0.5 * above.m_map - Z * above.m_se.fillna(0)).all()) if len(above) else False
    ok = ok and cont and quiet and risen
    value.update({"linear max step ratio": _f(jl.ratio.max(), 2),
                  "linear max m below 0.5 P_MAP": _f(below.m.max() if len(below) else np.nan, 3),
                  "linear min m/m_MAP above 2 P_MAP": _f((above.m / above.m_map).min() if len(above) else np.nan, 3)})
    detail += (f" | linear (Adam finds the joint MAP, onset P_MAP = kappa V = {al.P_map.iloc[0]:.2f}, not the "
               f"posterior's P_c): step ratios {np.round(jl.ratio, 1).tolist()} (continuous: <= {jl.bound.iloc[0]:.2f}); "
               f"m at P <= 0.5 P_MAP: {np.round(below.m, 3).tolist()} (<= 0.2 sqrt(V/L) = {0.2 * m_sat:.3f}); "
               f"m / m_MAP at P >= 2 P_MAP: {np.round(above.m / above.m_map, 2).tolist()} (>= 0.5)")
    return Verdict(bool(ok), value=value,
                   threshold="softmax: every seed's largest step above the square-root bound, inside [0.8 P*, 1.2 "
                             "P_s2]; linear: no such step, m ~ 0 below 0.5 P_MAP and >= half the MAP's m above 2 P_MAP",
                   detail=detail)


# ---- 7 ------------------------------------------------------------------------------------------------
def check_no_precursor(tables, config) -> Verdict:
    p = select(tables, "precursor")
    if p.empty or p[p.attention == "softmax"].empty:
        return undecided("no softmax P*")
    ok, parts, value = True, [], {}
    for r in p.itertuples():
        if r.attention == "softmax":
            good = r.R <= PRECURSOR + Z * r.R_se
            parts.append(f"{r.source} L={r.L} P={r.P:.0f}: {r.R:.3f}")
        else:
            good = r.R >= PRECURSOR
            parts.append(f"linear L={r.L}: m at m^2/q=0.5 is {r.R:.2f} of its value at m^2/q=0.9")
        ok &= bool(good)
        value[f"{r.attention} {r.source} L={r.L}" + (f" P={r.P:.0f}" if r.source == "mala" else "")] = _f(r.R, 3)
    return Verdict(bool(ok), value=value,
                   threshold=f"softmax: m has risen by <= {PRECURSOR} of the jump below P* (+ Z se for MALA); "
                             f"linear: >= {PRECURSOR} when the crossover is half done",
                   detail="; ".join(parts))


# ---- 8 ------------------------------------------------------------------------------------------------
def check_onset_order(tables, config) -> Verdict:
    d = select(tables, "scaling")
    d = d[d.L.isin([64, 128, 256]) & np.isfinite(d.Pstar_over_Pc)].sort_values("L") if not d.empty else d
    if len(d) < 2:
        return undecided(f"needs P* and P_c at >= 2 of L in (64, 128, 256), have {len(d)}")
    r, L = d.Pstar_over_Pc.to_numpy(), d.L.to_numpy(float)
    inc = bool(np.all(np.diff(r) > 0)) and bool(np.all(r > 1))
    s_r, s_n = float(np.log(r.max() / r.min())), float(np.log((r / np.log(L) ** 2).max() / (r / np.log(L) ** 2).min()))
    like = s_n <= 0.5 * s_r
    f = select(tables, "fits")
    k = f[f.fit == "onset_order_k"]
    ktxt = f"; fit r ~ (ln L)^k: k={k.slope.iloc[0]:.2f} [{k.low.iloc[0]:.2f}, {k.high.iloc[0]:.2f}]" if len(k) else ""
    return Verdict(bool(inc and like), value={f"L={int(x)}": _f(y, 2) for x, y in zip(L, r)},
                   threshold="P*/P_c > 1 and increasing; log-spread of (P*/P_c)/ln^2 L at most half that of P*/P_c",
                   detail=f"P*/P_c = {np.round(r, 2).tolist()} at L={L.astype(int).tolist()}{ktxt}; spread "
                          f"r/ln^2L={s_n:.3f} vs r={s_r:.3f}")


# ---- 9 ------------------------------------------------------------------------------------------------
def check_causal(tables, config) -> Verdict:
    v = select(tables, "variant_summary")
    if v.empty:
        return undecided("no theory_variants rows")
    value = {f"L={int(r.L)}": float(r.causal_has_window) for r in v.itertuples()}
    parts = [(f"L={int(r.L)}: window [{r.causal_window_low:.0f}, {r.causal_window_high:.0f}], P*={r.causal_P_star:.0f}"
              if r.causal_has_window else f"L={int(r.L)}: no window, crossover at P={r.causal_P_cross:.0f}")
             + f" (cyclic P*={r.P_star:.0f})" for r in v.itertuples()]
    rows = v[np.isfinite(v.causal_rows_has_window)] if "causal_rows_has_window" in v else v.iloc[:0]
    extra = ("; per-row ansatz (each row its own gap): " + "; ".join(
        f"L={int(r.L)}: " + (f"window, P*={r.causal_rows_P_star:.0f}" if r.causal_rows_has_window == 1
                             else f"no window, crossover at P={r.causal_rows_P_cross:.0f}") for r in rows.itertuples())
             if len(rows) else "")
    return Verdict(bool((v.causal_has_window == 1).all()), value=value,
                   threshold="a coexistence window at every theory L (1 = window)",
                   detail="causal mask in the one-parameter theory (row t has t+1 keys, common gap a): "
                          + "; ".join(parts) + extra)


# ---- 10 -----------------------------------------------------------------------------------------------
FACTOR = 1.5   # brief claim 6: sampling locates the jump "within a factor 1.5 of the theory P*"


def check_pstar_sampling(tables, config) -> Verdict:
    p = select(tables, "pstar_sampling")
    p = p[p.n_seeds >= 2] if not p.empty else p
    if p.empty:
        return undecided("no sampled P* (umbrella integration found two basins in fewer than 2 data sets)")
    ok = bool(((p.P_star_sampled / p.P_star_theory).between(1 / FACTOR, FACTOR)).all())
    value = {f"L={int(r.L)} sampled/theory": _f(r.P_star_sampled / r.P_star_theory, 4) for r in p.itertuples()}
    inside = {int(r.L): bool(r.low <= r.P_star_theory <= r.high) for r in p.itertuples()}
    return Verdict(ok, value=value, threshold="sampled P* within a factor 1.5 of the theory's Maxwell point (brief "
                                              "claim 6)",
                   detail="; ".join(f"L={int(r.L)}: P* sampled {r.P_star_sampled:.1f} [{r.low:.1f}, {r.high:.1f}] "
                                    f"(99 %, {int(r.n_seeds)} data sets) vs theory {r.P_star_theory:.1f} "
                                    f"({100 * r.rel_diff:+.1f} %; theory inside the interval: {inside[int(r.L)]})"
                                    for r in p.itertuples())
                   + " - umbrella integration along the copy-logit gap over the full reduced posterior")


_T = ("attention", "L")
CLAIMS = [
    Claim("softmax_transition_is_first_order", "For softmax attention (L = 32, 64, 128) the action has two local "
          "minima over a finite window of P and the global minimizer jumps at the Maxwell point P*: m rises and "
          "the residual 1 - m^2/q falls discontinuously.", "paper", check_first_order,
          needs={"transition": _T + ("P_star", "jump_m", "has_window")}),
    Claim("linear_transition_is_second_order_then_crossover", "For linear attention the action has a single "
          "minimum at every P; a grows from P_c like (P - P_c)^beta with beta = 0.5 +- 0.1; then m^2/q rises "
          "monotonically toward 1.", "paper", check_second_order, needs={"onset_fit": ("L", "beta")}),
    Claim("critical_data_scales_as_L_log2_L", "With logit prior variance 1/L per entry, P*/(L ln^2 L) varies much "
          "less than P*/L over the theory's L (up to 2048), the fitted exponent k in P*/L ~ (ln L)^k lies in (1, 2] "
          "and grows with L, and P*/(L ln^2 L) falls toward its leading-order limit kappa/(4 sigma_a2).",
          "secondary", check_scaling, needs={"scaling": ("L", "P_star"), "fits": ("fit", "slope")}),
    Claim("sampling_matches_theory_away_from_transition", "Reduced-posterior MALA (softmax, L = sample_L) "
          "matches the theory's minimizer in <m> and <1 - m^2/q> within 0.05 (+ Z se) for P outside "
          "[0.8 P*, 1.25 P*].", "reconstruction", check_sampling, needs={"sampling_summary": ("method", "P", "m")}),
    Claim("hysteresis_inside_coexistence_window", "At L = sample_L and at each of hysteresis_Ls (paper: 64), inside "
          "the spinodal window where the theory's barrier is at least 10 nats from both minima (the value reports "
          "the barriers used), MALA chains started from uniform attention and from the copy pattern stay apart "
          "(<m> differs by >= 0.05); outside the window they agree within 0.02 (+ Z se).", "reconstruction",
          check_hysteresis, needs={"hysteresis": ("P", "d", "used")}),
    Claim("adam_shows_abrupt_emergence", "Adam from uniform attention: for every seed the softmax final m jumps "
          "between consecutive grid points (one step larger, relative to the seed's next-largest step, than any "
          "square-root onset can give on that grid) at P in [0.8 P*, 1.2 P_s2]; linear Adam (the joint MAP) rises "
          "continuously from its MAP onset P_MAP = kappa V: m ~ 0 below P_MAP/2 and at least half the MAP's m above "
          "2 P_MAP.", "paper", check_adam, needs={"adam_jumps": ("attention", "ratio")}),
    Claim("no_precursor_below_transition", "Softmax m(P) below P* (theory, and MALA from uniform start) rises by "
          "less than 10% of the jump; linear m has already grown (>= 10%) when its crossover is half done.",
          "secondary", check_no_precursor, needs={"precursor": ("attention", "R")}),
    Claim("linear_onset_precedes_softmax_jump", "P*_softmax / P_c,linear > 1 grows with L (64, 128, 256), roughly "
          "like ln^2 L.", "reconstruction", check_onset_order, needs={"scaling": ("L", "Pstar_over_Pc")}),
    Claim("causal_mask_keeps_first_order_transition", "With the causal mask in the theory (row t attends to t+1 "
          "keys), the softmax transition stays first order (a coexistence window) at every theory L.",
          "reconstruction", check_causal, needs={"variant_summary": ("L", "causal_has_window")}),
    Claim("sampling_locates_maxwell_point", "The equilibrium transition point from sampling (umbrella integration of "
          "the reduced posterior along the copy-logit gap; P* where the two basins hold equal mass) lies within a "
          "factor 1.5 of the theory's Maxwell point at each sampled L.", "reconstruction", check_pstar_sampling,
          needs={"pstar_sampling": ("L", "P_star_sampled", "P_star_theory")}),
]
