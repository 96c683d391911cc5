"""Figures from the result tables only (theory and measurement on the same axes, one panel per model)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ...study import Figure  # noqa: E402


def _panels(n: int, w: float = 4.2, h: float = 3.4):
    fig, axes = plt.subplots(1, n, figsize=(w * n, h), squeeze=False)
    return fig, axes[0]


def _save(fig, outdir: Path, name: str, caption: str, out: list):
    fig.tight_layout()
    fig.savefig(Path(outdir) / name, dpi=90)
    plt.close(fig)
    out.append(Figure(name, caption))


def _distance_panel(ax, g: pd.DataFrame, x: str, title: str):
    m = g.groupby(x)[["d_sum", "d_expected_mc", "d_expected_main", "d_bound", "d_norm"]].mean()
    ax.plot(m.index, m["d_sum"], "o-", label="true d~ (B, top-N)")
    ax.plot(m.index, m["d_expected_mc"], "s--", label="E d~ random set (MC)")
    ax.plot(m.index, m["d_expected_main"], "^:", label="E d~ main term")
    ax.plot(m.index, m["d_bound"], "r-", lw=1, label="Theorem 1 bound")
    ax.plot(m.index, m["d_norm"], "x-", color="gray", lw=0.8, label="reading (A)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel("distance (mean over heads and rows)")
    ax.set_title(title, fontsize=9)


def make_figures(tables, config, outdir) -> list[Figure]:
    out: list[Figure] = []
    dist = tables.get("distance")
    syn = tables.get("synthetic_distance")

    # Fig. 2a: d~ vs L at N = N_fixed
    models = [] if dist is None or not len(dist) else sorted(dist["model"].unique())
    fig, axes = _panels(len(models) + 1)
    if syn is not None and len(syn):
        g = syn[syn["N"] == config.N_fixed]
        _distance_panel(axes[0], g, "L", f"synthetic unit vectors, N = {config.N_fixed}")
        Ls = np.array(sorted(g["L"].unique()), dtype=float)
        if len(Ls):
            ref = g[g["L"] == Ls[0]]["d_sum"].mean()
            axes[0].plot(Ls, ref * Ls / Ls[0], "k:", lw=0.8, label="slope 1")
    for ax, m in zip(axes[1:], models):
        _distance_panel(ax, dist[(dist["model"] == m) & (dist["sweep"] == "L")], "L", f"{m}, N = {config.N_fixed}")
    axes[0].legend(fontsize=6)
    _save(fig, outdir, "fig2a_distance_vs_L.png",
          f"Fig. 2a: distance d~ (reading B) against context length L at N = {config.N_fixed}: true top-N distance, "
          "random-set expectation (Monte Carlo and main term), our derived Theorem 1 bound, and reading (A). "
          "Synthetic unit vectors, then each pretrained model (transfer tests of the paper's GPT-2 result).", out)

    # Fig. 2b: d~ vs N at L_fixed
    if models:
        fig, axes = _panels(len(models))
        for ax, m in zip(axes, models):
            g = dist[(dist["model"] == m) & (dist["sweep"] == "N")]
            _distance_panel(ax, g, "N", f"{m}, L = {int(g['L'].max()) if len(g) else '-'}")
        axes[0].legend(fontsize=6)
        _save(fig, outdir, "fig2b_distance_vs_N.png",
              "Fig. 2b: distance d~ against the number N of selected tokens at fixed L (L_fixed, capped at each "
              "model's context): true, random-set expectation (MC, main term) and the Theorem 1 bound.", out)

    # Fig. 2c: critical N vs L, both readings (the config's expectation, KS), next to the paper's 0.06 L
    frac = tables.get("critical_n_fraction")
    if frac is not None and len(frac):
        fig, axes = _panels(2, 4.6, 3.6)
        f = frac[(frac["expectation"] == config.critical_expectation) & (frac["test"] == "ks")]
        for ax, reading in zip(axes, ("B", "A")):
            for (m, a), g in f[f["reading"] == reading].groupby(["model", "alpha"]):
                g = g.sort_values("L")
                ax.plot(g["L"], g["critical_N"], "o-", label=f"{m}, KS alpha = {a:g}")
            Ls = np.array(sorted(f["L"].unique()), dtype=float)
            ax.plot(Ls, 0.06 * Ls, "k--", lw=1, label="0.06 L (paper, GPT-2)")
            ax.fill_between(Ls, 0.02 * Ls, 0.2 * Ls, color="gray", alpha=0.12, label="band 0.02-0.2 L")
            ax.plot(Ls, Ls, "k:", lw=1, label="N = L (nothing left out)")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("L")
            ax.set_ylabel("critical N")
            ax.set_title(f"reading {reading}" + (" (decides)" if reading == config.distance_reading else ""),
                         fontsize=9)
        axes[0].legend(fontsize=6)
        _save(fig, outdir, "fig2c_critical_N.png",
              f"Fig. 2c: smallest N of an L-independent grid (2^(k/{config.crit_per_octave})) at which the per-head "
              f"mean true distances and their random-set expectation ({config.critical_expectation}) are not told "
              "apart by a two-sample KS test, against L, under reading B (sum of distances) and A (norm of a sum); "
              "missing points: every scanned N differed. Dashed: the paper's 0.06 L for GPT-2; band: 0.02-0.2 L; "
              "dotted: N = L.", out)

    # Fig. 3: separability boxes per model, with the sphere control
    sep = tables.get("separability")
    if sep is not None and len(sep):
        real = [m for m in sorted(sep["model"].unique()) if not str(m).startswith("synthetic")]
        ctrl = sep[sep["model"] == "synthetic-sphere"].groupby("N")["ratio"].median()
        fig, axes = _panels(max(1, len(real)))
        for ax, m in zip(axes, real or ["synthetic-sphere"]):
            g = sep[sep["model"] == m]
            Ns = sorted(g["N"].unique())
            ax.boxplot([g[g["N"] == n]["ratio"].dropna() for n in Ns], positions=range(len(Ns)), widths=0.5)
            ax.set_xticks(range(len(Ns)), [str(n) for n in Ns])
            ax.plot([Ns.index(n) for n in ctrl.index if n in Ns], [ctrl[n] for n in ctrl.index if n in Ns], "g^--",
                    label="sphere control (median)")
            if {"lower", "upper"} <= set(g.columns):                  # Theorem 2, our reconstruction
                bnd = g.groupby("N")[["lower", "upper"]].mean()
                ax.plot(range(len(Ns)), [bnd.loc[n, "upper"] for n in Ns], "r:", label="upper form (reconstr., not a bound)")
                ax.plot(range(len(Ns)), [max(bnd.loc[n, "lower"], -0.05) for n in Ns], "b--",
                        label="Theorem 2 lower bound (reconstr., mean)")
            ax.axhspan(0.70, 0.85, color="orange", alpha=0.15, label="GPT-2 plateau 0.70-0.85")
            ax.set_xlabel("N")
            ax.set_ylabel("N_s / N per head")
            ax.set_ylim(0, 1.05)
            ax.set_title(m, fontsize=9)
            ax.legend(fontsize=6)
        _save(fig, outdir, "fig3_separability.png",
              "Fig. 3: separability ratio N_s/N per head (box plots over heads, value vectors on the unit sphere, "
              "r = min distance of a non-selected token, strict tie rule) against N; green: random-sphere control; "
              "band: the paper's GPT-2 plateau; blue dashed: mean of Theorem 2's lower bound 1 - sum xi_i / (N r) in our "
              "reconstruction (clipped at -0.05); red dotted: the reconstructed exponential upper form (not a valid "
              "bound).", out)

    # Fig. 4: gradient sensitivity (the deciding candidate), then every candidate at the smallest eps
    grad = tables.get("gradient")
    if grad is not None and len(grad):
        if "logits" not in grad:
            grad = grad.assign(logits="raw")
        dec = grad[grad["logits"].isin([config.grad_logits, "synthetic"])]
        col = "g_max" if config.grad_agg == "row_mean" else "g_rowmax"
        ms = sorted(dec["model"].unique())
        fig, axes = _panels(len(ms), 3.6, 3.4)
        for ax, m in zip(axes, ms):
            g = dec[dec["model"] == m]
            for e, ge in g.groupby("eps"):
                ge = ge.sort_values("T")
                ax.plot(ge["T"], ge[col], "o-", ms=3, label=f"eps = {e:g}")
            T = np.array(sorted(g["T"].unique()))
            ax.plot(T, np.minimum(1 / (4 * T), math.sqrt(2)), "k--", lw=1, label="min(1/(4T), sqrt2) (paper)")
            ax.plot(T, 1 / (2 * T), "r:", lw=1, label="1/(2T) (spectral bound)")
            tm = g["T_model"].dropna()
            if len(tm):
                ax.axvline(float(tm.iloc[0]), color="gray", lw=0.6)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("T")
            ax.set_ylabel("max over heads of g(T, eps)")
            ax.set_title(m, fontsize=9)
        axes[0].legend(fontsize=6)
        _save(fig, outdir, "fig4_gradient.png",
              f"Fig. 4: finite-difference gradient sensitivity g(T, eps) against T ({config.grad_logits} logits, "
              f"{'max over heads of the token mean' if config.grad_agg == 'row_mean' else 'max over heads and rows'}"
              "), for synthetic logits with a top-two gap 0, 0.01, 1 and each model (grey line: the model's own "
              "T = sqrt(d_head)); dashed: the paper's min(1/(4T), sqrt 2); dotted: 1/(2T).", out)
        real = grad[~grad["model"].astype(str).str.startswith("synthetic")]
        if len(real):
            e0 = float(real["eps"].min())
            rm = sorted(real["model"].unique())
            fig, axes = _panels(len(rm), 3.8, 3.4)
            for ax, m in zip(axes, rm):
                g = real[(real["model"] == m) & (real["eps"] == e0)]
                for lg, gl in g.groupby("logits"):
                    gl = gl.groupby("T")[["g_max", "g_rowmax"]].max()
                    ax.plot(gl.index, gl["g_max"], "o-", ms=3, label=f"{lg}, max over heads of row mean")
                    ax.plot(gl.index, gl["g_rowmax"], "x:", ms=3, label=f"{lg}, max over heads and rows")
                T = np.array(sorted(g["T"].unique()))
                ax.plot(T, np.minimum(1 / (4 * T), math.sqrt(2)), "k--", lw=1, label="min(1/(4T), sqrt2) (paper)")
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel("T")
                ax.set_ylabel(f"g(T, eps = {e0:g})")
                ax.set_title(m, fontsize=9)
            axes[0].legend(fontsize=5)
            _save(fig, outdir, "fig4_candidates.png",
                  "Fig. 4 candidates: which reading of the paper's g tracks 1/(4T) below T = 0.1 on real logits -- "
                  "raw q.k, the model's scaled scores, or the attention weights as logits; aggregated as the max "
                  f"over heads of the token mean (Alg. 5) or over heads and rows; eps = {e0:g}.", out)

    # beyond the paper: normalizers
    nz = tables.get("normalizers")
    if nz is not None and len(nz):
        metrics = [("L_max_alpha", 0), ("d_sum_over_L", int(config.norm_Ns[0])),
                   ("separability", int(config.norm_Ns[-1])), ("support_fraction", 0)]
        fig, axes = _panels(len(metrics), 3.6, 3.4)
        agg = nz.groupby(["model", "normalizer", "metric", "N"], as_index=False)["value"].mean()
        names = list(dict.fromkeys(nz["normalizer"]))
        for ax, (met, N) in zip(axes, metrics):
            g = agg[(agg["metric"] == met) & (agg["N"] == N)]
            for k, (m, gm) in enumerate(g.groupby("model")):
                vals = [gm[gm["normalizer"] == n]["value"].mean() for n in names]
                ax.bar(np.arange(len(names)) + 0.8 * k / max(1, g["model"].nunique()), vals,
                       width=0.8 / max(1, g["model"].nunique()), label=m)
            ax.set_xticks(np.arange(len(names)), names, rotation=30, fontsize=7)
            ax.set_ylabel(f"{met}" + (f" (N = {N})" if N else ""))
        axes[0].legend(fontsize=6)
        _save(fig, outdir, "normalizers.png",
              f"Beyond the paper: the same real logits (L = {config.norm_L}) under each normalizer: n max alpha "
              "(1 = uniform), d~/n at small N, separability N_s/N at the largest N, and the fraction of non-zero "
              "weights.", out)

    # synthetic theory: Jacobian, Lemma 1, random-set main term
    jac, lem = tables.get("jacobian"), tables.get("lemma1")
    if jac is not None and lem is not None and len(jac) and len(lem):
        fig, axes = _panels(3, 4.0, 3.4)
        for case, g in jac.groupby("case"):
            m = g.groupby("T")[["spectral_norm_times_T", "diag_max_times_T"]].max()
            axes[0].plot(m.index, m["spectral_norm_times_T"], "o-", label=f"max ||J||_2 T ({case})")
            axes[0].plot(m.index, m["diag_max_times_T"], "x:", label=f"max diag T ({case})")
        axes[0].axhline(0.5, color="r", lw=1, label="1/2 (spectral bound)")
        axes[0].axhline(0.25, color="k", ls="--", lw=1, label="1/4 (printed)")
        axes[0].set_xscale("log")
        axes[0].set_xlabel("T")
        axes[0].set_ylabel("||J|| T")
        axes[0].legend(fontsize=6)
        for (nm, T), g in lem.groupby(["normalizer", "T"]):
            if T != sorted(lem["T"].unique())[0]:
                continue
            m = g.groupby("L")[["L_alpha_max", "C2"]].mean()
            axes[1].plot(m.index, m["L_alpha_max"], "o-", label=f"{nm}: L max alpha")
            if nm != "ssmax":
                axes[1].plot(m.index, m["C2"], "--", lw=0.8, label=f"{nm}: C2")
        axes[1].set_xscale("log")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("L")
        axes[1].set_ylabel(f"L max alpha (T = {sorted(lem['T'].unique())[0]:g})")
        axes[1].legend(fontsize=6)
        if syn is not None and len(syn):
            g = syn[(syn["N"] < syn["L"])]
            rel = (g["d_expected_mc"] - g["d_expected_main"]) / g["d_expected_mc"].where(g["d_expected_mc"] > 0)
            axes[2].scatter(g["max_alpha"], rel, s=6, c=np.log(g["N"]), cmap="viridis")
            axes[2].set_xscale("log")
            axes[2].set_xlabel("max_i alpha_i")
            axes[2].set_ylabel("(MC - main term) / MC")
            axes[2].set_title("random-set Jensen gap (colour: log N)", fontsize=9)
        _save(fig, outdir, "theory_synthetic.png",
              "Synthetic theory checks: (left) softmax Jacobian ||J||_2 T reaches 1/2 for a tied top two, twice the "
              "printed 1/(4T), which bounds only the diagonal; (middle) Lemma 1: L max alpha stays below C2 for "
              "softmax and 1+sigmoid while SSMax grows; (right) relative gap between the Monte-Carlo random-set "
              "expectation and its main term against the largest weight.", out)
    return out
