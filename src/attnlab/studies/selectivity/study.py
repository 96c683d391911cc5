"""The selectivity Study object: tasks (synthetic checks; one task per pretrained model and text chunk), the
experiment registry (experiments.py), finalize (analysis.py: the derived tables), claims, figures, benchmark and
the normalization matrix."""
from __future__ import annotations

import re

from ...study import Study, Task
from .config import PRESETS, SelectivityConfig
from .experiments import EXPERIMENTS

SYNTHETIC_KINDS = ("lemma1", "jacobian", "distance", "separability_gradient")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "-", name)


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
    experiments = EXPERIMENTS
    package = "attnlab.studies.selectivity"
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
                    "d_expected_mc_se, d_expected_main, d_expected_main_mc_rows, n_rows, bound_violations: per-head "
                    "means over rows (d_expected_mc_se: the Monte-Carlo standard error of d_expected_mc)",
        "critical_scan": "model, chunk, layer, head, L, N, d_B, d_A, main_B, main_A (crit_rows rows), d_B_mc_rows, "
                         "d_A_mc_rows, mc_B, mc_A, mc_B_se, mc_A_se (crit_mc_rows rows; grid points only): per-head "
                         "row means, both readings; N: the grid, then the bisection points (critical.py)",
        "critical_tests": "model, L, N, reading, expectation, n_heads, ks_D, ks_p, paired_p, log_ratio, "
                          "log_ratio_se, dz (analysis: KS and paired Wilcoxon test per N, per-head means pooled "
                          "over chunks; effect size mean log(true/expected) +- se, Cohen's d_z)",
        "critical_n_fraction": "model, L, alpha, reading, expectation, test (ks | paired), critical_N, fraction, "
                               "p_value, ks_D, log_ratio, log_ratio_low, log_ratio_high, n_heads, n_chunks, "
                               "N_max_scanned, N_below (largest scanned N below critical_N), resolution "
                               "(critical_N - N_below; 1 after the bisection), decides (analysis; the headline "
                               "table of Fig. 2c)",
        "critical_n": "model, L, critical_N, alpha, critical_frac, p_value, n_heads, N_max_scanned, resolution: the deciding "
                      "reading / expectation / KS rows of critical_n_fraction (analysis)",
        "distance_slope": "model, chunk, layer, head, N, slope, n_L: log-log slope of d~ vs L per head (analysis)",
        "distance_plateau": "model, chunk, layer, head, L, N_lo, N_mid, N_hi, r_late, r_early, diff (analysis)",
        "separability_summary": "model, N, median, mean, se, max, n_heads of N_s/N over heads; lower_mean, "
                                "count_lower_mean, upper_mean (Theorem 2, reconstruction), frac_above_upper (heads "
                                "with N_s/N above the reconstructed upper form) (analysis)",
        "gradient_summary": "model, logits, agg (row_mean | row_max), eps, slope_small_T, slope_low, slope_high, "
                            "g_times_4T, g_at_0_1, g_max_T_ge_1, drop, decides (analysis)",
        "separability": "model, chunk, layer, head, L, N, ratio (N_s/N, mean over rows; model synthetic-sphere = "
                        "control), lower, count_lower, upper (Theorem 2 in our reconstruction, row means), "
                        "bound_violations (rows with N_s below count_lower: 0 by construction), n_rows",
        "gradient": "model, chunk, logits (raw | scaled | probs | synthetic), T, eps, g_max, g_mean, g_rowmax, "
                    "n_heads, n_rows, T_model (max / mean over heads of the token-averaged g; max over heads and rows)",
        "normalizers": "model, chunk, normalizer, metric (L_max_alpha, support_fraction, d_sum, d_sum_over_L, "
                       "separability), N (0 = none), value",
    }

    # ---- work ----------------------------------------------------------------------------------------------
    def tasks(self, config: SelectivityConfig) -> list[Task]:
        out = [Task.of(k, f"synthetic-{k}") for k in SYNTHETIC_KINDS]
        for m in config.models:
            for L in sorted(set(config.Ls), reverse=True):
                out.append(Task.of("critical", f"critical.model={_safe(m)}.L={L}", model=m, L=L))
            for c in range(config.chunks):
                out.append(Task.of("model", f"model={_safe(m)}.chunk={c}", model=m, chunk=c))
        # heavy tasks first so that two workers share the load: the critical scans at large L (cost ~ L^2), then the
        # model tasks, then the critical scans at small L and the synthetic checks
        def cost(t):
            if t.kind == "critical":
                return (t.params["model"] != "smollm2", -t.params["L"] if t.params["L"] >= 256 else 1)
            return (t.params.get("model") != "smollm2", 0 if t.kind == "model" else 2)
        return sorted(out, key=cost)

    def preflight(self, config: SelectivityConfig) -> None:
        """Open and check every model file the run will load (a truncated or random file: exit 2, nothing
        written), see :func:`attnlab.studies.selectivity.pretrained.check_files`."""
        from .pretrained import check_files

        for name in config.models:
            check_files(name)

    def finalize(self, config: SelectivityConfig, tables):
        from .analysis import finalize_tables

        return finalize_tables(config, tables)

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
