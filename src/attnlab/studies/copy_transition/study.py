"""The copy-transition study object: tasks, finalize (analysis.py), claims, figures (docs/extending.md)."""
from __future__ import annotations

from pathlib import Path

from ...study import Study, Task
from . import analysis
from .config import PRESETS, CopyTransitionConfig
from .experiments import EXPERIMENTS

TABLES_DOC = {
    "transition": "attention, L, V, kappa, sigma_w2, sigma_a2, boundary, ansatz, P_star, P_spinodal_low, "
                  "P_spinodal_high, P_c, P_cross (softmax: steepest rise of m; = P* with a window), P_map (linear: "
                  "joint-MAP onset kappa V), m_low, m_high, residual_low, residual_high (the two minima at P*); "
                  "derived: jump_m, jump_residual, has_window, P_star_over_L, P_star_over_L_ln2L - one row per "
                  "(attention, L)",
    "theory_curve": "attention, L, P, a, m, q, residual, n_minima, b2 (linear: background variance; NaN for softmax) "
                    "- the global minimizer of the ansatz action on a log grid of P",
    "linear_onset": "L, P, P_minus_Pc, a - the linear minimizer just above P_c, for the exponent fit",
    "landscape": "attention, L, P, P_over_ref, a, F (F - min F; linear: profile over b2) - around P* / P_c",
    "theory_variants": "L, boundary (cyclic | causal), ansatz (one_parameter | shift_invariant | per_row), P_star, "
                       "P_spinodal_low, P_spinodal_high, P_cross, has_window - softmax theory under each variant",
    "sampling": "method (mala, langevin, adam), init (uniform, copy), attention, L, P, seed, m, q, residual, "
                "logit_gap, test_mse, m_sd, n_samples, accept, split_rhat, m_theory, residual_theory, "
                "barrier_uniform, barrier_copy - one row per chain / run (means over its recorded samples; Adam: "
                "final values; linear: m and logit_gap sign-folded, the action being even in a; *_theory: the "
                "theory's global minimizer at that P; barrier_*: F(saddle) - F(minimum) in nats inside the window)",
    "traces": "method, attention, init, L, P, seed, step, m, residual, test_mse, loss (Adam train MSE per "
              "target; NaN for samplers) - per recorded step",
    "free_energy_windows": "L, seed, P, center, k, G_mean, G_se, accept - restrained MALA per umbrella window "
                           "(gap G = mean copy logit - mean other logit; restraint k/2 (G - center)^2)",
    "free_energy": "L, seed, P, P_over_theory, dF (F_copy - F_uniform, nats), G_top, barrier (profile maximum - "
                   "uniform minimum) - per nested data set and P, from umbrella integration",
    "pstar_sampling": "L, P_star_theory, P_star_sampled (mean over data sets of the root of the line dF(P)), se, "
                      "low, high (mean +- Z se, 99 %), n_seeds, rel_diff",
    "sampling_summary": "method, attention, L, P, init, n, m, m_se, residual, residual_se, m_theory, residual_theory, "
                        "barrier_uniform, barrier_copy, P_over_ref - mean and standard error over chains / seeds",
    "hysteresis": "L, P, P_over_ref, d (copy - uniform start in <m>), se, inside (1 = in the theory's window), "
                  "barrier_min (nats), used (inside with barrier >= 10 nats)",
    "onset_fit": "L, P_c, n_points, beta, beta_se, beta_low, beta_high (99 %), single_minimum, monotone, final_ratio "
                 "- linear exponent fit a ~ (P - P_c)^beta and the crossover",
    "scaling": "L, P_star, P_c, P_star_over_L, P_star_over_L_ln2L, leading_order (kappa/(4 sigma_a2)), "
               "ratio_to_leading, Pstar_over_Pc",
    "fits": "fit (lnL_exponent_all, lnL_exponent_upper: k in P*/L ~ (ln L)^k over all L / the upper half; "
            "onset_order_k: P*/P_c ~ (ln L)^k; spread_ratio: log-spread of P*/(L ln^2 L) over that of P*/L, in "
            "slope), slope, se, low, high (99 %), n, L_min, L_max",
    "adam_jumps": "attention, L, seed, step (largest step of final m between consecutive P), ratio (to the "
                  "second-largest), P_jump, bound (largest ratio a square-root onset gives on the grid)",
    "adam_linear": "L, P, P_map, P_over_map, m, m_se (over seeds), m_map (joint-MAP copy mode sqrt((V/L)(1 - "
                   "P_map/P)))",
    "precursor": "source (theory, mala), attention, L, P, R, R_se - softmax: rise of m below P* as a fraction of "
                 "the jump; linear: m at the half-done crossover as a fraction of m at m^2/q = 0.9",
    "variant_summary": "L, P_star, P_star_shift_invariant, rel_diff, causal_has_window, causal_P_star, "
                       "causal_P_cross, causal_window_low, causal_window_high, causal_si_has_window, "
                       "causal_rows_has_window, causal_rows_P_star, causal_rows_P_cross (per-row ansatz; NaN above "
                       "variant_rows_max_L)",
}


