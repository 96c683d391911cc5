"""Derived numbers of copy-transition, computed once in ``finalize`` and stored as tables; claims and figures
read these tables (they do no analysis of their own).

Tables added here (documented in ``study.TABLES_DOC``): theory overlays on ``sampling`` (m_theory,
residual_theory), ``transition`` columns (jumps, scaled P*), ``scaling`` and ``fits`` (exponents with their
99 % intervals), ``onset_fit`` (linear exponent beta), ``sampling_summary`` (means and standard errors over
chains), ``hysteresis`` (copy - uniform start, with the theory's barrier heights), ``adam_jumps`` (per seed
steps of the final m), ``adam_linear`` (Adam against the joint-MAP prediction), ``precursor``,
``variant_summary`` (shift-invariant ansatz and causal mask beside the default).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...claims import Z, mean_and_stderr, slope_fit
from . import free_energy as fe
from . import theory as th

BARRIER_MIN = 10.0      # nats: a chain escapes a minimum on a time scale ~ exp(barrier); 10 nats ~ 2e4 steps


def select(tables, name, **eq) -> pd.DataFrame:
    """Rows of table `name` whose columns equal the given values (empty frame when absent)."""
    df = tables.get(name)
    if df is None or len(df) == 0:
        return pd.DataFrame()
    for k, v in eq.items():
        if k not in df:
            return pd.DataFrame()
        df = df[df[k] == v]
    return df


def spread(x) -> float:
    """ln(max/min) of positive values."""
    x = np.asarray(x, float)
    return float(np.log(x.max() / x.min()))


def hyper(config, L: int) -> th.Hyper:
    return th.Hyper(V=config.V, L=L, kappa=config.kappa, sigma_w2=config.sigma_w2, sigma_a2=config.sigma_a2,
                    boundary=config.boundary, ansatz=config.ansatz)


def reference(tables, att: str, L: int):
    """The transition row of (att, L) with `ref` = P* (or P_cross without a window; linear: P_c)."""
    t = select(tables, "transition", attention=att, L=L)
    if t.empty:
        return None
    r = t.iloc[0].copy()
    if att == "softmax":
        r["ref"] = r.P_star if np.isfinite(r.P_star) else r.get("P_cross", np.nan)
    else:
        r["ref"] = r.P_c
    return r


# ---- overlays ------------------------------------------------------------------------------------------------
def overlay(config, s: pd.DataFrame) -> pd.DataFrame:
    """m_theory, residual_theory (global minimizer at each P) and, for softmax, the barriers at that P."""
    s = s.copy()
    cache = {}
    for a, L, P in s[["attention", "L", "P"]].drop_duplicates().itertuples(index=False):
        h = hyper(config, int(L))
        g = th.global_minimum(float(P), h, a)
        bu, bc = th.softmax_barriers(float(P), h) if a == "softmax" else (np.nan, np.nan)
        cache[(a, L, P)] = (g["m"], g["residual"], bu, bc)
    vals = np.array([cache[k] for k in zip(s.attention, s.L, s.P)], dtype=float).reshape(-1, 4)
    s["m_theory"], s["residual_theory"], s["barrier_uniform"], s["barrier_copy"] = vals.T
    return s


def transition_columns(t: pd.DataFrame) -> pd.DataFrame:
    t = t.copy()
    t["jump_m"] = t.m_high - t.m_low
    t["jump_residual"] = t.residual_low - t.residual_high
    t["has_window"] = (np.isfinite(t.P_spinodal_low) & np.isfinite(t.P_spinodal_high)).astype(float)
    t["P_star_over_L"] = t.P_star / t.L
    t["P_star_over_L_ln2L"] = t.P_star / (t.L * np.log(t.L) ** 2)
    return t


# ---- theory-derived tables -------------------------------------------------------------------------------------
def onset_fit(tables) -> pd.DataFrame:
    rows = []
    for r in select(tables, "transition", attention="linear").itertuples():
        curve = select(tables, "theory_curve", attention="linear", L=r.L).sort_values("P")
        on = select(tables, "linear_onset", L=r.L)
        on = on[(on.P_minus_Pc > 0) & (on.P < 1.3 * r.P_c) & (on.a > 0)] if not on.empty else on
        fit = slope_fit(on.P_minus_Pc, on.a, log_x=True, log_y=True) if len(on) >= 3 else None
        ratio = (1 - curve.residual[curve.P > r.P_c]).to_numpy() if np.isfinite(r.P_c) else np.array([])
        rows.append(dict(L=r.L, P_c=r.P_c, n_points=len(on),
                         beta=fit.slope if fit else np.nan, beta_se=fit.se if fit else np.nan,
                         beta_low=fit.low if fit else np.nan, beta_high=fit.high if fit else np.nan,
                         single_minimum=float((curve.n_minima == 1).all()) if len(curve) else np.nan,
                         monotone=float(np.all(np.diff(ratio) >= -1e-6)) if len(ratio) > 1 else np.nan,
                         final_ratio=float(ratio[-1]) if len(ratio) else np.nan))
    return pd.DataFrame(rows)


def scaling(tables, config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per L: P*, P*/L, P*/(L ln^2 L), P_c, P*/P_c; and the fits: exponent k of ln L in P*/L ~ (ln L)^k over
    all L and over the upper half of the L range, and of P*/P_c ~ (ln L)^k over L = 64..256."""
    s = select(tables, "transition", attention="softmax")
    lin = select(tables, "transition", attention="linear")
    if s.empty:
        return pd.DataFrame(), pd.DataFrame()
    d = s[["L", "P_star"]].copy()
    d = d.merge(lin[["L", "P_c"]], on="L", how="left") if not lin.empty else d.assign(P_c=np.nan)
    d = d.sort_values("L").reset_index(drop=True)
    d["P_star_over_L"] = d.P_star / d.L
    d["P_star_over_L_ln2L"] = d.P_star / (d.L * np.log(d.L) ** 2)
    d["leading_order"] = config.kappa / (4 * config.sigma_a2)
    d["ratio_to_leading"] = d.P_star_over_L_ln2L / d.leading_order
    d["Pstar_over_Pc"] = d.P_star / d.P_c
    ok = d[np.isfinite(d.P_star)]
    fits = []

    def add(name, sub, y):
        if len(sub) >= 3 or (name == "onset_order_k" and len(sub) >= 2):
            f = slope_fit(np.log(sub.L.to_numpy(float)), y, log_x=True, log_y=True)
            fits.append(dict(fit=name, slope=f.slope, se=f.se, low=f.low, high=f.high, n=f.n,
                             L_min=int(sub.L.min()), L_max=int(sub.L.max())))
    add("lnL_exponent_all", ok, ok.P_star_over_L)
    upper = ok[ok.L >= np.sqrt(ok.L.min() * ok.L.max())] if len(ok) else ok
    add("lnL_exponent_upper", upper, upper.P_star_over_L)
    mid = ok[ok.L.isin([64, 128, 256]) & np.isfinite(ok.Pstar_over_Pc)]
    add("onset_order_k", mid, mid.Pstar_over_Pc)
    f = pd.DataFrame(fits)
    if len(ok) >= 2:
        s2 = spread(ok.P_star_over_L)
        sp = pd.DataFrame([dict(fit="spread_ratio", slope=spread(ok.P_star_over_L_ln2L) / s2 if s2 > 0 else np.inf,
                                se=np.nan, low=np.nan, high=np.nan, n=len(ok), L_min=int(ok.L.min()),
                                L_max=int(ok.L.max()))])
        f = pd.concat([f, sp], ignore_index=True)
    return d, f


