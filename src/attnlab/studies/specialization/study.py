"""The Study object of `specialization` (Sagitova, Duranthon, Zdeborova, arXiv 2603.03993).
Docs: docs/studies/specialization.md."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...study import Figure, Study, Task
from .config import PRESETS, SpecializationConfig
from .experiments import EXPERIMENTS


class SpecializationStudy(Study):
    name = "specialization"
    title = "Staged specialization of softmax attention heads; softmax-1 and Bayes-softmax"
    paper = "arXiv 2603.03993"
    summary = ("Multi-head attention on the high-dimensional single-location multi-index model, trained by "
               "online SGD: an unspecialized plateau whose length grows like log D, then heads specialize to "
               "latent features in stages (ordered by Var theta_f), with an even split between flipped modes; "
               "the overlap ODE against finite-D SGD; teacher-aligned risks vs nu showing the softmax error "
               "floor, the softmax-1 gain and the Bayes-optimality of Bayes-softmax; pruning after training.")
    config_cls = SpecializationConfig
    presets = PRESETS
    default_preset = "quick"
    docs = "docs/studies/specialization.md"
    experiments = EXPERIMENTS
    package = "attnlab.studies.specialization"
    tables_doc = {
        "activations": "prior, nu, L, H, noise, activation, risk, stderr, excess, excess_stderr, beta, bias, samples"
                       " -- MC risk E[(y-f)^2] of the best teacher-aligned configuration per activation "
                       "(bayes = Bayes risk); excess = paired risk - Bayes risk; beta = key norm, bias = the entry's "
                       "bias logit (softmax1: the sink logit)",
        "dynamics": "experiment, source (sgd | ode | gradient_flow), activation, D, seed, nu, H, t, risk, name "
                    "(M | N | Rkk | Pvv | b), head, feature, value -- overlaps and risk on the t = steps/D grid",
        "pruning": "experiment, activation, seed, H, F, n_pruned, kept, risk, stderr, online_risk, nu, D -- population "
                   "risk after removing n_pruned heads greedily by loss (kept: the heads left), no retraining",
        "bayes": "experiment, nu, L, noise, risk, stderr, var_y -- Bayes risk of each SGD experiment's data",
        "stability": "experiment, activation, D, seed, nu, H, point (plateau | one_feature), feature, t, relax, "
                     "lam, lam_se, lam2, residual, m_other, t1_ode, t2_ode, t2_pred, ode_horizon -- growth rate "
                     "lam (top eigenvalue of the ODE's feature block Jacobian, +- lam_se over 4 MC batches) of "
                     "feature f at the ODE state `point` from variance replica `seed`'s init; t1_ode / t2_ode: the "
                     "ODE's first passages of feature 0 / f (NaN: not within ode_horizon); t2_pred: extrapolated "
                     "second-stage time where lam > 0",
        "exits": "experiment, source, activation, D, seed, feature, t_exit, horizon -- (analysis) first logged t "
                 "with max_h |M_hf| > 0.5 (NaN: never), and the last logged t",
        "ode_deviation": "D, seed, t_w, e, exit_shift, d_risk, d_N, d_Pvv, d_Rkk, d_M0.. -- (analysis) SGD vs the "
                         "ODE from the same init on the plateau window 0 < t <= t_w: e = RMS norm of sgd - ode over "
                         "the order parameters, d_q = window mean of sgd - ode, exit_shift = t_exit(sgd) - t_exit(ode)",
        "lr_flow": "series (sgd | ode | gradient_flow | sgd_small_lr), lr, D, seed, tau_exit, t_exit, plateau_risk, "
                   "final_risk -- (analysis) the plateau on the gradient-flow clock tau = lr t at D = ode_D: exit time "
                   "and the mean risk on tau in (tau_exit/2, 0.9 tau_exit)",
        "split_counts": "seed, t, pos, neg, H -- (analysis) heads with M_h > 0.3 / < -0.3 in the split experiment",
        "split_events": "seed, H, first_full_t, first_pos, first_neg, uneven_first, uneven_t, excursion_t, "
                        "excursion_head, rebalance_t, final_pos, final_neg, final_even, horizon -- (analysis) per split "
                        "seed: the first full split, the first uneven full split (abs(pos - neg) >= 2), the excursion "
                        "(first time a head assigned to one mode is assigned to the other), the first even split after "
                        "an uneven one, the final split",
        "split_stability": "student, values, fixed_value, N_value, D, nu, H, lr, pattern ((H-1)/1 | H/2/H/2), relax, "
                           "start_m, final_pos, final_neg, kept, switch_t, switch_head, final_M, value, risk, risk_se, "
                           "flow, lam_full, lam_full_se, lam_full2, top_B_share, head, m_head, m_other, lam_flip, lam_flip_se, f_mid, "
                           "f_mid_se, m_sep, barrier, diffusion, diffusion_state, escape_exponent, profile_m, profile_f, kick_m, verdict, "
                           "sgd_horizon, sgd_replicas, sgd_kept, sgd_switched, sgd_switch_t "
                           "-- is the split a stable state of the split experiment's ODE, per student: relaxed from the "
                           "pattern for split_horizon (kept: no head changed mode; switch_t: the ODE's excursion); "
                           "lam_full: top eigenvalue of the full drift Jacobian +- SE (4 MC batches; top_B_share: its "
                           "eigenvector's share on the keys' overlaps with v*); the least "
                           "committed head h of the larger mode moved along k*: lam_flip = restoring rate dF/dM_h, "
                           "f_mid = dM_h/dt at M_h = 0, m_sep = the separatrix on that path, barrier = its 1-D "
                           "potential barrier, diffusion = the SGD noise lr^2 Var(g)/D on M_h at D (path mean; "
                           "diffusion_state: at the state), escape_exponent = 2 int f / diffusion dm over the path "
                           "(Arrhenius, grows like D); kick_m: M_h after relaxing from M_h = 0; "
                           "verdict stable | unstable | marginal",
        "split_pattern_sgd": "seed, t, head, M, risk, student, pattern -- online SGD at D from the uneven split "
                             "(every split replica's init, keys moved along k* to M_h = +-0.5), for split_horizon / 3, "
                             "per student of split_stability (whose uneven row holds sgd_kept, sgd_switched, "
                             "sgd_switch_t)",
        "pruning_summary": "activation, seed, H, F, n_prunable, risk_full, bayes_ratio, risk_kept, n_prunable_median -- "
                           "(analysis) heads removed greedily by loss while the risk stays within 10 % of the full "
                           "model's (+ Z MC SE); risk after H - F removed; risk_full / Bayes risk; the median over seeds",
    }

    def tasks(self, config: SpecializationConfig) -> list[Task]:
        c = config
        # the variance runs first: long at every preset (t up to variance_horizon), and the ODE of claim 5
        acts = ("softmax", "bayes_softmax")
        variance = [Task.of("variance", f"variance-{a}-H={H}", activation=a, H=int(H))
                    for H in c.variance_Hs for a in acts]
        if c.value_mode == "shared":       # the per-feature antithetic ODE needs a theta-independent value
            variance += [Task.of("variance_ode", f"variance-ode-{a}-H={H}-seed={i}", activation=a, seed_index=i, H=int(H))
                         for H in c.variance_Hs for a in acts for i in range(c.variance_ode_seeds)]
        n_groups = -(-c.plateau_seeds // c.plateau_group)
        out = [Task.of("plateau", f"plateau-D={D}-seeds={i}-{min(i + c.plateau_group, c.plateau_seeds) - 1}",
                       D=int(D), first=i, count=min(c.plateau_group, c.plateau_seeds - i))
               for D in sorted(c.Ds, reverse=True) for i in range(0, c.plateau_seeds, c.plateau_group)]
        odes = [Task.of("ode", f"ode-D={D}-seed={i}", D=int(D), seed_index=i,
                        gradient_flow=bool(D == c.ode_D and i == 0))
                for D in sorted(set(c.Ds) | {c.ode_D}, reverse=True) for i in range(c.ode_seeds)]
        out = out[:-n_groups] + odes + out[-n_groups:]      # the largest-D groups, the ODEs, then the rest
        out = variance + out + [Task.of("small_lr", "plateau-small-lr")]
        out += [Task.of("train", f"train-{a}", activation=a) for a in c.train_activations]
        out.append(Task.of("split", "split"))
        # added after the paper run of 03aab3b: new keys only, so a resumed run computes just these
        from .split_stability import STUDENTS
        out += [Task.of("split_stability", f"split-stability-{v}-N={fv.replace('/', '_')}", values=v, fixed_value=fv)
                for v, fv in STUDENTS]
        out += [Task.of("activations", f"act-flipped-nu={nu:g}", nu=float(nu), setting="flipped") for nu in c.nus]
        out.append(Task.of("activations", "act-onehot-nu=16", nu=16.0, setting="onehot"))
        return out

    def finalize(self, config: SpecializationConfig, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        from .analysis import derive
        from .experiments import bayes_reference

        tables = dict(tables)
        tables["bayes"] = bayes_reference(config)
        if "activations" in tables:
            tables["activations"] = tables["activations"].sort_values(["prior", "nu", "activation"]).reset_index(drop=True)
        tables.update(derive(tables, config))
        return tables

    def claims(self):
        from .claims import CLAIMS

        return CLAIMS

    def figures(self, tables, config, outdir: Path) -> list[Figure]:
        from .figures import make_figures

        return make_figures(tables, config, Path(outdir))

    def benchmark(self, quick: bool = False):
        from .bench import bench_sgd

        return bench_sgd(quick)

    def normalization_matrix(self, normalization: str, scale: str = "smoke"):
        from .norm_matrix import normalization_metrics

        return normalization_metrics(normalization, scale)


STUDY = SpecializationStudy()
