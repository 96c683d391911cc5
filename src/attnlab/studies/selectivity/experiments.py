"""The experiment layer of the selectivity study: one registered function per task kind (``EXPERIMENTS``).

Kinds: ``lemma1``, ``jacobian`` (Jacobian, sqrt5 example, coverage arithmetic), ``distance`` (synthetic d~),
``separability_gradient`` (sphere control and synthetic g), ``model`` (one pretrained model on one text
chunk: realmodel.run_model_task) and ``critical`` (the critical-N scan of one model at one L over its chunks,
grid then bisection: critical.run_critical_task).  Every random draw comes from ``attnlab.rng`` keyed by the task's parts.

Synthetic tables (float64; each returns a tidy table, one row per observation):

lemma1:      Lemma 1 / Corollary 1 weight bounds for softmax, F = 1 + sigmoid(l/T), and SSMax.
jacobian:    the softmax Jacobian (closed form vs autograd vs central differences), ||J||_2 T and max diag T.
sqrt5:       the sqrt(5) eps example: ||alpha1 - alpha2|| T / eps against its first-order prediction.
distance:    d~ in both readings, Theorem 1 bound (exact d1), random-set expectation by Monte Carlo and main term.
separability: N_s/N for random unit vectors with random softmax weights (the sphere control of Fig. 3).
gradient:    g(T, eps) on synthetic logits with a controlled top-two gap.
coverage:    1 - (1 - p)^H.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import rng
from ...errors import check_finite
from ...study import Experiments, Tables
from . import metrics as M
from . import theory

DT = torch.float64
EXPERIMENTS = Experiments()


def _unit(shape, gen) -> torch.Tensor:
    z = torch.randn(shape, generator=gen, dtype=DT)
    return z / z.norm(dim=-1, keepdim=True)


def lemma1_table(cfg) -> pd.DataFrame:
    """q unit, keys k_i = rho_i u_i with rho_i ~ U(0, 1), u_i uniform on S^{d-1}: |l_i| <= Delta = max rho."""
    gen = rng.torch_generator(cfg.seed, "synthetic", "lemma1")
    reps = max(2, min(cfg.syn_reps, 8))
    rows = []
    for L in cfg.syn_lemma_Ls:
        u = _unit((reps, L, cfg.syn_d), gen)[..., 0]                    # (reps, L) = <q, u_i>, q = e_1
        rho = torch.rand((reps, L), generator=gen, dtype=DT)
        l = rho * u                                                     # (reps, L) logits q.k_i
        delta = rho.amax(-1)                                            # (reps,) ||q|| max ||k_i||
        for T in cfg.syn_Ts:
            forms = {
                "softmax": torch.softmax(l / T, -1),
                "one_plus_sigmoid": (1 + torch.sigmoid(l / T)) / (1 + torch.sigmoid(l / T)).sum(-1, keepdim=True),
                "ssmax": torch.softmax(np.log(L) * l / T, -1),
            }
            for name, a in forms.items():
                check_finite(f"lemma1 weights ({name})", a)
                for r in range(reps):
                    d = float(delta[r])
                    if name == "softmax":
                        lo, hi = theory.corollary1_bounds(L, d, T)
                        c1, c2 = lo * L, hi * L
                    elif name == "one_plus_sigmoid":
                        c1, c2 = theory.lemma1_constants(lambda x: 1 + 1 / (1 + np.exp(-x / T)), d)
                    else:
                        c1, c2 = float("nan"), float("nan")
                    la_min, la_max = float(a[r].min()) * L, float(a[r].max()) * L
                    within = (la_min >= c1 * (1 - 1e-12) and la_max <= c2 * (1 + 1e-12)) if name != "ssmax" \
                        else None
                    rows.append(dict(normalizer=name, T=T, L=L, rep=r, Delta=d, L_alpha_min=la_min,
                                     L_alpha_max=la_max, max_alpha=float(a[r].max()), C1=c1, C2=c2,
                                     within=within))
    return pd.DataFrame(rows)


def jacobian_table(cfg, Ts=(1e-3, 1e-2, 0.1, 1.0, 10.0), K: int = 16) -> pd.DataFrame:
    """Random logits (N(0,1)) and a tied top two (two logits equal, the rest 1e4 lower)."""
    gen = rng.torch_generator(cfg.seed, "synthetic", "jacobian")
    reps = max(2, min(cfg.syn_reps, 10))
    rand = torch.randn((reps, K), generator=gen, dtype=DT)
    tied = torch.full((reps, K), -1e4, dtype=DT)
    tied[:, :2] = torch.randn((reps, 1), generator=gen, dtype=DT)
    rows = []
    for case, logits in (("random", rand), ("tied_top2", tied)):
        for T in Ts:
            a = torch.softmax(logits / T, -1)
            J = theory.softmax_jacobian(a, T)                             # (reps, K, K)
            Ja = torch.func.vmap(torch.func.jacrev(lambda x: torch.softmax(x / T, -1)))(logits)
            h = 1e-5 * T                                                  # central differences, step ~ T
            eye = torch.eye(K, dtype=DT)
            lp = logits[:, None, :] + h * eye                             # (reps, K_j, K)
            lm = logits[:, None, :] - h * eye
            Jf = ((torch.softmax(lp / T, -1) - torch.softmax(lm / T, -1)) / (2 * h)).transpose(-1, -2)
            spec = torch.linalg.matrix_norm(J, ord=2)                    # (reps,)
            diag = torch.diagonal(J, dim1=-2, dim2=-1).amax(-1)
            for r in range(reps):
                rows.append(dict(T=T, case=case, rep=r, spectral_norm_times_T=float(spec[r]) * T,
                                 diag_max_times_T=float(diag[r]) * T,
                                 autograd_err_times_T=float((Ja[r] - J[r]).abs().max()) * T,
                                 fd_err_times_T=float((Jf[r] - J[r]).abs().max()) * T))
    return pd.DataFrame(rows)


def sqrt5_table(cfg, epss=(1e-4, 1e-3, 1e-2), Ts=(1e-2, 3e-2, 0.1, 0.3, 1.0)) -> pd.DataFrame:
    rows = []
    for eps in epss:
        l1, l2 = (torch.as_tensor(v, dtype=DT) for v in theory.sqrt5_pair(eps))
        for T in Ts:
            a1, a2 = torch.softmax(l1 / T, -1), torch.softmax(l2 / T, -1)
            mid = torch.softmax((l1 + l2) / 2 / T, -1)
            lin = theory.softmax_jacobian(mid, T) @ (l2 - l1)
            rows.append(dict(eps=eps, T=T, logit_distance_over_eps=float((l1 - l2).norm()) / eps,
                             dalpha=float((a1 - a2).norm()), dalpha_T_over_eps=float((a1 - a2).norm()) * T / eps,
                             linear_T_over_eps=float(lin.norm()) * T / eps))
    return pd.DataFrame(rows)


def distance_table(cfg) -> pd.DataFrame:
    """Random unit vectors in R^d, softmax weights of N(0,1) logits (an L-independent logit law)."""
    gen = rng.torch_generator(cfg.seed, "synthetic", "distance")
    reps = cfg.syn_reps
    rows = []
    Ns = sorted(set(cfg.Ns))
    for L in cfg.syn_Ls:
        X = _unit((reps, L, cfg.syn_d), gen)                              # (B=reps, K=L, d)
        alpha = torch.softmax(torch.randn((reps, 1, L), generator=gen, dtype=DT), -1)   # (B, R=1, K)
        valid = torch.ones((1, 1, L), dtype=torch.bool)
        sum_norm = (alpha[:, 0, :, None] * X).norm(dim=-1).sum(-1)       # Corollary 2(i): sum_i ||alpha_i x_i||
        for N in [n for n in Ns if n < L] + [L]:
            if N < L:
                d = M.distance_metrics(alpha, X, valid, N)                # exact d1
                mc = M.mc_distance(alpha, X, valid, N, cfg.syn_mc_subsets, gen)[:, 0]
            else:
                z = torch.zeros(reps, 1, dtype=DT)
                d = dict(d_sum=z, d_norm=(alpha @ X).norm(dim=-1), d_bound=z, d_main=z)   # nothing left out
                mc = z[:, 0]
            for r in range(reps):
                rows.append(dict(L=L, N=N, rep=r, d_sum=float(d["d_sum"][r, 0]), d_norm=float(d["d_norm"][r, 0]),
                                 d_bound=float(d["d_bound"][r, 0]), d_expected_mc=float(mc[r]),
                                 d_expected_main=float(d["d_main"][r, 0]), max_alpha=float(alpha[r].max()),
                                 max_norm=1.0, sum_norm=float(sum_norm[r])))
    return pd.DataFrame(rows)


def separability_table(cfg) -> pd.DataFrame:
    """Sphere control of Fig. 3: unit vectors, softmax of N(0,1) logits, L = sep_L; with Theorem 2's bounds in our
    reconstruction (metrics.separability)."""
    gen = rng.torch_generator(cfg.seed, "synthetic", "separability")
    L, reps = cfg.sep_L, cfg.syn_sep_reps
    X = _unit((reps, L, cfg.syn_d), gen)
    alpha = torch.softmax(torch.randn((reps, 1, L), generator=gen, dtype=DT), -1)
    valid = torch.ones((1, 1, L), dtype=torch.bool)
    rows = []
    for N in cfg.sep_Ns:
        s = {k: v[:, 0] for k, v in M.separability(alpha, X, valid, N, bounds=True).items()}
        rows += [dict(model="synthetic-sphere", chunk=0, layer=0, head=r, L=L, N=N, ratio=float(s["ratio"][r]),
                      lower=float(s["lower"][r]), count_lower=float(s["count_lower"][r]), upper=float(s["upper"][r]),
                      bound_violations=int(s["bound_violation"][r]), n_rows=1)
                 for r in range(reps)]
    return pd.DataFrame(rows)


def gradient_table(cfg, K: int = 64, gaps=(0.0, 1e-2, 1.0)) -> pd.DataFrame:
    """g(T, eps) for N(0,1) logits whose top two are set `gap` apart (model = synthetic-gap=<gap>)."""
    gen = rng.torch_generator(cfg.seed, "synthetic", "gradient")
    reps = cfg.syn_reps
    rows = []
    for gap in gaps:
        l = torch.randn((reps, 1, K), generator=gen, dtype=DT) - 4.0      # the rest, well below the top two
        l[..., 0] = 0.0                                                   # leader
        l[..., 1] = -gap                                                  # runner-up, `gap` below
        valid = torch.ones((1, 1, K), dtype=torch.bool)
        g = M.gradient_sensitivity(l, valid, cfg.grad_Ts, cfg.grad_eps, gen)[..., 0]   # (E, T, reps)
        check_finite("synthetic gradient sensitivity", g)
        for ei, e in enumerate(cfg.grad_eps):
            for ti, T in enumerate(cfg.grad_Ts):
                rows.append(dict(model=f"synthetic-gap={gap:g}", chunk=0, logits="synthetic", T=T, eps=e,
                                 g_max=float(g[ei, ti].max()), g_mean=float(g[ei, ti].mean()),
                                 g_rowmax=float(g[ei, ti].max()), n_heads=reps, n_rows=1, T_model=float("nan")))
    return pd.DataFrame(rows)


def coverage_table(ps=(0.7, 0.75, 0.8, 0.85), Hs=(1, 2, 3, 4)) -> pd.DataFrame:
    return pd.DataFrame([dict(p=p, H=H, coverage=float(theory.multihead_coverage(p, H))) for p in ps for H in Hs])


# ---- the registry: one function per task kind -----------------------------------------------------------------
@EXPERIMENTS.register("lemma1")
def lemma1(config, params) -> Tables:
    return {"lemma1": lemma1_table(config)}


@EXPERIMENTS.register("jacobian")
def jacobian(config, params) -> Tables:
    return {"jacobian": jacobian_table(config), "sqrt5": sqrt5_table(config), "coverage": coverage_table()}


@EXPERIMENTS.register("distance")
def distance(config, params) -> Tables:
    return {"synthetic_distance": distance_table(config)}


@EXPERIMENTS.register("separability_gradient")
def separability_gradient(config, params) -> Tables:
    return {"separability": separability_table(config), "gradient": gradient_table(config)}


@EXPERIMENTS.register("critical")
def critical(config, params) -> Tables:
    """The critical-N scan of one pretrained model at one context length over its text chunks (params: model, L)."""
    from .critical import run_critical_task

    return run_critical_task(config, params["model"], int(params["L"]))


@EXPERIMENTS.register("model")
def model(config, params) -> Tables:
    """One pretrained model on one text chunk (params: model, chunk)."""
    from .realmodel import run_model_task

    return run_model_task(config, params["model"], int(params["chunk"]))