# ---- simulation-derived tables ----------------------------------------------------------------------------------
def sampling_summary(tables) -> pd.DataFrame:
    s = tables.get("sampling")
    if s is None or s.empty:
        return pd.DataFrame()
    rows = []
    for (method, att, L, P, init), g in s.groupby(["method", "attention", "L", "P", "init"]):
        m, m_se = mean_and_stderr(g.m)
        res, res_se = mean_and_stderr(g.residual)
        rows.append(dict(method=method, attention=att, L=L, P=P, init=init, n=len(g), m=m, m_se=m_se,
                         residual=res, residual_se=res_se, m_theory=g.m_theory.iloc[0],
                         residual_theory=g.residual_theory.iloc[0],
                         barrier_uniform=g.barrier_uniform.iloc[0] if "barrier_uniform" in g else np.nan,
                         barrier_copy=g.barrier_copy.iloc[0] if "barrier_copy" in g else np.nan))
    out = pd.DataFrame(rows)
    out["P_over_ref"] = np.nan
    for (att, L), idx in out.groupby(["attention", "L"]).groups.items():
        r = reference(tables, att, int(L))
        if r is not None:
            out.loc[idx, "P_over_ref"] = out.loc[idx, "P"] / r.ref
    return out


def hysteresis(tables, summary: pd.DataFrame) -> pd.DataFrame:
    """Per (L, P) of softmax MALA: copy - uniform start in <m> with its standard error, where P lies (inside /
    outside the theory's window) and the smaller barrier; `used` = inside with both barriers >= BARRIER_MIN."""
    if summary.empty:
        return pd.DataFrame()
    s = summary[(summary.method == "mala") & (summary.attention == "softmax")]
    rows = []
    for (L, P), g in s.groupby(["L", "P"]):
        r = reference(tables, "softmax", int(L))
        c, u = g[g.init == "copy"], g[g.init == "uniform"]
        if r is None or c.empty or u.empty:
            continue
        inside = bool(np.isfinite(r.P_spinodal_low) and r.P_spinodal_low < P < r.P_spinodal_high)
        b = float(np.nanmin([c.barrier_uniform.iloc[0], c.barrier_copy.iloc[0]])) if inside else np.nan
        d = float(c.m.iloc[0] - u.m.iloc[0])
        rows.append(dict(L=L, P=P, P_over_ref=P / r.ref, d=d, se=math.hypot(c.m_se.iloc[0], u.m_se.iloc[0]),
                         inside=float(inside), barrier_min=b, used=float(inside and b >= BARRIER_MIN)))
    return pd.DataFrame(rows)