class CopyTransitionStudy(Study):
    name = "copy-transition"
    title = "Bayesian theory of copy-head emergence: first-order (softmax) vs second-order (linear) transition"
    paper = "arXiv 2606.12058"
    summary = ("One attention head learns the shift-by-one copy task through a phase transition in the number "
               "of training sequences P: first order for softmax (coexisting minima, a jump at the Maxwell point "
               "P* ~ L ln^2 L), second order then a crossover for linear attention (onset at P_c ~ kappa L, "
               "exponent 1/2). Theory: the closed-form posterior over the logit matrix with the readout "
               "integrated out, reduced to order parameters (reconstruction). Simulations: reduced-posterior "
               "MALA from both starts, full-network Langevin and Adam.")
    config_cls = CopyTransitionConfig
    presets = PRESETS
    default_preset = "quick"
    tables_doc = TABLES_DOC
    docs = "docs/studies/copy-transition.md"
    experiments = EXPERIMENTS
    package = "attnlab.studies.copy_transition"

    def tasks(self, config):
        """Fine tasks, so that two workers share the load and a stopped run resumes with little lost: MALA per
        (attention, L, block of `sample_block` P values at sample_L, one P at a hysteresis L), umbrella integration per (L, data set), Langevin per
        (attention, block of P), Adam per attention, theory per (attention, L), theory variants per L.  The
        long ones first (longest expected first within a kind)."""
        from .experiments import blocks, mala_blocks, sample_Ps
        out = []
        if "softmax" in config.attentions:
            for L in sorted(set(config.fe_Ls), reverse=True):
                for s in range(config.fe_seeds):
                    out.append(Task.of("free_energy", f"free-energy-L{L}-s{s}", L=L, seed=s))
        Ls = sorted({config.sample_L, *config.hysteresis_Ls}, reverse=True)
        for L in Ls:
            for att in config.attentions:
                for b in range(len(mala_blocks(config, att, L))):
                    out.append(Task.of("mala", f"mala-{att}-L{L}-b{b}", attention=att, L=L, block=b))
        for att in config.attentions:
            n = len(blocks(sample_Ps(config, att, config.langevin_factors), config.sample_block))
            for b in range(n):
                out.append(Task.of("langevin", f"langevin-{att}-b{b}", attention=att, block=b))
            out.append(Task.of("adam", f"adam-{att}", attention=att))
        if "softmax" in config.attentions:
            for L in sorted(set(config.variant_Ls), reverse=True):
                out.append(Task.of("theory_variants", f"variants-L{L}", L=L))
        Ls = sorted(set(config.theory_Ls) | {config.sample_L} | set(config.hysteresis_Ls), reverse=True)
        for L in Ls:
            for att in config.attentions:
                out.append(Task.of("theory", f"theory-{att}-L{L}", attention=att, L=L))
        return out

    def finalize(self, config, tables):
        return analysis.derive(config, tables)

    def claims(self):
        from .claims import CLAIMS
        return CLAIMS

    def figures(self, tables, config, outdir: Path):
        from .figures import make_figures
        return make_figures(tables, config, Path(outdir))

    def benchmark(self, quick: bool = False):
        from .bench import benchmark
        return benchmark(quick)

    def normalization_matrix(self, normalization: str, scale: str = "smoke"):
        from .matrix import normalization_matrix
        return normalization_matrix(normalization, scale)


STUDY = CopyTransitionStudy()
