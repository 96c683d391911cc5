"""Study ``head-count``: approximation with h heads on generalized D-retrieval tasks (arXiv 2510.06662).

A one-layer transformer whose classification token is the only query approximates y = sum_{i<=D} max_t
a_i^T x_t; the validation NMSE drops sharply at h = D heads. Theory: the h = D construction, the one-wide-head
memorization construction, the lower-bound exponent k(T, n, s, D). See docs/studies/head-count.md.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...study import Figure, Study, Task
from . import tasks as _tasks
from .claims import CLAIMS
from .config import PRESETS, HeadCountConfig


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
        "summary": "experiment, D, h, T, n, N, layers, width_mode, nmse_min, nmse_mean, seeds, params_ffn, "
                   "params_total: min / mean over seeds (the paper's Table 2 format)",
        "reversal": "experiment, N, h, Ts, reversal: weighted reversal score R(h) over T (Fig. 2e)",
        "construction": "beta, feature, D, d, T, set_size, samples, max_excess, min_excess, mean_excess, "
                        "upper_bound, violations_upper, violations_lower, max_output_err, output_bound, "
                        "log_max_excess_se: the h = D construction of Thm 2(1) (excess = z_tilde - z_bar)",
        "memorization": "T, d, n, samples, dtype, max_abs_err, max_abs_target: one wide head vs vec(X)/T",
        "bound_exponent": "n, s, D, T, k, first_T, experiment_T: lower-bound exponent of Thm 2(2)",
        "target_variance": "kind (single_max | target), D, T, var, se, samples: Monte Carlo Var(y)",
        "nmse_identity": "trial, nmse, one_minus_r2, abs_diff: NMSE vs 1 - R^2 (sklearn) on random predictions",
    }

    # ---- work -----------------------------------------------------------------------------------------
    def tasks(self, config: HeadCountConfig) -> list[Task]:
        pts = sorted(_tasks.training_points(config), key=_tasks.cost, reverse=True)   # longest first
        out = [Task(_tasks.task_key(p), {"kind": "train", **p}) for p in pts]
        out += [Task(f"theory_{name}", {"kind": "theory", "name": name}) for name in _tasks.THEORY_TASKS]
        return out

    def run_task(self, config: HeadCountConfig, task: Task) -> dict[str, pd.DataFrame]:
        params = dict(task.params)
        if params.pop("kind") == "theory":
            return _tasks.run_theory(config, params["name"])
        return _tasks.run_training(config, params)

    def finalize(self, config: HeadCountConfig, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        tables = dict(tables)
        if "nmse" in tables and not tables["nmse"].empty:
            nm = tables["nmse"].sort_values(["experiment", "D", "h", "T", "N", "layers", "seed"])
            tables["nmse"] = nm.reset_index(drop=True)
            tables["summary"] = _tasks.summary_table(tables["nmse"])
            tables["reversal"] = _tasks.reversal_table(tables["summary"])
        tables["bound_exponent"] = _tasks.bound_exponent_table(config)
        return tables

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
__all__ = ["STUDY", "HeadCountStudy", "HeadCountConfig"]