def sqrt_onset_step_ratio(P_grid) -> float:
    """Largest (max step / second-largest step) that a continuous square-root onset m = sqrt(max(P - P_c, 0))
    can produce on this P grid, over onset positions P_c anywhere in the grid: a ratio above it signals a jump."""
    P = np.sort(np.asarray(P_grid, float))
    worst = 0.0
    for Pc in np.geomspace(P[1], P[-3], 400):
        d = np.sort(np.diff(np.sqrt(np.clip(P - Pc, 0, None))))
        if d[-2] > 0:
            worst = max(worst, d[-1] / d[-2])
    return float(worst)


def adam_jumps(tables) -> pd.DataFrame:
    """Per attention and seed: the largest step of the final m between consecutive P, its ratio to the
    second-largest step, where it is, and the square-root-onset bound on the same grid."""
    rows = []
    s = select(tables, "sampling", method="adam")
    for att, sa in (s.groupby("attention") if not s.empty else []):
        if sa.P.nunique() < 4:
            continue
        bound = sqrt_onset_step_ratio(np.sort(sa.P.unique()))
        for seed, g in sa.groupby("seed"):
            g = g.sort_values("P")
            d = np.diff(g.m.to_numpy())
            order = np.argsort(d)
            i = int(order[-1])
            ratio = d[i] / d[order[-2]] if d[order[-2]] > 0 else math.inf
            rows.append(dict(attention=att, L=int(g.L.iloc[0]), seed=seed, step=float(d[i]), ratio=float(ratio),
                             P_jump=math.sqrt(g.P.iloc[i] * g.P.iloc[i + 1]), bound=bound))
    return pd.DataFrame(rows)


