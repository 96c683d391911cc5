"""The Study object of ``head-count`` (arXiv 2510.06662): config, presets, tables, the experiment registry,
the analysis (``finalize``), claims, figures, benchmark and normalization-matrix hook."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...study import Figure, Study, Task
from .analysis import analyse
from .claims import CLAIMS
from .config import PRESETS, HeadCountConfig
from .experiments import EXPERIMENTS, build_tasks


class HeadCountStudy(Study):
    name = "head-count"
    title = "Attention head count: a sharp drop of error at h = D on D-retrieval tasks"
    paper = "arXiv 2510.06662"
    summary = ("Yu, Jiang, Bao, Yu, Li (ICLR 2026): for targets built from D retrieved features, a one-layer "
               "transformer with h >= D heads approximates efficiently, while h < D heads need (1/eps)^{cT} "
               "parameters. We train the paper's CLS-query model on y = sum_i max_t a_i^T x_t over a grid of "
               "(h, T, seeds), check the sharp NMSE drop at h = D, and compute the theory: the h = D construction "
               "and its error in beta, the one-wide-head memorization construction, and the lower-bound exponent.")
    config_cls = HeadCountConfig
    presets = PRESETS
    default_preset = "quick"
    docs = "docs/studies/head-count.md"
    tables_doc = {
        "nmse": "experiment, D, d, h, T, n, E, N, layers, width_mode, normalization, seed, nmse_val, nmse_train, "
                "epochs, best_epoch, params_ffn, params_total, wall_s, cpu_s: one trained model (NMSE = MSE/Var y on "
                "validation / training data; params_ffn = the paper's M: encoder + head FFN)",
        "history": "experiment, D, h, T, N, layers, seed, epoch, nmse_val: validation NMSE after each epoch",
        "summary": "experiment, D, h, T, n, N, layers, width_mode, nmse_min, nmse_mean, nmse_std, log10_mean, "
                   "log10_se, seeds, params_ffn, params_total: min / mean / std over seeds (the paper's Table 2 "
                   "format) and mean / standard error of log10 NMSE",
        "drops": "experiment, D, N, layers, T, h_from, h_to, ratio_min, ratio_mean, log10_se: NMSE(h)/NMSE(h+1) "
                 "(min and mean over seeds)",
        "drop_summary": "experiment, D, N, layers, T, largest_drop_from, largest_drop_to, largest_drop, drop_into_D, "
                        "largest_at_D: where the largest drop in h is (min over seeds)",
        "T_trend": "experiment, D, N, layers, h, T_lo, T_hi, ratio_min, ratio_mean, log10_se: "
                   "NMSE(T_max)/NMSE(T_min)",
        "reversal": "experiment, N, h, Ts, reversal: weighted reversal score R(h) over T (Fig. 2e)",
        "reversal_onset": "experiment, N, hs, first_positive_h: first h with R(h) > 0, 0 when none (Fig. 2e)",
        "n_sweep": "h, T, Ns, N_min, N_max, slope, neg_log10_best, neg_log10_worst: log10 NMSE vs log10 N (Fig. 1b)",
        "construction_rate": "beta, max_excess, mean_excess, upper_bound, log_se, violations, samples, set_size, T, D, "
                             "d, slope, slope_se: the construction's max error per beta and its log-log slope",
        "paper_vs_ours": "h, T, source, paper_mean, paper_low, paper_high, ours_mean, ours_std, ours_min, seeds, "
                         "ratio, ratio_min: the paper's Table 2 mean NMSE beside ours (ratio = ours / paper)",
        "construction": "beta, feature, D, d, T, set_size, samples, max_excess, min_excess, mean_excess, "
                        "upper_bound, violations_upper, violations_lower, max_output_err, output_bound, "
                        "log_max_excess_se: the h = D construction of Thm 2(1) (excess = z_tilde - z_bar)",
        "memorization": "T, d, n, samples, dtype, max_abs_err, max_abs_target: one wide head vs vec(X)/T",
        "bound_exponent": "n, s, D, T, k, first_T, experiment_T: lower-bound exponent of Thm 2(2)",
        "target_variance": "kind (single_max | target), D, T, var, se, samples: Monte Carlo Var(y)",
        "nmse_identity": "trial, nmse, one_minus_r2, abs_diff: NMSE vs 1 - R^2 (sklearn) on random predictions",
    }

    experiments = EXPERIMENTS
    package = "attnlab.studies.head_count"

    # ---- work -----------------------------------------------------------------------------------------
    def tasks(self, config: HeadCountConfig) -> list[Task]:
        return build_tasks(config)

    def finalize(self, config: HeadCountConfig, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        return analyse(config, tables)

    def estimate(self, config: HeadCountConfig) -> tuple[float, float, str]:
        """(bytes, tokens, field): the largest task holds its data set as float64 draws and float32 tensors,
        x (n_train + n_val, T, d) and y, plus a few copies of that size while training (predictions,
        shuffled batches): about 4 * (n_train + n_val) * T_max * d * 8 bytes; the work is the tokens seen in
        training, sum over runs of epochs * n_train * T.  The field named is ``n_train``."""
        from .experiments import training_points

        pts = training_points(config)
        t_max = max([p["T"] for p in pts] + [max(config.grid_Ts)])
        nbytes = 4.0 * (config.n_train + config.n_val) * t_max * config.d * 8
        tokens = float(sum(config.epochs * config.n_train * p["T"] for p in pts))
        return nbytes, tokens, "n_train"

    def claims(self):
        return list(CLAIMS)

    def figures(self, tables, config, outdir: Path) -> list[Figure]:
        from .figures import make_figures

        return make_figures(tables, config, Path(outdir))

    def benchmark(self, quick: bool = False):
        from .bench import bench_epochs

        return bench_epochs(quick)

    def normalization_matrix(self, normalization: str, scale: str = "smoke"):
        from .matrix import normalization_cell

        return normalization_cell(normalization, scale)



STUDY = HeadCountStudy()
__all__ = ["STUDY", "HeadCountStudy"]
