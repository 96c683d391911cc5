"""Figures from the result tables only (matplotlib Agg); theory and simulation on the same axes."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ...plotting import save_figure  # noqa: E402
from ...study import Figure  # noqa: E402

STYLE = {("mala", "uniform"): dict(marker="o", color="C0", label="MALA, uniform start"),
         ("mala", "copy"): dict(marker="s", color="C3", label="MALA, copy start", mfc="none"),
         ("langevin", "uniform"): dict(marker="^", color="C2", label="Langevin (S, W), uniform start"),
         ("langevin", "copy"): dict(marker="v", color="C4", label="Langevin (S, W), copy start", mfc="none"),
         ("adam", "uniform"): dict(marker="x", color="k", label="Adam (MAP), uniform start")}


from .analysis import select as _get  # noqa: E402  (rows of a table where columns equal values)


def _ref(tables, att, L):
    t = _get(tables, "transition", attention=att, L=L)
    return None if t.empty else t.iloc[0]


def fig_landscape(tables, config, outdir, att) -> Figure | None:
    d = _get(tables, "landscape", attention=att)
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for (f, P), g in d.groupby(["P_over_ref", "P"]):
        ax.plot(g.a, g.F, label=f"P = {f:g} x {'P*' if att == 'softmax' else 'P_c'} = {P:.0f}")
    ax.set_xlabel("copy logit a" + (" (others 0)" if att == "softmax" else " (background b^2 optimized)"))
    ax.set_ylabel("F(a) - min F")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.legend(fontsize=7)
    L = int(d.L.iloc[0])
    ax.set_title(f"{att} attention, L = {L}, V = {config.V}")
    name = save_figure(fig, outdir, f"landscape_{att}.png")
    cap = ("Softmax action F(a) of the one-parameter ansatz at P around the Maxwell point P*: two minima "
           "(near-uniform and copy) exchange stability." if att == "softmax" else
           "Linear action profile min_b2 F(a, b2) around P_c: one well whose curvature at a = 0 changes sign "
           "at P_c (the profile is even in a).")
    return Figure(name, cap + " Command: attnlab run copy-transition (table landscape).")


def fig_order(tables, config, outdir, att) -> Figure | None:
    L = config.sample_L
    curve = _get(tables, "theory_curve", attention=att, L=L).sort_values("P")
    s = _get(tables, "sampling", attention=att, L=L)
    if curve.empty and s.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, col in zip(axes, ("m", "residual")):
        if not curve.empty:
            ax.plot(curve.P, curve[col], "-", color="0.3", lw=1.5, label="theory (global minimizer)")
        for (method, init), g in s.groupby(["method", "init"]):
            agg = g.groupby("P")[col].agg(["mean", "sem"]).reset_index()
            st = STYLE.get((method, init), dict(marker="."))
            ax.errorbar(agg.P, agg["mean"], yerr=agg["sem"].fillna(0), ls="none", ms=5, capsize=2, **st)
        r = _ref(tables, att, L)
        if r is not None:
            if att == "softmax" and np.isfinite(r.P_star):
                ax.axvline(r.P_star, color="0.5", ls="--", lw=0.8)
                if np.isfinite(r.P_spinodal_low) and np.isfinite(r.P_spinodal_high):
                    ax.axvspan(r.P_spinodal_low, r.P_spinodal_high, color="0.85", alpha=0.5)
            if att == "linear" and np.isfinite(r.P_c):
                ax.axvline(r.P_c, color="0.5", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("P (training sequences)")
        ax.set_ylabel("m (copy overlap)" if col == "m" else "residual 1 - m^2/q")
    if not s.empty and s.P.size:
        lo, hi = s.P.min() / 1.5, s.P.max() * 1.5
        for ax in axes:
            ax.set_xlim(lo, hi)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{att} attention, L = {L}, V = {config.V}")
    name = save_figure(fig, outdir, f"order_{att}.png")
    what = ("dashed: P*, shaded: coexistence window" if att == "softmax" else "dashed: P_c")
    return Figure(name, f"{att}: m(P) and residual 1 - m^2/q(P): theory line, reduced-posterior MALA from both "
                        f"starts, full-network Langevin and Adam (mean +- se over chains/seeds; {what})."
                        + (" Linear m is sign-folded." if att == "linear" else "")
                        + " Command: attnlab run copy-transition (table sampling, theory_curve).")


def fig_scaling(tables, config, outdir) -> Figure | None:
    s = _get(tables, "transition", attention="softmax")
    lin = _get(tables, "transition", attention="linear")
    if s.empty:
        return None
    s = s[np.isfinite(s.P_star)].sort_values("L")
    if s.empty:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    x = s.L * np.log(s.L) ** 2
    ax.plot(x, s.P_star, "o-", label="softmax P* (Maxwell point)")
    ok = np.isfinite(s.P_spinodal_high)
    ax.fill_between(x, s.P_spinodal_low, np.where(ok, s.P_spinodal_high, np.nan), alpha=0.2,
                    label="coexistence window")
    ax.plot(x, config.kappa * x / (4 * config.sigma_a2), "k--", lw=1,
            label="leading order kappa L ln^2 L/(4 sigma_a^2)")
    if not lin.empty:
        lin = lin.sort_values("L")
        ax.plot(lin.L * np.log(lin.L) ** 2, lin.P_c, "s-", label="linear P_c")
    for r in s.itertuples():
        ax.annotate(f"L={r.L}", (r.L * math.log(r.L) ** 2, r.P_star), fontsize=7, xytext=(3, -10),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("L ln^2 L")
    ax.set_ylabel("P")
    ax.legend(fontsize=7)
    name = save_figure(fig, outdir, "pstar_scaling.png")
    return Figure(name, "Softmax Maxwell point P* (with the spinodal window) and the linear onset P_c against "
                        "L ln^2 L; dashed: the leading-order P* = kappa L ln^2 L/(4 sigma_a^2). Command: attnlab run "
                        "copy-transition (table transition).")


def fig_adam(tables, config, outdir) -> Figure | None:
    L = config.sample_L
    tr = _get(tables, "traces", method="adam", attention="softmax", L=L)
    r = _ref(tables, "softmax", L)
    if tr.empty or r is None or not np.isfinite(r.P_star):
        return None
    Ps = np.sort(tr.P.unique())
    above = Ps[Ps >= r.P_star]
    below = Ps[Ps < r.P_star]
    pick = list(below[-1:]) + list(above[:3])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for k, P in enumerate(pick):
        g = tr[tr.P == P]
        for j, (seed, gs) in enumerate(g.groupby("seed")):
            kw = dict(color=f"C{k}", lw=1, alpha=0.8, label=f"P = {P} ({P / r.P_star:.2f} P*)" if j == 0 else None)
            axes[0].plot(gs.step, gs.m, **kw)
            axes[1].plot(gs.step, gs.loss, **kw)
        m_th = _get(tables, "sampling", method="adam", attention="softmax", L=L)
        m_th = m_th[m_th.P == P].m_theory
        if len(m_th):
            axes[0].axhline(float(m_th.iloc[0]), color=f"C{k}", ls=":", lw=1)
    axes[0].set_ylabel("m (copy overlap)")
    axes[1].set_ylabel("train MSE per target")
    for ax in axes:
        ax.set_xlabel("Adam step")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Adam, softmax, L = {L}: emergence just above P* = {r.P_star:.0f}")
    name = save_figure(fig, outdir, "adam_curves.png")
    return Figure(name, "Adam training curves m(t) and loss(t) (each seed a line) at P just below and above "
                        "P*; dotted: the theory's global-minimizer m at that P. Command: attnlab run copy-transition "
                        "(table traces).")


def fig_variants(tables, config, outdir) -> Figure | None:
    v = tables.get("theory_variants")
    if v is None or v.empty:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    style = {("cyclic", "one_parameter"): ("o-", "C0"), ("cyclic", "shift_invariant"): ("s--", "C1"),
             ("causal", "one_parameter"): ("^-", "C2"), ("causal", "shift_invariant"): ("v--", "C3")}
    for (b, a), g in v.groupby(["boundary", "ansatz"]):
        g = g.sort_values("L")
        fmt, c = style.get((b, a), (".-", "k"))
        P = np.where(g.has_window == 1, g.P_star, np.nan)
        x = g.L * np.log(g.L) ** 2
        ax.plot(x, P / x, fmt, color=c, label=f"{b}, {a}: P* (first order)")
        cross = g[g.has_window == 0]
        if len(cross):
            ax.plot(cross.L * np.log(cross.L) ** 2, cross.P_cross / (cross.L * np.log(cross.L) ** 2), "x", color=c,
                    ms=8, label=f"{b}, {a}: no window, crossover P")
    ax.set_xscale("log")
    ax.set_xlabel("L ln^2 L")
    ax.set_ylabel("P / (L ln^2 L)")
    ax.legend(fontsize=6)
    name = save_figure(fig, outdir, "theory_variants.png")
    return Figure(name, "Softmax Maxwell point P*/(L ln^2 L) under the cyclic boundary and the causal mask (row t "
                        "has t+1 keys), for the one-parameter and the shift-invariant ansatz; crosses: no coexistence "
                        "window (a continuous crossover at the steepest rise of m). Command: attnlab run "
                        "copy-transition (table theory_variants).")


def fig_free_energy(tables, config, outdir) -> Figure | None:
    d, p = _get(tables, "free_energy"), _get(tables, "pstar_sampling")
    if d.empty or p.empty:
        return None
    Ls = sorted(d.L.unique())
    fig, axes = plt.subplots(1, len(Ls), figsize=(5 * len(Ls), 4), squeeze=False)
    for ax, L in zip(axes[0], Ls):
        g = d[d.L == L]
        for k, (seed, gs) in enumerate(g.groupby("seed")):
            gs = gs.sort_values("P")
            ax.plot(gs.P, gs.dF, "o-", color=f"C{k}", ms=4, label=f"data set {seed}")
        r = p[p.L == L]
        if len(r):
            r = r.iloc[0]
            ax.axvline(r.P_star_theory, color="k", ls="--", lw=1, label=f"theory P* = {r.P_star_theory:.1f}")
            if np.isfinite(r.P_star_sampled):
                ax.axvspan(r.low, r.high, color="C3", alpha=0.2,
                           label=f"sampled P* = {r.P_star_sampled:.1f} [{r.low:.1f}, {r.high:.1f}]")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel("P (training sequences)")
        ax.set_ylabel("F_copy - F_uniform (nats)")
        ax.set_title(f"softmax, L = {L}")
        ax.legend(fontsize=7)
    name = save_figure(fig, outdir, "pstar_sampling.png")
    return Figure(name, "Equilibrium transition from sampling: free-energy difference between the copy and the "
                        "uniform basin (umbrella integration of the reduced posterior along the copy-logit gap) "
                        "against P for each nested data set; shaded: the sampled P* (mean +- Z se over data sets, "
                        "99 %); dashed: the theory's Maxwell point. Command: attnlab run copy-transition (tables "
                        "free_energy, pstar_sampling).")


def make_figures(tables, config, outdir: Path) -> list[Figure]:
    outdir.mkdir(parents=True, exist_ok=True)
    figs = [fig_landscape(tables, config, outdir, "softmax"), fig_landscape(tables, config, outdir, "linear"),
            fig_order(tables, config, outdir, "softmax"), fig_order(tables, config, outdir, "linear"),
            fig_scaling(tables, config, outdir), fig_adam(tables, config, outdir), fig_variants(tables, config, outdir),
            fig_free_energy(tables, config, outdir)]
    return [f for f in figs if f is not None]