def adam_linear(tables, config) -> pd.DataFrame:
    """Linear Adam final m (mean, se over seeds) beside the joint-MAP prediction of the copy mode,
    m_MAP = sqrt((V/L)(1 - P_MAP/P)) for P > P_MAP (0 below), P_MAP = th.linear_map_onset."""
    s = select(tables, "sampling", method="adam", attention="linear")
    if s.empty:
        return pd.DataFrame()
    rows = []
    for (L, P), g in s.groupby(["L", "P"]):
        h = hyper(config, int(L))
        Pm = th.linear_map_onset(h)
        m, se = mean_and_stderr(g.m)
        rows.append(dict(L=L, P=P, P_map=Pm, P_over_map=P / Pm, m=m, m_se=se,
                         m_map=math.sqrt(max(0.0, (config.V / L) * (1 - Pm / P)))))
    return pd.DataFrame(rows)


def precursor(tables, config) -> pd.DataFrame:
    """How far m has risen before the jump, as a fraction of the jump: theory per L ((m(P*-) - m(P_min)) /
    (m(P*+) - m(P_min))) and softmax MALA from the uniform start at P < 0.8 P*; linear: m at the half-done
    crossover (m^2/q = 0.5) as a fraction of m at m^2/q = 0.9."""
    rows = []
    for r in select(tables, "transition", attention="softmax").itertuples():
        if not np.isfinite(r.P_star):
            continue
        c = select(tables, "theory_curve", attention="softmax", L=r.L).sort_values("P")
        m0 = float(c.m.iloc[0])
        rows.append(dict(source="theory", attention="softmax", L=r.L, P=r.P_star,
                         R=(r.m_low - m0) / (r.m_high - m0), R_se=0.0))
        if r.L == config.sample_L:
            s = select(tables, "sampling", method="mala", attention="softmax", L=r.L)
            u = s[(s.init == "uniform") & (s.P < 0.8 * r.P_star)] if not s.empty else s
            for P, g in (u.groupby("P") if not u.empty else []):
                mu, se = mean_and_stderr(g.m)
                jump = r.m_high - m0
                rows.append(dict(source="mala", attention="softmax", L=r.L, P=P, R=(mu - m0) / jump,
                                 R_se=se / jump if math.isfinite(se) else 0.0))
    for r in select(tables, "transition", attention="linear").itertuples():
        c = select(tables, "theory_curve", attention="linear", L=r.L).sort_values("P")
        ratio = (1 - c.residual).to_numpy()
        if not (ratio >= 0.9).any():
            continue
        m0 = float(c.m.iloc[0])
        m_x, m_90 = float(c.m.iloc[np.argmax(ratio >= 0.5)]), float(c.m.iloc[np.argmax(ratio >= 0.9)])
        rows.append(dict(source="theory", attention="linear", L=r.L, P=float(c.P.iloc[np.argmax(ratio >= 0.5)]),
                         R=(m_x - m0) / (m_90 - m0), R_se=0.0))
    return pd.DataFrame(rows)


def variant_summary(tables) -> pd.DataFrame:
    """Per L: P* of the default ansatz and of the shift-invariant one (cyclic) and their relative difference;
    under the causal mask: whether a coexistence window exists, P* (or the crossover P_cross)."""
    v = tables.get("theory_variants")
    if v is None or v.empty:
        return pd.DataFrame()
    rows = []
    for L, g in v.groupby("L"):
        def get(b, a, col):
            x = g[(g.boundary == b) & (g.ansatz == a)]
            return float(x[col].iloc[0]) if len(x) else np.nan
        p1, p2 = get("cyclic", "one_parameter", "P_star"), get("cyclic", "shift_invariant", "P_star")
        rows.append(dict(L=L, P_star=p1, P_star_shift_invariant=p2, rel_diff=(p2 - p1) / p1,
                         causal_has_window=get("causal", "one_parameter", "has_window"),
                         causal_P_star=get("causal", "one_parameter", "P_star"),
                         causal_P_cross=get("causal", "one_parameter", "P_cross"),
                         causal_window_low=get("causal", "one_parameter", "P_spinodal_low"),
                         causal_window_high=get("causal", "one_parameter", "P_spinodal_high"),
                         causal_si_has_window=get("causal", "shift_invariant", "has_window"),
                         causal_rows_has_window=get("causal", "per_row", "has_window"),
                         causal_rows_P_star=get("causal", "per_row", "P_star"),
                         causal_rows_P_cross=get("causal", "per_row", "P_cross")))
    return pd.DataFrame(rows)


