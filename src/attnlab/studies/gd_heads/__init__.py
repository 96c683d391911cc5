"""gd-heads: optimization and generalization of single-layer multi-head attention trained by full-batch GD
(Deora, Ghaderi, Taheri, Thrampoulidis, arXiv 2310.12680).  See docs/studies/gd-heads.md."""
from __future__ import annotations

from pathlib import Path

from ...study import Study, Task
from .config import PRESETS, GDHeadsConfig


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
                          "G_max, gamma, stability_proxy, monotone: protocol fixed_K (claim 9) or K_prop_n (claim 10); gamma = NTK "
                          "margin of the training set at theta0",
    }

    # ---- tasks --------------------------------------------------------------------------------------------
    def tasks(self, config: GDHeadsConfig) -> list[Task]:
        t: list[Task] = []
        for s in range(config.seeds):
            for eta in config.etas:
                t.append(Task(f"rates-eta{eta:g}-s{s}", {"kind": "rates", "eta": eta, "seed": s}))
        for H in sorted(config.H_wc, reverse=True):
            for s in range(config.seeds):
                t.append(Task(f"wc-H{H}-s{s}", {"kind": "wc", "H": H, "seed": s}))
        for n in sorted(config.ns, reverse=True):
            for s in range(config.gen_seeds):
                t.append(Task(f"gen-n{n}-s{s}", {"kind": "gen", "n": n, "seed": s, "protocol": "fixed_K"}))
            for s in range(config.testrate_seeds):
                t.append(Task(f"testrate-n{n}-s{s}", {"kind": "gen", "n": n, "seed": s, "protocol": "K_prop_n"}))
        for H in sorted(config.H_lazy, reverse=True):
            for s in range(config.seeds):
                t.append(Task(f"lazy-H{H}-s{s}", {"kind": "lazy", "H": H, "seed": s}))
        for H in sorted(config.H_ntk, reverse=True):
            for z in config.zetas:
                for s in range(config.seeds):
                    t.append(Task(f"ntk-H{H}-z{z:g}-s{s}", {"kind": "ntk", "H": H, "zeta": z, "seed": s}))
        for W0 in config.W0_curv:
            for H in sorted(config.H_curv, reverse=True):
                t.append(Task(f"curv-W{W0:g}-H{H}", {"kind": "curv", "H": H, "W0": W0}))
        return t

    def run_task(self, config: GDHeadsConfig, task: Task):
        import torch

        p = task.params
        # the tensors are small (n * H * T * T ~ 1e5): intra-op threads only add synchronization, so each task
        # runs on one thread (as the local pool's workers do), also when the runner executes serially
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._run(config, p)
        finally:
            torch.set_num_threads(threads)

    def _run(self, config, p):
        import torch

        from . import experiments as E

        with torch.device(config.device) if config.device != "cpu" else _null():
            if p["kind"] == "curv":
                return E.curvature_vs_heads(config, p["H"], p["W0"])
            if p["kind"] == "wc":
                return E.weak_convexity(config, p["H"], p["seed"])
            if p["kind"] == "rates":
                return E.rates(config, p["eta"], p["seed"])
            if p["kind"] == "lazy":
                return E.lazy(config, p["H"], p["seed"])
            if p["kind"] == "ntk":
                return E.ntk(config, p["H"], p["zeta"], p["seed"])
            if p["kind"] == "gen":
                return E.generalization(config, p["n"], p["seed"], p["protocol"])
        raise ValueError(f"unknown task kind {p['kind']!r}")

    # ---- claims, figures, bench, matrix ----------------------------------------------------------------------
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


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


STUDY = GDHeadsStudy()
