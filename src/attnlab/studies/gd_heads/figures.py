"""Figures from the final tables only (matplotlib Agg); theory and simulation share axes.  Derived numbers
(the rate constant, beta2, the init differences) come from analysis.py's tables, never from claims."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ...plotting import save_figure  # noqa: E402
from ...study import Figure  # noqa: E402


def _mse(g, col):
    """mean and standard error per group."""
    m = g[col].mean()
    s = g[col].std(ddof=1) / np.sqrt(g[col].count())
    return m, s.fillna(0.0)


def _save(fig, outdir: Path, name: str) -> str:
    for ax in fig.axes:                      # no overlapping minor tick labels on short log axes
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return save_figure(fig, outdir, name)


def fig_curvature(t, config, outdir):
    df = t["curvature"]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for init, g in df.groupby("init", sort=False):
        gg = g.groupby("H")
        for col, mk in (("hessian_norm", "o"), ("grad_norm", "s")):
            m, s = _mse(gg, col)
            ax.errorbar(m.index, m, yerr=s, marker=mk, ls="-", capsize=2, label=f"{col} ({init})")
        b2 = float((g["hessian_norm"] * np.sqrt(g["H"])).max())
        H = np.array(sorted(g["H"].unique()), float)
        ax.plot(H, b2 / np.sqrt(H), "k--", lw=1, label=f"theory beta2/sqrt(H), beta2={b2:.2f} ({init})")
    ax.set(xscale="log", yscale="log", xlabel="heads H", ylabel="norm at theta0")
    ax.legend(fontsize=6)
    return Figure(_save(fig, outdir, "curvature.png"),
                  "Gradient and Hessian norms of Phi at initialization vs H (mean +- s.e. over seeds); dashed: the "
                  "lemma's beta2/sqrt(H) with beta2 = max sqrt(H)||hess Phi|| measured. Claim "
                  "hessian_shrinks_as_inverse_sqrt_heads.")


def fig_weak_convexity(t, config, outdir):
    df = t["weak_convexity"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for H, g in df.groupby("H"):
        m, s = _mse(g.groupby("K"), "kappa")
        b, _ = _mse(g.groupby("K"), "beta2")
        x = np.maximum(m.index.values, 1)
        l = axes[0].errorbar(x, m, yerr=s, marker="o", label=f"kappa, H={H}")
        axes[0].plot(x, b, "--", color=l[0].get_color(), label=f"lemma bound beta2(theta_K), H={H}")
        lm, _ = _mse(g.groupby("K"), "lambda_min")
        L, _ = _mse(g.groupby("K"), "train_loss")
        axes[1].loglog(L, np.maximum(-lm, 1e-12), "o-", label=f"-lambda_min, H={H}")
        axes[1].loglog(L, b / math.sqrt(H) * L, "--", color=l[0].get_color(), label=f"bound beta2 L/sqrt(H), H={H}")
    axes[0].set(xscale="log", yscale="log", xlabel="GD step K (K=0 shown at 1)", ylabel="kappa = -lambda_min sqrt(H)/L")
    axes[1].set(xlabel="training loss L^(theta_K)", ylabel="negative curvature -lambda_min(hess L^)")
    for a in axes:
        a.legend(fontsize=6)
    return Figure(_save(fig, outdir, "weak_convexity.png"),
                  "Self-bounded weak convexity along GD: kappa = -lambda_min(hess L^) sqrt(H)/L^ and the lemma's "
                  "constant beta2 at the same iterate (left); -lambda_min against L^ with the bound beta2 L^/sqrt(H) "
                  "(right). Claim self_bounded_weak_convexity.")


def fig_rates(t, config, outdir):
    df = t["rates"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for eta, g in df.groupby("eta"):
        m, s = _mse(g.groupby("eta_K"), "train_loss")
        axes[0].errorbar(m.index, m, yerr=s, marker="o", label=f"GD, eta={eta:g}")
    x = np.array(sorted(df["eta_K"].unique()), float)
    summ = t.get("summary")
    if summ is not None and (summ["quantity"] == "etaK_loss_late_geomean").any():
        c = float(summ.loc[summ["quantity"] == "etaK_loss_late_geomean", "value"].iloc[0])
        axes[0].plot(x, c / x, "k--", lw=1, label="theory rate c/(eta K)")
    axes[0].set(xscale="log", yscale="log", xlabel="eta K", ylabel="training loss", title=f"H = {df['H'].iloc[0]}")
    axes[0].legend(fontsize=7)
    b = t.get("bound")
    if b is not None and len(b):
        mb, sb = _mse(b.groupby("K"), "bound")
        ml, sl = _mse(b.groupby("K"), "train_loss")
        axes[1].errorbar(mb.index, mb, yerr=sb, marker="s", ls="--", label="bound B(K) = 2 L(theta_bar) + lambda^2/(eta K)")
        axes[1].errorbar(ml.index, ml, yerr=sl, marker="o", label="measured L^(theta_K)")
        axes[1].set(xscale="log", yscale="log", xlabel="K", ylabel="training loss", title=f"eta = {b['eta'].iloc[0]:g}")
        axes[1].legend(fontsize=7)
    return Figure(_save(fig, outdir, "rates.png"),
                  "Left: training loss against eta K for several step sizes, with the 1/(eta K) rate (constant from the "
                  "late-phase geometric mean). Right: measured loss and the bound template B(K) on the same axes. "
                  "Claims train_loss_scales_as_inverse_eta_K, train_loss_below_bound.")


def fig_distance(t, config, outdir):
    df = t["rates"]
    base = df[df["eta"] == df["eta"].min()]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    m, s = _mse(base.groupby("K"), "distance_from_init")
    ax.errorbar(m.index, m, yerr=s, marker="o", label=f"GD, eta={base['eta'].iloc[0]:g}")
    b = t.get("bound")
    if b is not None and len(b) and len(m) > 1:
        gam = float(b["gamma"].mean())
        K = m.index.values.astype(float)
        ax.plot(K, m.iloc[-1] + (np.log(K) - np.log(K[-1])) / gam, "k--",
                label=f"theory slope 1/gamma per ln K (gamma={gam:.2f})")
    ax.set(xscale="log", xlabel="K", ylabel="||theta_K - theta0||")
    ax.legend(fontsize=7)
    return Figure(_save(fig, outdir, "distance.png"),
                  "Distance from initialization against log K, with the max-margin logistic-regression slope 1/gamma "
                  "(NTK margin gamma at theta0; anchored at the last point). Claim distance_grows_logarithmically.")


def fig_lazy(t, config, outdir):
    df = t["lazy"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    gg = df.groupby("H")
    m, s = _mse(gg, "test_dev")
    axes[0].errorbar(m.index, m, yerr=s, marker="o", label="mean |Phi_K - Phi_lin_K| (test)")
    H = m.index.values.astype(float)
    axes[0].plot(H, m.iloc[0] * np.sqrt(H[0] / H), "k--", label="theory H^-1/2")
    axes[0].set(xscale="log", yscale="log", xlabel="heads H", ylabel="deviation from linearization")
    axes[0].legend(fontsize=7)
    for col, lab in (("train_loss", "Phi"), ("train_loss_lin", "Phi_lin (NTK)")):
        mm, ss = _mse(gg, col)
        axes[1].errorbar(mm.index, mm, yerr=ss, marker="o", label=f"training loss of {lab}")
    axes[1].set(xscale="log", yscale="log", xlabel="heads H", ylabel=f"training loss at K={df['K'].iloc[0]}")
    axes[1].legend(fontsize=7)
    return Figure(_save(fig, outdir, "lazy.png"),
                  "Model vs its linearization trained by the same GD: test deviation against H with the H^-1/2 "
                  "reference (left); training loss of both at a fixed budget (right): more heads, lazier, not faster. "
                  "Claim many_heads_train_lazily.")


def fig_margins(t, config, outdir):
    df = t["margins"]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for z, g in df.groupby("zeta"):
        gg = g.groupby("H")
        m, s = _mse(gg, "gamma")
        l = ax.errorbar(m.index, m, yerr=s, marker="o", label=f"NTK margin, zeta={z:g}")
        mu, _ = _mse(gg, "gamma_U_sigma0")
        ax.plot(mu.index, mu, "s", mfc="none", color=l[0].get_color(), label=f"U-part margin, sigma=0, zeta={z:g}")
        ax.axhline(float(g["gamma_U_theory"].iloc[0]), ls="--", color=l[0].get_color(),
                   label=f"theory zeta S sqrt(T/2) = {float(g['gamma_U_theory'].iloc[0]):.2f}")
    ax.set(xscale="log", xlabel="heads H", ylabel="hard-margin NTK margin gamma")
    ax.legend(fontsize=6)
    return Figure(_save(fig, outdir, "margins.png"),
                  "NTK margin at P0 against H for two relevant fractions zeta (SVM dual, scipy L-BFGS-B), with the "
                  "U-part margin at sigma = 0 and its formula zeta S sqrt(T/2). Claim "
                  "ntk_margin_positive_and_head_independent.")


def fig_realizability(t, config, outdir):
    df = t["realizability"]
    th = df[df["construction"] == "theory"] if "construction" in df else df
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    gg = th.groupby("H")
    for col, lab in (("min_margin", "min_i y Phi(theta_bar)"), ("lin_margin", "linearized margin")):
        if col in th:
            m, s = _mse(gg, col)
            axes[0].errorbar(m.index, m, yerr=s, marker="o", label=lab)
    axes[0].axhline(float(th["target_margin"].iloc[0]), color="k", ls="--", label="target log K")
    if "B0" in th:
        axes[0].axhline(2 * float(th["target_margin"].iloc[0]) + float(th["B0"].mean()), color="gray", ls=":",
                        label="theory floor 2 log K + B0 (linearized)")
    axes[0].set(xscale="log", xlabel="heads H", ylabel="margin at theta_bar")
    axes[0].legend(fontsize=7)
    if "remainder" in th:
        m, s = _mse(gg, "remainder")
        axes[1].errorbar(m.index, m, yerr=s, marker="o", label="measured max |Phi - Phi_lin| at theta_bar")
        mb, _ = _mse(gg, "remainder_bound")
        axes[1].plot(mb.index, mb, "k--", label="Taylor bound beta2 lambda^2 / (2 sqrt(H))")
        axes[1].set(xscale="log", yscale="log", xlabel="heads H", ylabel="Taylor remainder")
        axes[1].legend(fontsize=7)
    return Figure(_save(fig, outdir, "realizability.png"),
                  "Realizability construction theta_bar = theta0 + lambda theta*, lambda = 2(log K + B0)/gamma: margins "
                  "against H with the target log K (left); the Taylor remainder and its bound (right). Claim "
                  "realizability_needs_enough_heads.")


def fig_generalization(t, config, outdir):
    df = t["generalization"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    gs_ = t.get("gen_summary")
    if gs_ is not None and len(gs_):
        for sigma, h in gs_[gs_["protocol"] == "fixed_K"].groupby("sigma"):
            axes[2].errorbar(h["n"], h["gap_norm"], yerr=h["gap_norm_se"], marker="o", capsize=2,
                             label=f"gap n / (eta sum_k L^), sigma={sigma:g}")
        axes[2].set(xscale="log", yscale="log", xlabel="n", ylabel="normalized gap",
                    title="stability form (the bound keeps it below a constant)")
        axes[2].legend(fontsize=6)
    g = df[df["protocol"] == "fixed_K"]
    if len(g):
        for sigma, gs in g.groupby("sigma"):
            gg = gs.groupby("n")
            m, s = _mse(gg, "gap")
            l = axes[0].errorbar(m.index, m, yerr=s, marker="o", label=f"gap, sigma={sigma:g}")
            p, _ = _mse(gg, "stability_proxy")
            axes[0].plot(p.index, p, "s--", color=l[0].get_color(), label=f"stability proxy 4G^2 eta/n sum L^, sigma={sigma:g}")
            n = m.index.values.astype(float)
            pos = m[m > 0]
            if len(pos):
                axes[0].plot(n, float(pos.iloc[0] * pos.index[0]) / n, ":", color=l[0].get_color(), label="theory 1/n")
        axes[0].set(xscale="log", yscale="log", xlabel="n", ylabel="loss", title=f"H={g['H'].iloc[0]}, K={g['K'].iloc[0]}")
        axes[0].legend(fontsize=6)
    g = df[df["protocol"] == "K_prop_n"]
    if len(g):
        gg = g.groupby("n")
        for col in ("test_loss", "train_loss"):
            m, s = _mse(gg, col)
            axes[1].errorbar(m.index, m, yerr=s, marker="o", label=col)
        m, _ = _mse(gg, "test_loss")
        n = m.index.values.astype(float)
        axes[1].plot(n, m.iloc[0] * n[0] / n, "k:", label="theory 1/n")
        axes[1].set(xscale="log", yscale="log", xlabel="n (K = %d n)" % config.K_per_n, ylabel="loss",
                    title=f"H={g['H'].iloc[0]}")
        axes[1].legend(fontsize=7)
    return Figure(_save(fig, outdir, "generalization.png"),
                  "Left: generalization gap against n at fixed K with the stability proxy and a 1/n guide. Middle: test "
                  "loss with K proportional to n against the 1/n rate. Right: the gap in the stability form, "
                  "gap n / (eta sum_k L^(theta_k)), which the bound keeps below a constant. Claims generalization_gap_stability_form, "
                  "generalization_gap_shrinks_as_inverse_n, test_loss_scales_as_inverse_n.")


def fig_init(t, config, outdir):
    df = t["initialization"]
    metrics = (("gamma", "NTK margin at theta0"), ("attn_relevant", "attention on relevant tokens"),
               ("train_loss", f"training loss after K={int(df['K'].iloc[0])}"), ("test_loss", "test loss after K"))
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    labels = ["P0"] + [f"{i}, W-step {e:g}" for i, e in
                       sorted({(r.init, r.init_eta) for r in df.itertuples() if r.init != "P0"})]
    for ax, (col, lab) in zip(axes, metrics):
        for j, name in enumerate(labels):
            if name == "P0":
                g = df[df["init"] == "P0"]
            else:
                i, e = name.split(", W-step ")
                g = df[(df["init"] == i) & np.isclose(df["init_eta"], float(e))]
            m, s = float(g[col].mean()), float(g[col].std(ddof=1) / np.sqrt(len(g))) if len(g) > 1 else 0.0
            ax.errorbar([j], [m], yerr=[s], marker="o", capsize=3)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=7)
        ax.set_title(lab, fontsize=8)
        if col == "attn_relevant":
            ax.axhline(float(df["attn_uniform"].iloc[0]), color="k", ls="--", lw=1, label="uniform zeta")
            ax.legend(fontsize=6)
    fig.tight_layout()
    return Figure(_save(fig, outdir, "initialization.png"),
                  "P0 against the one-step initializations P1 (W-step from P0) and P2 (U-step from zero, then W-step) "
                  "on the tokenized mixture, mean +- s.e. over paired seeds. Claims one_step_init_enlarges_ntk_margin, "
                  "one_step_init_lowers_train_loss, one_step_init_lowers_test_loss.")


def fig_init_sample(t, config, outdir):
    import pandas as pd

    s = t["init_sample"]
    base = t.get("initialization")
    top = float(s.loc[s["init"] != "P0", "init_eta"].max()) if (s["init"] != "P0").any() else 0.0
    rows = [s] + ([base[(base["init"] == "P0") | np.isclose(base["init_eta"], top)]] if base is not None else [])
    df = pd.concat(rows, ignore_index=True)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    colors = {init: f"C{j}" for j, init in enumerate(sorted(df["init"].unique()))}
    for init, g in df[df["step_n"] == 0].groupby("init"):
        for ax, col in zip(axes, ("test_loss", "train_loss")):
            m, e = _mse(g.groupby("n"), col)
            ax.errorbar(m.index, m, yerr=e, marker="o", capsize=2, color=colors[init],
                        label=init if init == "P0" else f"{init}, W-step {top:g} on the training set")
    for init, g in df[df["step_n"] > 0].groupby("init"):
        for ax, col in zip(axes, ("test_loss", "train_loss")):
            m, e = _mse(g.groupby("n"), col)
            ax.errorbar(m.index, m, yerr=e, marker="s", ms=8, mfc="none", ls="none", capsize=2, color=colors[init],
                        label=f"{init}, W-step on {int(g['step_n'].iloc[0])} independent examples")
    ns = sorted(int(v) for v in df["n"].unique())
    for ax, lab in zip(axes, ("test loss", "training loss")):
        ax.set(xscale="log", yscale="log", xlabel="training-set size n", ylabel=f"{lab} after K={int(df['K'].iloc[0])}")
        ax.set_xticks(ns, [str(v) for v in ns])
        ax.legend(fontsize=6)
    return Figure(_save(fig, outdir, "init_sample.png"),
                  "P0 against the one-step initializations by training-set size (mean +- s.e. over paired seeds): the "
                  "one step's gradient on the n training examples (circles) or on an independent sample (squares). "
                  "The finding behind one_step_init_lowers_test_loss.")


FIGURES = [("curvature", fig_curvature), ("weak_convexity", fig_weak_convexity), ("rates", fig_rates),
           ("rates", fig_distance), ("lazy", fig_lazy), ("margins", fig_margins),
           ("realizability", fig_realizability), ("generalization", fig_generalization),
           ("initialization", fig_init), ("init_sample", fig_init_sample)]


def make_figures(tables, config, outdir: Path) -> list[Figure]:
    """Every figure whose table exists and is non-empty."""
    outdir.mkdir(parents=True, exist_ok=True)
    out = []
    for table, fn in FIGURES:
        if table in tables and len(tables[table]):
            out.append(fn(tables, config, outdir))
    return out