def free_energy(tables, config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (L, seed, P): the profile F(G) from the window mean forces, Delta F = F_copy - F_uniform and the
    barrier; per L: the sampled P* (mean over nested data sets of the root of the line Delta F(P)) +- Z se
    beside the theory's Maxwell point."""
    w = tables.get("free_energy_windows")
    if w is None or w.empty:
        return pd.DataFrame(), pd.DataFrame()
    rows = []
    for (L, seed, P), g in w.groupby(["L", "seed", "P"]):
        x, F = fe.profile(g.G_mean.to_numpy(), g.center.to_numpy(), float(g.k.iloc[0]))
        dF, top = fe.basin_free_energy_difference(x, F)
        i_top = int(np.argmin(np.abs(x - top))) if np.isfinite(top) else None
        barrier = float(F[i_top] - F[:i_top + 1].min()) if i_top is not None else np.nan
        rows.append(dict(L=L, seed=seed, P=P, dF=dF, G_top=top, barrier=barrier))
    d = pd.DataFrame(rows)
    out = []
    for L, g in d.groupby("L"):
        r = reference(tables, "softmax", int(L))
        P_th = float(r.P_star) if r is not None else float(th.reference_P(
            th.reference_points(hyper(config, int(L)), "softmax", config.theory_P_min, config.theory_P_max),
            "softmax"))
        roots = np.array([fe.root_of_line(gs.P.to_numpy(float), gs.dF.to_numpy(float)) for _, gs in g.groupby("seed")])
        roots = roots[np.isfinite(roots)]
        mu, se = mean_and_stderr(roots)
        out.append(dict(L=L, P_star_theory=P_th, P_star_sampled=mu, se=se, low=mu - Z * se, high=mu + Z * se,
                        n_seeds=len(roots), rel_diff=(mu - P_th) / P_th if np.isfinite(P_th) else np.nan))
        d.loc[d.L == L, "P_over_theory"] = d.loc[d.L == L, "P"] / P_th
    return d, pd.DataFrame(out)


def derive(config, tables) -> dict:
    """All derived tables (the study's finalize)."""
    tables = dict(tables)
    for name in ("transition", "theory_curve"):
        if name in tables and len(tables[name]):
            tables[name] = tables[name].sort_values(["attention", "L"] + (["P"] if name == "theory_curve" else [])
                                                    ).reset_index(drop=True)
    if "transition" in tables and len(tables["transition"]):
        tables["transition"] = transition_columns(tables["transition"])
    if "sampling" in tables and len(tables["sampling"]):
        s = tables["sampling"]
        if "m_theory" not in s:
            s = overlay(config, s)
        tables["sampling"] = s.sort_values(["method", "attention", "L", "P", "init", "seed"]).reset_index(drop=True)
    derived = {"onset_fit": onset_fit(tables)}
    derived["scaling"], derived["fits"] = scaling(tables, config)
    derived["sampling_summary"] = sampling_summary(tables)
    derived["hysteresis"] = hysteresis(tables, derived["sampling_summary"])
    derived["adam_jumps"] = adam_jumps(tables)
    derived["adam_linear"] = adam_linear(tables, config)
    derived["precursor"] = precursor(tables, config)
    derived["variant_summary"] = variant_summary(tables)
    derived["free_energy"], derived["pstar_sampling"] = free_energy(tables, config)
    tables.update({k: v for k, v in derived.items() if v is not None and len(v)})
    return tables
