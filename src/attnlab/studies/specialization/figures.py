"""Figures F1-F6 of the brief, F7 (the ODE-vs-SGD finite-size scaling), F8 (the learning rate against gradient
flow) and F9 (the uneven split's stability), from the result tables only (matplotlib Agg)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ...plotting import save_figure as _save  # noqa: E402
from ...study import Figure  # noqa: E402


def _bayes(tables, experiment):
    b = tables.get("bayes")
    if b is None or b.empty or not (b["experiment"] == experiment).any():
        return None
    return float(b[b["experiment"] == experiment]["risk"].iloc[0])


def fig_risk_vs_t(tables, config, outdir) -> Figure | None:
    dyn = tables.get("dynamics")
    if dyn is None:
        return None
    d = dyn[(dyn["experiment"] == "plateau") & (dyn["name"] == "M") & (dyn["head"] == 0) & (dyn["feature"] == 0)]
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    sgd = d[d["source"] == "sgd"]
    for D, g in sgd.groupby("D"):
        m = g.groupby("t")["risk"].mean()
        ax.plot(m.index, m.values, "o", ms=2.5, label=f"SGD D={int(D)} (mean of {g['seed'].nunique()} seeds)")
    for src, style in (("ode", "-k"), ("gradient_flow", "--k")):     # the ODE from seed 0's init at ode_D
        for seed, g in d[(d["source"] == src) & (d["D"] == config.ode_D) & (d["seed"] == 0)].groupby("seed"):
            ax.plot(g["t"], g["risk"], style, lw=1.2, label=f"{src.replace('_', ' ')} (init of seed {seed}, D={int(g['D'].iloc[0])})")
    eb = _bayes(tables, "plateau")
    if eb is not None:
        ax.axhline(eb, color="gray", ls=":", label="Bayes risk")
    ax.set_xlabel("t = steps / D")
    ax.set_ylabel("test error E[(y - f)^2]")
    ax.set_title("Plateau then drop (flipped spike, softmax)")
    ax.legend(fontsize=7)
    return Figure(_save(fig, outdir, "risk_vs_t.png"),
                  "F1: test error vs t = steps/D. Markers: online SGD at several D (seed mean); lines: overlap ODE "
                  "(solid: finite lr with the lr^2 term; dashed: gradient flow) from the same initial overlaps; "
                  "dotted: Bayes risk. Command: attnlab run specialization")


def fig_overlaps(tables, config, outdir) -> Figure | None:
    dyn = tables.get("dynamics")
    if dyn is None:
        return None
    d = dyn[(dyn["experiment"] == "plateau") & (dyn["name"] == "M") & (dyn["feature"] == 0)]
    ode = d[(d["source"] == "ode") & (d["D"] == config.ode_D)]
    if ode.empty:
        return None
    seed, D = int(ode["seed"].min()), int(config.ode_D)
    sgd = d[(d["source"] == "sgd") & (d["D"] == D) & (d["seed"] == seed)]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for h, g in sgd.groupby("head"):
        ax.plot(g["t"], g["value"], "o", ms=2.5, color=colors[h % len(colors)], label=f"SGD head {h}")
    for h, g in ode[ode["seed"] == seed].groupby("head"):
        ax.plot(g["t"], g["value"], "-", color=colors[h % len(colors)], lw=1.2, label=f"ODE head {h}")
    ax.set_xlabel("t = steps / D")
    ax.set_ylabel("M_h = k_h . k* / D")
    ax.set_title(f"Per-head key overlaps, D={D}, seed {seed}")
    ax.legend(fontsize=7, ncol=2)
    return Figure(_save(fig, outdir, "overlaps_per_head.png"),
                  f"F2: key-teacher overlaps M_h(t) per head at D={D}: SGD (markers) and the finite-lr ODE (lines) "
                  "from the same initialisation; all heads alike on the plateau, then they split between +k* and -k*.")


def fig_variance(tables, config, outdir) -> Figure | None:
    dyn = tables.get("dynamics")
    if dyn is None:
        return None
    d = dyn[(dyn["experiment"] == "variance") & (dyn["name"] == "M")]
    if d.empty:
        return None
    if "H" not in d.columns:
        d = d.assign(H=config.H)
    acts = sorted(set(zip(d["activation"], d["H"])))
    fig, axes = plt.subplots(1, len(acts), figsize=(5.2 * len(acts), 3.8), squeeze=False)
    for ax, (act, Hh) in zip(axes[0], acts):
        g = d[(d["activation"] == act) & (d["H"] == Hh)]
        m = g.assign(a=g["value"].abs()).groupby(["source", "feature", "seed", "t"])["a"].max().reset_index()
        sgd, ode = m[m["source"] == "sgd"], m[m["source"] == "ode"]
        for f, gf in sgd.groupby("feature"):
            for _, gs in gf.groupby("seed"):
                ax.plot(gs["t"], gs["a"], color=f"C{f}", alpha=0.25, lw=0.8)
            mm = gf.groupby("t")["a"].mean()
            ax.plot(mm.index, mm.values, color=f"C{f}", lw=2,
                    label=f"feature {f}: sigma={config.variance_sigma[f]:g} (SGD seed mean)")
        for (f, seed), gs in ode.groupby(["feature", "seed"]):
            ax.plot(gs["t"], gs["a"], color=f"C{f}", ls="--", lw=1.2,
                    label=f"feature {f}: ODE from replica {seed}'s init" if seed == ode["seed"].min() else None)
        ax.axhline(0.5, color="gray", ls=":", lw=1)
        if not sgd.empty:
            ax.axvline(sgd["t"].max(), color="gray", ls="-", lw=0.6)
        ax.set_xlabel("t = steps / D")
        ax.set_ylabel("max_h |M_hf|")
        ax.set_title(f"{act}, H={int(Hh)}")
        ax.legend(fontsize=7)
    return Figure(_save(fig, outdir, "variance_order.png"),
                  "F3: sequential specialization with Gaussian theta, diag Cov = sigma^2: max over heads of |M_hf| "
                  "per feature (thin: SGD seeds, thick: SGD mean; dashed: the overlap ODE from the replicas' own "
                  "inits, run past the SGD horizon, grey line). Dotted: the 0.5 threshold. The larger-variance "
                  "feature is learned first; whether the second comes is claim specialization_order_follows_variance.")


def fig_split(tables, config, outdir) -> Figure | None:
    dyn = tables.get("dynamics")
    if dyn is None:
        return None
    d = dyn[(dyn["experiment"] == "split") & (dyn["name"] == "M") & (dyn["feature"] == 0)]
    if d.empty:
        return None
    ev = tables.get("split_events")
    ev = ev.set_index("seed") if ev is not None and not ev.empty else None
    seeds = sorted(d["seed"].unique())
    if ev is not None:        # seeds with an excursion or an uneven split first, then the rest
        seeds = sorted(seeds, key=lambda s: (not np.isfinite(ev.loc[s, "excursion_t"]), not np.isfinite(ev.loc[s, "uneven_t"]), s))
    seeds = seeds[:10]
    ncol = min(5, len(seeds))
    nrow = int(np.ceil(len(seeds) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.2 * nrow), squeeze=False, sharey=True)
    for ax, s in zip(axes.flat, seeds):
        for h, g in d[d["seed"] == s].groupby("head"):
            ax.plot(g["t"], g["value"], lw=1)
        ax.axhline(0.3, color="gray", ls=":", lw=0.8)
        ax.axhline(-0.3, color="gray", ls=":", lw=0.8)
        title = f"seed {s}"
        if ev is not None:
            e = ev.loc[s]
            if np.isfinite(e["excursion_t"]):
                ax.axvline(e["excursion_t"], color="red", ls="--", lw=1)
                title += f": excursion t={e['excursion_t']:g}"
            if np.isfinite(e["rebalance_t"]):
                ax.axvline(e["rebalance_t"], color="green", ls=":", lw=1)
            title += f" ({int(e['final_pos'])}/{int(e['final_neg'])})"
        ax.set_title(title, fontsize=7)
        ax.set_xlabel("t", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("M_h")
    for ax in list(axes.flat)[len(seeds):]:
        ax.axis("off")
    n_exc = int(np.isfinite(ev["excursion_t"]).sum()) if ev is not None else 0
    n_un = int(np.isfinite(ev["uneven_t"]).sum()) if ev is not None else 0
    stab = _split_stability_line(tables, config)
    if ev is not None:
        fig.suptitle(f"{n_exc}/{len(ev)} seeds with an excursion; {n_un} split unevenly"
                     + (f" -- {stab}" if stab else ""), fontsize=8)
    excursions = (f"No head changes mode in any seed ({n_un} of {len(ev)} seeds split unevenly and stay so), so no "
                  "excursion is marked. " if ev is not None and n_exc == 0 else "")
    return Figure(_save(fig, outdir, "split.png"),
                  "F4: per-seed head overlaps M_h(t) (flipped spike, p = 1/2, H = 4; seeds with an excursion first, "
                  "then the uneven splits): heads split between the two modes. Red dashed: the excursion (a head "
                  "leaves one mode for the other; time in the title), green dotted: the first even split after an "
                  "uneven one; title: the final split. Grey dotted: the +-0.3 split threshold. " + excursions
                  + (f"Why, from the ODE (table split_stability): {stab}. " if stab else "")
                  + "Claims even_split_between_flipped_modes and uneven_split_rearranges_through_excursion.")


def _split_stability_line(tables, config) -> str:
    """The uneven split's stability for the config's student (table split_stability), in one line."""
    from .claims import _student_key

    st = tables.get("split_stability")
    key = _student_key(config)
    if st is None or st.empty or key is None:
        return ""
    H = int(st["H"].iloc[0])
    u = st[(st["student"] == key) & (st["pattern"] == f"{H - 1}/1")]
    if u.empty:
        return ""
    u = u.iloc[0]
    if not u["kept"]:
        return f"{key}: {H - 1}/1 not kept by the ODE (ends {int(u['final_pos'])}/{int(u['final_neg'])})"
    return (f"{key}: {H - 1}/1 {u['verdict']}, flip rate {u['lam_flip']:.2g} +- {u['lam_flip_se']:.1g}, "
            f"escape exponent {u['escape_exponent']:.3g} at D = {int(u['D'])}")


def fig_activations(tables, config, outdir) -> Figure | None:
    df = tables.get("activations")
    if df is None or df.empty:
        return None
    d = df[df["prior"] == "flipped"]
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for act, g in d.groupby("activation"):
        g = g.sort_values("nu")
        style = dict(ls="-", marker="o", ms=4)
        if act == "bayes":
            style = dict(ls="--", color="k", marker="", lw=1.5, zorder=5)
        elif act == "bayes_softmax":
            style = dict(ls="none", marker="s", ms=7, mfc="none", zorder=4)
        ax.errorbar(g["nu"], g["risk"], yerr=g["stderr"], capsize=2, label=act, **style)
    ax.set_yscale("log")
    ax.set_xlabel("signal strength nu")
    ax.set_ylabel("test error E[(y - f)^2]")
    ax.set_title("Teacher-aligned heads, flipped spike F=1, H=2, L=4")
    ax.legend(fontsize=7)
    return Figure(_save(fig, outdir, "activations_vs_nu.png"),
                  "F5: risk of the best teacher-aligned configuration per activation vs nu (MC, +-1 SE), with the "
                  "Bayes risk (dashed; the Bayes-softmax squares lie on it). Softmax keeps a floor; softmax-1 + bias follows Bayes.")


def fig_pruning(tables, config, outdir) -> Figure | None:
    p = tables.get("pruning")
    if p is None or p.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for act, g in p.groupby("activation"):
        s = g.groupby("n_pruned")["risk"].median()
        ax.plot(s.index, s.values, marker="o", label=f"{act} (median over seeds)")
    eb = _bayes(tables, "train")
    if eb is not None:
        ax.axhline(eb, color="k", ls="--", label="Bayes risk")
    H = int(p["H"].iloc[0])
    F = int(p["F"].iloc[0]) if "F" in p.columns else 2
    ax.axvline(H - F, color="gray", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("heads pruned (greedy by loss: the least costly head first)")
    ax.set_ylabel("test error")
    ax.set_title(f"Pruning after training, H={H}, F=2")
    ax.legend(fontsize=7)
    return Figure(_save(fig, outdir, "pruning.png"),
                  "F6: population risk after removing heads greedily by loss, without retraining (median over seeds) "
                  "per activation, with the Bayes risk; dotted: H - F heads removed. Points at 0 pruned are the "
                  "final trained risks. Claim pruning_costs_little_for_softmax1_and_bayes_softmax.")


def fig_ode_scaling(tables, config, outdir) -> Figure | None:
    dev = tables.get("ode_deviation")
    if dev is None or dev.empty:
        return None
    Ds = sorted(int(D) for D in dev["D"].unique())
    fig, ax = plt.subplots(figsize=(5.4, 4.0))
    m, se = [], []
    for D in Ds:
        e = dev[dev["D"] == D]["e"].to_numpy()
        ax.plot(np.full(len(e), D), e, "o", color="C0", ms=3, alpha=0.5)
        m.append(e.mean())
        se.append(e.std(ddof=1) / np.sqrt(len(e)) if len(e) > 1 else np.nan)
    Da, m = np.array(Ds, float), np.array(m)
    ax.errorbar(Da, m, yerr=se, fmt="s-", color="C0", capsize=3, label="SGD - ODE, mean over replicas (+-1 SE)")
    ax.plot(Da, m[0] * np.sqrt(Da[0] / Da), "k--", label="D^{-1/2} (through the smallest D)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("D")
    ax.set_ylabel("RMS |order parameters(SGD) - ODE| on the plateau")
    ax.set_title(f"ODE vs SGD on the plateau (0 < t <= {float(dev['t_w'].iloc[0]):g})")
    ax.legend(fontsize=7)
    return Figure(_save(fig, outdir, "ode_vs_sgd_scaling.png"),
                  "F7: per replica (dots) and mean +- SE (squares), the RMS over the plateau window of the norm of "
                  "SGD - ODE (same initial overlaps) over the order parameters (head means of N, |v|^2, |k|^2; "
                  "head-sorted M); dashed: the D^{-1/2} finite-size law. Claim ode_matches_sgd.")


def fig_lr_flow(tables, config, outdir) -> Figure | None:
    dyn, lf = tables.get("dynamics"), tables.get("lr_flow")
    if dyn is None or lf is None or lf.empty:
        return None
    D = config.ode_D
    d = dyn[(dyn["D"] == D) & (dyn["name"] == "M") & (dyn["head"] == 0) & (dyn["feature"] == 0)
            & (dyn["seed"] < config.ode_seeds)]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (exp, src, lr, style, label) in (("plateau", "sgd", config.lr, "o", f"SGD, lr = {config.lr:g}"),
                                          ("plateau", "ode", config.lr, "-", f"ODE, lr = {config.lr:g}"),
                                          ("plateau", "gradient_flow", config.lr, "--", "gradient flow"),
                                          ("plateau_small_lr", "sgd", config.small_lr, "s", f"SGD, lr = {config.small_lr:g}")):
        g = d[(d["experiment"] == exp) & (d["source"] == src)]
        if g.empty:
            continue
        m = g.groupby("t")["risk"].mean()
        ax.plot(lr * m.index, m.values, style, ms=2.5, lw=1.2, label=f"{label} (mean of {g['seed'].nunique()})")
    ax.set_xlabel("tau = lr * t  (gradient-flow time)")
    ax.set_ylabel("test error")
    ax.set_title(f"Plateau vs gradient flow, D={D}")
    ax.legend(fontsize=7)
    s = lf.groupby("series")[["plateau_risk", "tau_exit"]].median()
    txt = "; ".join(f"{k}: plateau {r.plateau_risk:.3g}, tau_exit {r.tau_exit:.3g}" for k, r in s.iterrows())
    return Figure(_save(fig, outdir, "lr_vs_gradient_flow.png"),
                  "F8: the plateau on the gradient-flow clock tau = lr t (same inits): SGD and the ODE at lr, SGD at "
                  f"small_lr, and the gradient-flow ODE. Medians over replicas (table lr_flow): {txt}.")


def fig_split_stability(tables, config, outdir) -> Figure | None:
    """F9: the force on the least committed head of the larger mode along the flip path (table split_stability)."""
    st = tables.get("split_stability")
    if st is None or st.empty:
        return None
    students = list(dict.fromkeys(st["student"]))
    sgd = tables.get("split_pattern_sgd")
    nrow = 1 if sgd is None or sgd.empty else 2
    fig, axes = plt.subplots(nrow, len(students), figsize=(3.4 * len(students), 3.0 * nrow), squeeze=False)
    if nrow == 2:                               # SGD from the uneven split: replicas 0 and 1, the switch marked
        from .split_stability import first_switch

        for ax, student in zip(axes[1], students):
            g = sgd[sgd["student"] == student]
            for r, c in zip(sorted(g["seed"].unique())[:2], ("-", "--")):
                p = g[g["seed"] == r].pivot(index="t", columns="head", values="M")
                ax.set_prop_cycle(None)
                ax.plot(p.index, p.values, ls=c, lw=1)
                t_sw = first_switch(p.index.to_numpy(), p.to_numpy())[0]
                if np.isfinite(t_sw):
                    ax.axvline(t_sw, color="red", ls=c, lw=0.8)
            u = st[(st["student"] == student) & st["sgd_replicas"].notna()] if "sgd_replicas" in st else st.iloc[:0]
            if len(u):
                u = u.iloc[0]
                ax.set_title(f"SGD from {u['pattern']}: {int(u['sgd_switched'])}/{int(u['sgd_replicas'])} switch"
                             + (f", median t={u['sgd_switch_t']:.3g}" if np.isfinite(u["sgd_switch_t"]) else ""), fontsize=8)
            ax.axhline(0.3, color="gray", ls=":", lw=0.6)
            ax.axhline(-0.3, color="gray", ls=":", lw=0.6)
            ax.set_xlabel("t", fontsize=8)
        axes[1, 0].set_ylabel("M_h (SGD, replicas 0 solid, 1 dashed)", fontsize=8)
    for ax, student in zip(axes[0], students):
        for r in st[st["student"] == student].itertuples():
            m = np.array([float(x) for x in r.profile_m.split(",")])
            f = np.array([float(x) for x in r.profile_f.split(",")])
            lab = f"{r.pattern}" + ("" if r.kept else f" (left: ends {r.final_pos}/{r.final_neg})")
            line, = ax.plot(m, f, lw=1.2, label=lab)
            if np.isfinite(r.m_sep):
                ax.axvline(r.m_sep, color=line.get_color(), ls=":", lw=1)
        ax.axhline(0, color="gray", lw=0.6)
        ax.set_title(student, fontsize=8)
        ax.set_xlabel("M_h of the moved head", fontsize=8)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("dM_h/dt")
    rows = "; ".join(f"{r.student} {r.pattern}: " + (
        f"{r.verdict}, flip rate {r.lam_flip:.2g} +- {r.lam_flip_se:.1g}, escape exponent {r.escape_exponent:.3g}"
        if r.kept else f"unstable, the ODE leaves it (ends {r.final_pos}/{r.final_neg}"
        + (f", a head switching at t = {r.switch_t:g})" if np.isfinite(r.switch_t) else ")"))
        for r in st.itertuples())
    return Figure(_save(fig, outdir, "split_stability.png"),
                  "F9: why an uneven split stays (the split experiment's ODE, table split_stability): the force "
                  "dM_h/dt on the least committed head of the larger mode when it is moved along k* toward the other "
                  "mode (other heads held at the relaxed split), per student and split; the curve starts at the "
                  "head's own M_h (right for the + mode). Dotted: the separatrix, where a head would switch mode. "
                  + ("Bottom: online SGD at D started from the uneven split (replicas 0 and 1; red: a head changes "
                     "mode, the excursion; title: replicas with a switch and its median time). " if nrow == 2 else "")
                  + f"{rows}. Claim uneven_split_rearranges_through_excursion.")


def make_figures(tables, config, outdir: Path) -> list[Figure]:
    outdir.mkdir(parents=True, exist_ok=True)
    out = []
    for fn in (fig_risk_vs_t, fig_overlaps, fig_variance, fig_split, fig_activations, fig_pruning,
               fig_ode_scaling, fig_lr_flow, fig_split_stability):
        f = fn(tables, config, outdir)
        if f is not None:
            out.append(f)
    return out
