"""The gd-heads Study object: metadata, presets, tables, and the hooks into experiments, analysis, claims,
figures, benchmark and normalization matrix."""
from __future__ import annotations

from pathlib import Path

from ...study import Study, Task
from .config import PRESETS, GDHeadsConfig
from .experiments import EXPERIMENTS


class GDHeadsStudy(Study):
    name = "gd-heads"
    title = "Gradient descent on single-layer multi-head attention: curvature, rates, margins, generalization"
    paper = "arXiv 2310.12680"
    summary = ("Full-batch GD on a one-layer H-head softmax-attention classifier with 1/sqrt(H) output scaling "
               "(logistic loss, tokenized-mixture data). Measures ||hess Phi|| ~ H^-1/2, self-bounded weak "
               "convexity along the GD path, training loss ~ 1/(eta K) against the bound template, log K growth "
               "of the distance from init, lazy (NTK-like) training at large H, the NTK margin and the "
               "realizability construction, and gap / test loss ~ 1/n.")
    config_cls = GDHeadsConfig
    presets = PRESETS
    default_preset = "quick"
    docs = "docs/studies/gd-heads.md"
    experiments = EXPERIMENTS
    package = "attnlab.studies.gd_heads"
    tables_doc = {
        "curvature": "H, seed, init, W0_scale, grad_norm, hessian_norm, sqrtH_hessian_norm: ||grad Phi|| and "
                     "||hess Phi||_2 (power iteration on HVPs) at theta0 for one input per seed",
        "weak_convexity": "H, seed, K, train_loss, lambda_min, kappa, beta2, distance_from_init: lambda_min(hess L^) "
                          "by Lanczos at GD checkpoint K, kappa = -lambda_min sqrt(H)/L^, beta2 = sqrt(H) max_i "
                          "||hess Phi(theta_K; X_i)||",
        "rates": "H, eta, K, seed, train_loss, distance_from_init, eta_K, monotone, eta_max_est: GD checkpoints "
                 "(eta_max_est = 1/rho, rho = G^2/4 + beta2/sqrt(H))",
        "bound": "H, eta, K, seed, gamma, lambda, L_bar, bound, train_loss, ratio, distance_from_init: the "
                 "training bound B(K) = 2 L^(theta_bar) + lambda^2/(eta K) with the grid lambda",
        "realizability": "H, K, seed, construction, gamma, lambda, min_margin, target_margin [, lin_margin, "
                         "remainder, remainder_bound, B0, beta2, H_sufficient]: theta_bar = theta0 + lambda theta*; "
                         "construction grid (claim 4) or theory (lambda = 2(log K + B0)/gamma, claim 7)",
        "margins": "H, zeta, seed, gamma, gamma_U, gamma_U_sigma0, gamma_U_theory, gamma_ideal: hard-margin NTK "
                   "margins at theta0 (all features; U-part only; U-part on the same draw with sigma = 0)",
        "lazy": "H, seed, K, train_loss, train_loss_lin, test_dev, test_scale, distance_from_init, test_loss, "
                "test_loss_lin: Phi vs its linearization after the same GD",
        "generalization": "H, n, K, seed, protocol, eta, sigma, train_loss, test_loss, test_error, gap, sum_loss, "
                          "G_max, gamma, stability_proxy, monotone: protocol fixed_K (claim 9, at gen_sigma and "
                          "gen_sigma_separable) or K_prop_n (claim 10); gamma = NTK margin of the training set at theta0",
        "initialization": "init, init_eta, n, step_n, H, K, seed, gamma, B0, radius, attn_relevant, attn_uniform, "
                          "train_loss_0, train_loss, test_loss, test_error, distance_from_init: P0 against the one-step "
                          "inits P1/P2 (init_eta = their W-step; 0 for P0) on the same data and U draw; radius = "
                          "2(log K + B0)/gamma",
        "init_sample": "the columns of initialization, at the training-set sizes init_ns (P0 and the one-step inits "
                       "at the largest W-step) and, with step_n = init_step_n, the one step's gradient taken on an "
                       "independent sample of that size while GD trains on the n examples",
        "init_sample_effects": "n, step_n, init, init_eta, metric, diff, se, low, high, mean_P0, mean_init, seeds: "
                               "paired differences to P0 on the same n examples (train_loss, test_loss, test_error, "
                               "gamma, B0; 99 %)",
        "fits": "fit, group, K, zeta, sigma, W0_scale, slope, se, low, high, n_points, x_geo: every log-log slope "
                "(analysis.py) with its 99 % t interval; fits hessian_vs_H, grad_vs_H, defect_vs_H, kappa_vs_loss, "
                "rate_late, lazy_dev_vs_H, remainder_vs_H, margin_vs_H, gap_vs_n, gap_over_sumloss_vs_n, "
                "gap_norm_vs_n, test_loss_vs_n",
        "summary": "quantity, value, se, low, high: named derived scalars (analysis.py), e.g. beta2_theta0_max, "
                   "kappa_over_beta2_max, distance_decade_ratio, bound_ratio_max, margin_zeta_ratio",
        "gen_summary": "protocol, sigma, n, K, gap, gap_se, gap_norm, gap_norm_se, proxy, test_loss, test_loss_se, "
                       "n_test_loss, n_gap, train_loss, gamma, seeds: per-n means; gap_norm = gap n/(eta sum_k L^)",
        "init_effects": "init, init_eta, metric, diff, se, low, high, mean_P0, mean_init, seeds: paired differences "
                        "(one-step init - P0) of gamma, attn_relevant, B0, radius, train_loss, test_loss (99 %)",
    }

    def tasks(self, config: GDHeadsConfig) -> list[Task]:
        from .experiments import tasks

        return tasks(config)

    def finalize(self, config: GDHeadsConfig, tables):
        from .analysis import analyze

        return analyze(config, tables)

    def claims(self):
        from .claims import CLAIMS

        return list(CLAIMS)

    def figures(self, tables, config, outdir: Path):
        from .figures import make_figures

        return make_figures(tables, config, Path(outdir))

    def benchmark(self, quick: bool = False):
        from .bench import bench_gd_heads

        return bench_gd_heads(quick)

    def normalization_matrix(self, normalization: str, scale: str = "smoke"):
        from .matrix import normalization_experiment

        return normalization_experiment(normalization, scale)


STUDY = GDHeadsStudy()
