"""The selectivity Study: tasks (synthetic checks; one task per pretrained model and text chunk), finalize
(the KS critical-N scan), claims, figures, benchmark, normalization matrix."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

from ...study import Study, Task
from .config import PRESETS, SelectivityConfig

SYNTHETIC_TASKS = ("lemma1", "jacobian", "distance", "separability-gradient")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "-", name)


def critical_n_table(scan: pd.DataFrame, alphas, expectation: str = "mc") -> pd.DataFrame:
    """Fig. 2c: for each (model, L), the smallest N on the grid at which the per-head mean true distances and the
    per-head mean expected distances (column d_expected_<expectation>: Monte-Carlo or main term) are not told apart by a two-sample KS test (p > alpha).
    Per-head values are averaged over text chunks first.  critical_N = NaN when every N on the grid differs."""
    rows = []
    if scan is None or len(scan) == 0:
        return pd.DataFrame(columns=["model", "L", "critical_N", "alpha", "critical_frac", "p_value", "n_heads",
                                     "N_max_scanned"])
    col = f"d_expected_{expectation}"
    per_head = scan.groupby(["model", "L", "N", "layer", "head"], as_index=False)[["d_sum", col]].mean()
    for (model, L), g in per_head.groupby(["model", "L"]):
        pvals = []
        for N, gn in g.groupby("N"):
            a, b = gn["d_sum"].dropna().to_numpy(), gn[col].dropna().to_numpy()
            p = float(stats.ks_2samp(a, b).pvalue) if len(a) > 1 and len(b) > 1 else float("nan")
            pvals.append((int(N), p, len(a)))
        for alpha in alphas:
            hit = [(N, p, n) for N, p, n in pvals if p > alpha]
            N, p, n = hit[0] if hit else (float("nan"), float("nan"), pvals[0][2] if pvals else 0)
            rows.append(dict(model=model, L=int(L), critical_N=float(N), alpha=float(alpha),
                             critical_frac=float(N) / L, p_value=p, n_heads=int(n),
                             N_max_scanned=int(max(q[0] for q in pvals)) if pvals else 0))
    return pd.DataFrame(rows)


class SelectivityStudy(Study):
    name = "selectivity"
    title = "Limits of softmax normalization: selectivity on synthetic vectors and pretrained transformers"
    paper = "arXiv 2508.17821"
    summary = ("Mudarisov, Burtsev, Petrova, State (NeurIPS 2025): a length-independent normalizer gives every "
               "token a weight of order 1/L, so the separation d~ between the top-N tokens and the rest collapses "
               "once N grows with L; one head separates only part of its selection; a low temperature buys "
               "sharpness with gradient sensitivity ~1/T.  Synthetic theory checks (Lemma 1, Jacobian 1/(2T), "
               "Theorem 1 bound, random-set expectation) and transfer tests of the paper's GPT-2 figures on "
               "SmolLM2-135M and MiniLM-L6, offline, plus a comparison of softmax, ssmax, sparsemax, entmax15 and "
               "softmax1 on the same real logits.")
    config_cls = SelectivityConfig
    presets = PRESETS
    default_preset = "quick"
    docs = "docs/studies/selectivity.md"
    tables_doc = {
        "lemma1": "normalizer, T, L, rep, Delta, L_alpha_min, L_alpha_max, max_alpha, C1, C2, within: L*alpha range "
                  "of one random query against Lemma 1 / Corollary 1 constants",
        "jacobian": "T, case (random, tied_top2), rep, spectral_norm_times_T, diag_max_times_T, autograd_err_times_T, "
                    "fd_err_times_T",
        "sqrt5": "eps, T, logit_distance_over_eps, dalpha, dalpha_T_over_eps, linear_T_over_eps",
        "coverage": "p, H, coverage = 1 - (1-p)^H",
        "synthetic_distance": "L, N, rep, d_sum, d_norm, d_bound, d_expected_mc, d_expected_main, max_alpha, "
                              "max_norm, sum_norm: one random case (unit vectors, softmax of N(0,1) logits)",
        "distance": "model, chunk, sweep (L|N), layer, head, L, N, d_sum, d_norm, d_bound, d_expected_mc, "
                    "d_expected_main, d_expected_main_mc_rows, n_rows, bound_violations: per-head means over rows",
        "critical_scan": "model, chunk, layer, head, L, N, d_sum, d_expected_mc, d_expected_main (crit_rows rows)",
        "critical_n": "model, L, critical_N, alpha, critical_frac, p_value, n_heads, N_max_scanned",
        "separability": "model, chunk, layer, head, L, N, ratio (N_s/N, mean over rows; model synthetic-sphere = "
                        "control)",
        "gradient": "model, chunk, T, eps, g_max, g_mean, n_heads, T_model (max / mean over heads of the "
                    "token-averaged g)",
        "normalizers": "model, chunk, normalizer, metric (L_max_alpha, support_fraction, d_sum, d_sum_over_L, "
                       "separability), N (0 = none), value",
    }

    # ---- work ----------------------------------------------------------------------------------------------
    def tasks(self, config: SelectivityConfig) -> list[Task]:
        out = [Task(f"synthetic-{t}", {"kind": "synthetic", "part": t}) for t in SYNTHETIC_TASKS]
        for m in config.models:
            for c in range(config.chunks):
                out.append(Task(f"model={_safe(m)}.chunk={c}", {"kind": "model", "model": m, "chunk": c}))
        # heavy tasks first so that two workers share the load
        return sorted(out, key=lambda t: (t.params["kind"] != "model" or t.params.get("model") != "smollm2"))

    def run_task(self, config: SelectivityConfig, task: Task) -> dict[str, pd.DataFrame]:
        import torch

        from . import synthetic as S
        from .realmodel import run_model_task

        torch.manual_seed(config.seed)
        p = task.params
        if p["kind"] == "model":
            return run_model_task(config, p["model"], int(p["chunk"]))
        part = p["part"]
        if part == "lemma1":
            return {"lemma1": S.lemma1_table(config)}
        if part == "jacobian":
            return {"jacobian": S.jacobian_table(config), "sqrt5": S.sqrt5_table(config),
                    "coverage": S.coverage_table()}
        if part == "distance":
            return {"synthetic_distance": S.distance_table(config)}
        if part == "separability-gradient":
            return {"separability": S.separability_table(config), "gradient": S.gradient_table(config)}
        raise ValueError(f"unknown task {task.key}")

    def finalize(self, config: SelectivityConfig, tables):
        tables = dict(tables)
        tables["critical_n"] = critical_n_table(tables.get("critical_scan"), config.ks_alphas,
                                                 config.critical_expectation)
        return tables

    def claims(self):
        from .claims import CLAIMS

        return list(CLAIMS)

    def figures(self, tables, config, outdir):
        from .figures import make_figures

        return make_figures(tables, config, outdir)

    def benchmark(self, quick: bool = False):
        from .bench import bench_selectivity

        return bench_selectivity(quick)


    def normalization_matrix(self, normalization: str, scale: str = "smoke"):
        from .matrix import matrix_metrics

        return matrix_metrics(normalization, scale)
