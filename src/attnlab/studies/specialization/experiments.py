"""The study's experiments: each task's work, from config + task params to tidy tables.

Experiments (brief sections 4-6; designs and sizes are ours [reconstruction]):
  activations  teacher-aligned risks vs nu (flipped spike F=1, H=2, Delta=0), and the one-hot setting
  plateau      SGD at several D (flipped spike, mu=0) -> exit times vs log D; ODE at ode_D
  ode          the overlap ODE (finite lr; gradient flow at ode_D) from a replica's own initial overlaps, at each D
  variance     Gaussian theta, sigma=(1, 0.5): which feature is learned first; the ODE from replicas' inits and
               the stability of the unspecialized and one-feature states along each feature (table `stability`)
  split        flipped spike mu=0: 2/2 split of 4 heads, excursions through 3/1
  train        F=2 flipped spike, train_H heads, per activation: final risk and pruning curve
  split_stability  the split experiment's ODE: is the uneven split (H-1)/1 a stable state, per student
               (fixed N_h = 1/H, fixed N_h = 1, tied; :mod:`split_stability`)
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ... import rng
from ...study import Experiments
from .config import SpecializationConfig
from .data import Prior
from .models import attention
from .theory import (FieldSampler, aligned_errors, bayes_softmax_construction, drift, fit_aligned, growth_rate,
                     integrate_ode, mirrored, mirrored_each, posterior_mean, project_out, risk)
from .train import SGDSetup, init_weights, order_parameters, run_sgd

# ---- priors of the experiments -------------------------------------------------------------------------
FLIP1 = Prior.flipped((0.0,), (1.0,), 0.5)                 # theta = +-1, F = 1
FLIP2 = Prior.flipped((1.0, 0.0), (0.0, 1.0), 0.5)         # theta = (1, +-1), F = 2
ONEHOT = Prior.discrete(((1.0, 0.0), (0.0, 1.0)), (0.5, 0.5))


def variance_prior(cfg: SpecializationConfig) -> Prior:
    return Prior.gaussian((0.0,) * len(cfg.variance_sigma), cfg.variance_sigma)


def replica_seeds(cfg: SpecializationConfig, experiment: str, n: int, D: int) -> list[int]:
    """Init seeds of the replicas (replica r of an experiment at dimension D), from :mod:`attnlab.rng`."""
    return [rng.derive_seed(cfg.seed, experiment, "init", D, r) for r in range(n)]


# ---- long-format dynamics rows --------------------------------------------------------------------------
def dynamics_rows(t, risk_, A, Q, b, H: int, F: int, meta: dict) -> pd.DataFrame:
    """Long table from trajectories of one replica: t (nt,), risk (nt,), A (nt, 2H, T), Q (nt, 2H, 2H),
    b (nt, H).  Names: M (head, feature) = k_h.k*_f/D; N (head, feature=0) = v_h.v*/D (first value
    coordinate); Rkk (head) = |k_h|^2/D; Pvv (head) = |v_h|^2/D; b (head) = logit bias."""
    nt = len(t)
    heads = np.arange(H)
    parts = []

    def add(name, vals, head, feature):                      # vals (nt, n)
        n = vals.shape[1]
        parts.append(pd.DataFrame(dict(
            t=np.repeat(t, n), risk=np.repeat(risk_, n), name=name,
            head=np.tile(head, nt), feature=np.tile(feature, nt), value=vals.reshape(-1))))

    add("M", A[:, :H, :F].reshape(nt, H * F), np.repeat(heads, F), np.tile(np.arange(F), H))
    add("N", A[:, H:, F], heads, np.zeros(H, int))
    add("Rkk", np.diagonal(Q, axis1=1, axis2=2)[:, :H], heads, np.full(H, -1))
    add("Pvv", np.diagonal(Q, axis1=1, axis2=2)[:, H:], heads, np.full(H, -1))
    add("b", b, heads, np.full(H, -1))
    df = pd.concat(parts, ignore_index=True)
    for k, v in meta.items():
        df[k] = v
    return df


def _sgd_tables(cfg, experiment, setup: SGDSetup, n_seeds: int, horizon: float) -> tuple[pd.DataFrame, object]:
    seeds = replica_seeds(cfg, experiment, n_seeds, setup.D)
    log = run_sgd(setup, seeds, horizon, cfg.log_dt, data_seed=rng.derive_seed(cfg.seed, experiment, "data", setup.D,
                                                                      setup.activation))
    frames = [dynamics_rows(log.t, log.risk[r], log.A[r], log.Q[r], log.b[r], setup.H, setup.prior.F,
                            dict(experiment=experiment, source="sgd", activation=setup.activation,
                                 D=setup.D, seed=r, nu=setup.nu, H=setup.H))
              for r in range(n_seeds)]
    return pd.concat(frames, ignore_index=True), log


def _ode_kw(cfg) -> dict:
    """The ODE follows the student's values and the bias's learning rate."""
    return dict(values=cfg.student_values, lr_bias=cfg.lr_bias_ratio * cfg.lr)


def setup_for(cfg, prior, D, H, nu, activation) -> SGDSetup:
    return SGDSetup(D=D, L=cfg.L, H=H, prior=prior, nu=nu, noise=cfg.noise, lr=cfg.lr, activation=activation,
                    location_law=cfg.location_law, value_mode=cfg.value_mode, init_scale=cfg.init_scale,
                    dtype=cfg.dtype, device=cfg.device, student_values=cfg.student_values,
                    fixed_value=cfg.fixed_value, lr_bias=cfg.lr_bias_ratio * cfg.lr, lr_tau=cfg.lr_tau)


# ---- experiments ----------------------------------------------------------------------------------------
def run_activations(cfg: SpecializationConfig, nu: float, setting: str) -> dict:
    """Teacher-aligned risks at one nu: Bayes risk, the Bayes-softmax construction, and the best aligned
    softmax / softmax1_nobias / softmax1 (with a learned sink logit; fit on independent samples, evaluated on the test samples).

    setting "flipped": F=1, theta=+-1, H=2 keys +-beta k*.  setting "onehot": theta in {e1, e2}, H=2 keys
    beta e_h, plus the unspecialized softmax (both keys beta (k*_1 + k*_2)/sqrt 2).  Delta = 0, shared value;
    the aligned students' values follow student_values (fixed: N_h = value0, tied: one common scale >= 0,
    free: per-head least squares).  The Bayes-softmax construction has v_h = v* (N_h = 1) in every mode."""
    prior = FLIP1 if setting == "flipped" else ONEHOT
    F, N = prior.F, cfg.act_samples
    test = FieldSampler(prior, nu, cfg.L, 0.0, N, rng.derive_seed(cfg.seed, "act-test", setting, nu)).fields
    fit = FieldSampler(prior, nu, cfg.L, 0.0, max(N // 2, 1000), rng.derive_seed(cfg.seed, "act-fit", setting, nu)).fields
    e_bayes = (posterior_mean(test, prior, nu) - test.y) ** 2
    A, Q, b = bayes_softmax_construction(prior, nu)
    omega = test.u @ A.T                                           # (N, L, 2H): no orthogonal part
    H = A.shape[0] // 2
    sig = attention(omega[..., :H], "bayes_softmax", b.expand(N, H))
    e_bs = ((sig * omega[..., H:]).sum((-2, -1)) - test.y) ** 2
    errs = {"bayes": (e_bayes, math.nan, math.nan), "bayes_softmax": (e_bs, math.sqrt(nu), math.nan)}
    pts, _ = prior.support()
    keys_dir = pts / pts.norm(dim=1, keepdim=True)                 # (H, F) unit key directions
    beta_grid = np.arange(0.0, 6.01, 0.5)            # coarse grid, then Nelder-Mead (act_refine)
    bias_grid = np.arange(-4.0, 12.01, 1.0)          # softmax1's sink logit b: e^chi / (e^b + sum e^chi)
    variants = [("softmax", keys_dir, None), ("softmax1_nobias", keys_dir, None), ("softmax1", keys_dir, bias_grid)]
    if setting == "onehot":
        variants.append(("softmax_unspecialized", torch.full((2, F), 1.0 / math.sqrt(F), dtype=torch.float64), None))
    for name, kd, bg in variants:
        act = "softmax" if name == "softmax_unspecialized" else name
        v0 = SGDSetup(D=8, L=cfg.L, H=kd.shape[0], prior=prior, nu=nu, noise=0.0, lr=cfg.lr, activation=act,
                      student_values=cfg.student_values, fixed_value=cfg.fixed_value).value0()
        best = fit_aligned(fit, kd, act, F, "shared", beta_grid, bg, refine=cfg.act_refine,
                           values=cfg.student_values, value0=v0)
        e = aligned_errors(test, best["beta"] * kd, act, best["bias"], best["a"], F, "shared")
        errs[name] = (e, best["beta"], math.nan if best["bias"] is None else best["bias"])
    rows = []
    sq = math.sqrt(N)
    for name, (e, beta, bias) in errs.items():
        d = e - e_bayes
        rows.append(dict(prior=setting, nu=nu, L=cfg.L, H=2, noise=0.0, activation=name,
                         risk=float(e.mean()), stderr=float(e.std() / sq), excess=float(d.mean()),
                         excess_stderr=float(d.std() / sq), beta=beta, bias=bias, samples=N))
    return {"activations": pd.DataFrame(rows)}


def run_plateau(cfg: SpecializationConfig, D: int, first: int, count: int) -> dict:
    """Plateau replicas first..first+count-1 at dimension D (their inits do not depend on the grouping)."""
    setup = setup_for(cfg, FLIP1, D, cfg.H, cfg.nu, "softmax")
    seeds = replica_seeds(cfg, "plateau", cfg.plateau_seeds, D)[first:first + count]
    log = run_sgd(setup, seeds, cfg.plateau_horizon, cfg.log_dt, data_seed=rng.derive_seed(cfg.seed, "plateau", "data", D, first))
    frames = [dynamics_rows(log.t, log.risk[r], log.A[r], log.Q[r], log.b[r], cfg.H, 1,
                            dict(experiment="plateau", source="sgd", activation="softmax", D=D, seed=first + r,
                                 nu=cfg.nu, H=cfg.H))
              for r in range(len(seeds))]
    return {"dynamics": pd.concat(frames, ignore_index=True)}


def run_small_lr(cfg: SpecializationConfig) -> dict:
    """The plateau experiment at D = ode_D with a small learning rate small_lr (the eta -> 0 side of the
    gradient-flow limit), from the inits of the first ode_seeds plateau replicas, up to the same gradient-flow
    time tau = lr t as the plateau runs (horizon plateau_horizon * lr / small_lr); experiment "plateau_small_lr",
    with its lr in the `lr` column (the plateau rows' lr is cfg.lr)."""
    import dataclasses

    D = cfg.ode_D
    setup = dataclasses.replace(setup_for(cfg, FLIP1, D, cfg.H, cfg.nu, "softmax"), lr=cfg.small_lr,
                                lr_bias=cfg.lr_bias_ratio * cfg.small_lr)
    seeds = replica_seeds(cfg, "plateau", cfg.plateau_seeds, D)[:cfg.ode_seeds]
    horizon = cfg.plateau_horizon * cfg.lr / cfg.small_lr
    log_dt = cfg.log_dt * cfg.lr / cfg.small_lr
    log = run_sgd(setup, seeds, horizon, log_dt, data_seed=rng.derive_seed(cfg.seed, "plateau_small_lr", "data", D))
    frames = [dynamics_rows(log.t, log.risk[r], log.A[r], log.Q[r], log.b[r], cfg.H, 1,
                            dict(experiment="plateau_small_lr", source="sgd", activation="softmax", D=D, seed=r,
                                 nu=cfg.nu, H=cfg.H, lr=cfg.small_lr))
              for r in range(len(seeds))]
    return {"dynamics": pd.concat(frames, ignore_index=True)}


def run_ode(cfg: SpecializationConfig, D: int, seed_index: int, gradient_flow: bool = False) -> dict:
    """The overlap ODE from the initial overlaps of plateau replica `seed_index` at dimension D: source "ode"
    (finite lr, with the lr^2 noise term) and, if gradient_flow, also "gradient_flow" (without it), both on
    the t axis.  Drifts by MC over ode_samples antithetic samples (:func:`theory.mirrored`; value_mode
    "shared"), a fresh sample set per (D, replica) so that the MC error averages out over replicas."""
    setup = setup_for(cfg, FLIP1, D, cfg.H, cfg.nu, "softmax")
    seeds = replica_seeds(cfg, "plateau", cfg.plateau_seeds, D)
    W, b = init_weights(setup, [seeds[seed_index]])
    A0, Q0 = order_parameters(W, setup.T)
    anti = cfg.value_mode == "shared"
    fs = FieldSampler(FLIP1, cfg.nu, cfg.L, cfg.noise, cfg.ode_samples // 2 if anti else cfg.ode_samples,
                      rng.derive_seed(cfg.seed, "ode-mc", D, seed_index), H=cfg.H, location_law=cfg.location_law,
                      value_mode=cfg.value_mode).fields
    if anti:
        fs = mirrored(fs, FLIP1.F)
    frames = []
    for source, noise_term in (("ode", True), ("gradient_flow", False))[:2 if gradient_flow else 1]:
        out = integrate_ode(fs, A0[0], Q0[0], b[0].double(), "softmax", cfg.lr, cfg.plateau_horizon, cfg.ode_dt,
                            cfg.log_dt, sgd_noise=noise_term, **_ode_kw(cfg))
        frames.append(dynamics_rows(out["t"], out["risk"], out["A"], out["Q"], out["b"], cfg.H, 1,
                                    dict(experiment="plateau", source=source, activation="softmax", D=D,
                                         seed=seed_index, nu=cfg.nu, H=cfg.H)))
    return {"dynamics": pd.concat(frames, ignore_index=True)}


def run_variance(cfg: SpecializationConfig, activation: str, H: int) -> dict:
    setup = setup_for(cfg, variance_prior(cfg), cfg.D, H, cfg.variance_nu, activation)
    df, _ = _sgd_tables(cfg, f"variance-H={H}" if H != cfg.H else "variance", setup, cfg.seeds, cfg.variance_horizon)
    df["experiment"] = "variance"
    return {"dynamics": df}


def first_passage(t: np.ndarray, A: np.ndarray, H: int, feature: int, thr: float = 0.5) -> float:
    """First t with max_h |A[:, h, feature]| > thr on a logged trajectory A (nt, 2H, T); NaN if never."""
    hit = np.abs(A[:, :H, feature]).max(1) > thr
    return float(t[np.argmax(hit)]) if hit.any() else math.nan


def run_variance_ode(cfg: SpecializationConfig, activation: str, seed_index: int, H: int | None = None) -> dict:
    """The variance experiment's theory, from the initial overlaps of variance replica `seed_index` [reconstruction]:

    * the finite-lr ODE up to variance_ode_horizon (dynamics rows, source "ode"), on a sample set mirrored in
      each feature separately (:func:`theory.mirrored_each`), so that a feature's overlaps grow only through
      the instability of the state, never through MC error;
    * table `stability`: the growth rate lam (top eigenvalue of the feature block's Jacobian,
      :func:`theory.feature_jacobian`, from stability_samples fresh samples in 4 batches -> lam_se) of
      - point "plateau": the ODE state at half its first-stage time, every feature projected out, for each
        feature (the unspecialized saddle: which feature is the more unstable);
      - point "one_feature": the ODE state at its first-stage time (feature 0 reached), the other features
        projected out, then relaxed for variance_relax time units inside that subspace (the one-feature fixed
        point), for each other feature; residual = max |drift| left there;
      with the ODE's own first passages t1_ode, t2_ode (NaN: not within variance_ode_horizon) and, where the
      ODE did not reach feature f but lam > 0, t2_pred = t_end + log(0.5 / max_h |M_hf(t_end)|) / lam."""
    if cfg.value_mode != "shared":              # the Study schedules no such task then (claim 5 undecided)
        raise ValueError("the variance ODE's per-feature antithetic sampling needs value_mode=shared")
    prior = variance_prior(cfg)
    H = cfg.H if H is None else int(H)
    F = prior.F
    setup = setup_for(cfg, prior, cfg.D, H, cfg.variance_nu, activation)
    seeds = replica_seeds(cfg, f"variance-H={H}" if H != cfg.H else "variance", cfg.seeds, cfg.D)
    W, b = init_weights(setup, [seeds[seed_index]])
    A0, Q0 = order_parameters(W, setup.T)
    copies = 2 ** F
    mc = lambda n, tag, k=0: mirrored_each(FieldSampler(prior, cfg.variance_nu, cfg.L, cfg.noise, max(n // copies, 1),
                                                        rng.derive_seed(cfg.seed, tag, activation, cfg.D, H, seed_index, k), H=H,
                                                        location_law=cfg.location_law).fields, range(F))
    fs = mc(cfg.ode_samples, "variance-ode-mc")
    batches = [mc(cfg.stability_samples // 4, "variance-stability-mc", k) for k in range(4)]
    out = integrate_ode(fs, A0[0], Q0[0], b[0].double(), activation, cfg.lr, cfg.variance_ode_horizon,
                        cfg.variance_ode_dt, cfg.log_dt, **_ode_kw(cfg))
    meta = dict(experiment="variance", source="ode", activation=activation, D=cfg.D, seed=seed_index,
                nu=cfg.variance_nu, H=H)
    dyn = dynamics_rows(out["t"], out["risk"], out["A"], out["Q"], out["b"], H, F, meta)
    t, A, Qs, bs = out["t"], out["A"], out["Q"], out["b"]
    t1 = first_passage(t, A, H, 0)
    rows = []
    base = dict(experiment="variance", activation=activation, D=cfg.D, seed=seed_index, nu=cfg.variance_nu, H=H,
                t1_ode=t1, ode_horizon=float(t[-1]))
    # the unspecialized saddle, at half the first-stage time
    k = int(np.searchsorted(t, (t1 if np.isfinite(t1) else t[-1]) / 2))
    Ap, Qp = project_out(torch.as_tensor(A[k]), torch.as_tensor(Qs[k]), range(F))
    bp = torch.as_tensor(bs[k])
    for f in range(F):
        g = growth_rate(batches, Ap, Qp, bp, activation, cfg.lr, f, values=cfg.student_values)
        rows.append(dict(base, point="plateau", feature=f, t=float(t[k]), relax=0.0, residual=math.nan,
                         m_other=0.0, t2_ode=first_passage(t, A, H, f), t2_pred=math.nan, **g))
    # the one-feature state: feature 0 learned, the others projected out and relaxed
    if np.isfinite(t1):
        k = int(np.searchsorted(t, t1))
        others = range(1, F)
        A1, Q1 = project_out(torch.as_tensor(A[k]), torch.as_tensor(Qs[k]), others)
        rel = integrate_ode(fs, A1, Q1, torch.as_tensor(bs[k]), activation, cfg.lr, cfg.variance_relax,
                            cfg.variance_ode_dt, cfg.variance_relax, **_ode_kw(cfg))
        A1, Q1, b1 = (torch.as_tensor(rel[x][-1]) for x in ("A", "Q", "b"))
        dA, dQ, db, _ = drift(fs, A1, Q1, b1, activation, cfg.lr, **_ode_kw(cfg))
        residual = float(max(dA.abs().max(), dQ.abs().max(), db.abs().max() if db.numel() else 0.0))
        for f in others:
            g = growth_rate(batches, A1, Q1, b1, activation, cfg.lr, f, values=cfg.student_values)
            t2 = first_passage(t, A, H, f)
            m_end = float(np.abs(A[-1, :H, f]).max())
            pred = (float(t[-1] + math.log(0.5 / max(m_end, 1e-300)) / g["lam"])
                    if not np.isfinite(t2) and g["lam"] > 0 else math.nan)
            rows.append(dict(base, point="one_feature", feature=f, t=float(t[k]), relax=float(cfg.variance_relax),
                             residual=residual, m_other=float(np.abs(A1[:H, 0]).max()), t2_ode=t2, t2_pred=pred, **g))
    return {"dynamics": dyn, "stability": pd.DataFrame(rows)}


def run_split(cfg: SpecializationConfig) -> dict:
    setup = setup_for(cfg, FLIP1, cfg.D, cfg.H, cfg.nu, "softmax")
    df, _ = _sgd_tables(cfg, "split", setup, cfg.seeds, cfg.split_horizon)
    return {"dynamics": df}


def greedy_prune(fs, A, Q, b, activation: str, H: int) -> list[tuple[int, list[int], float, float]]:
    """Greedy pruning by loss [issue 19]: at each step remove the head whose removal raises the population
    risk least (MC on the same samples), no retraining.  Returns [(n_pruned, kept heads, risk, SE)] for
    n_pruned = 0..H-1."""
    keep = list(range(H))
    m, se = risk(fs, A, Q, b, activation)
    out = [(0, list(keep), m, se)]
    for n in range(1, H):
        best = None
        for h in keep:
            k2 = [x for x in keep if x != h]
            Ak, Qk, bk = _keep(A, Q, b, k2)
            r = risk(_subfields(fs, k2, H), Ak, Qk, bk, activation)
            if best is None or r[0] < best[1][0]:
                best = (k2, r)
        keep = best[0]
        out.append((n, list(keep), best[1][0], best[1][1]))
    return out


def _keep(A, Q, b, heads: list[int]):
    H = A.shape[0] // 2
    idx = torch.tensor(heads + [H + h for h in heads], dtype=torch.long)
    return A[idx], Q[idx][:, idx], b[torch.tensor(heads, dtype=torch.long)]


def run_train(cfg: SpecializationConfig, activation: str) -> dict:
    """Train train_H heads on the F=2 flipped spike; final population risk and the pruning curve (heads
    removed greedily by loss, :func:`greedy_prune`, no retraining), each risk by MC over eval_samples fresh
    samples (the same samples for every candidate: common random numbers)."""
    setup = setup_for(cfg, FLIP2, cfg.D, cfg.train_H, cfg.nu, activation)
    df, log = _sgd_tables(cfg, "train", setup, cfg.seeds, cfg.train_horizon)
    fs = FieldSampler(FLIP2, cfg.nu, cfg.L, cfg.noise, cfg.eval_samples, rng.derive_seed(cfg.seed, "eval", activation),
                      H=cfg.train_H, location_law=cfg.location_law, value_mode=cfg.value_mode).fields
    rows = []
    for r in range(cfg.seeds):
        A = torch.as_tensor(log.A[r, -1]); Q = torch.as_tensor(log.Q[r, -1]); b = torch.as_tensor(log.b[r, -1])
        for n_pruned, kept, m, se in greedy_prune(fs, A, Q, b, activation, cfg.train_H):
            rows.append(dict(experiment="train", activation=activation, seed=r, H=cfg.train_H, F=FLIP2.F,
                             n_pruned=n_pruned, kept=",".join(map(str, kept)), risk=m, stderr=se,
                             online_risk=float(log.risk[r, -1]), nu=cfg.nu, D=cfg.D))
    return {"dynamics": df, "pruning": pd.DataFrame(rows)}


def _subfields(fs, keep: list[int], H: int):
    """Fields restricted to the kept heads' orthogonal normals (the kept heads' own g columns)."""
    from .theory import Fields
    idx = torch.tensor(keep + [H + h for h in keep], dtype=torch.long)
    return Fields(fs.theta, fs.eps, fs.u, fs.g[..., idx], fs.y)


def bayes_reference(cfg: SpecializationConfig) -> pd.DataFrame:
    """Bayes risks of the SGD experiments' data (with label noise): E[(y - E[y|X])^2], MC."""
    rows = []
    specs = [("plateau", FLIP1, cfg.nu), ("split", FLIP1, cfg.nu), ("train", FLIP2, cfg.nu),
             ("variance", variance_prior(cfg), cfg.variance_nu)]
    for exp, prior, nu in specs:
        if cfg.location_law != "spiked" and not prior.is_discrete:
            continue
        fs = FieldSampler(prior, nu, cfg.L, cfg.noise, cfg.eval_samples, rng.derive_seed(cfg.seed, "bayes", exp),
                          location_law=cfg.location_law, value_mode=cfg.value_mode).fields
        e = (posterior_mean(fs, prior, nu, cfg.value_mode, cfg.location_law) - fs.y) ** 2
        rows.append(dict(experiment=exp, nu=nu, L=cfg.L, noise=cfg.noise, risk=float(e.mean()),
                         stderr=float(e.std() / math.sqrt(e.numel())), var_y=float(fs.y.var())))
    return pd.DataFrame(rows)


# ---- the experiment registry: one function per task kind --------------------------------------------------
EXPERIMENTS = Experiments()


@EXPERIMENTS.register("activations")
def activations(cfg: SpecializationConfig, p: dict) -> dict:
    return run_activations(cfg, float(p["nu"]), p["setting"])


@EXPERIMENTS.register("plateau")
def plateau(cfg: SpecializationConfig, p: dict) -> dict:
    return run_plateau(cfg, int(p["D"]), int(p["first"]), int(p["count"]))


@EXPERIMENTS.register("small_lr")
def small_lr(cfg: SpecializationConfig, p: dict) -> dict:
    return run_small_lr(cfg)


@EXPERIMENTS.register("ode")
def ode(cfg: SpecializationConfig, p: dict) -> dict:
    return run_ode(cfg, int(p["D"]), int(p["seed_index"]), bool(p.get("gradient_flow", False)))


@EXPERIMENTS.register("variance")
def variance(cfg: SpecializationConfig, p: dict) -> dict:
    return run_variance(cfg, p["activation"], int(p.get("H", cfg.H)))


@EXPERIMENTS.register("variance_ode")
def variance_ode(cfg: SpecializationConfig, p: dict) -> dict:
    return run_variance_ode(cfg, p["activation"], int(p["seed_index"]), int(p.get("H", cfg.H)))


@EXPERIMENTS.register("split")
def split(cfg: SpecializationConfig, p: dict) -> dict:
    return run_split(cfg)


@EXPERIMENTS.register("train")
def train(cfg: SpecializationConfig, p: dict) -> dict:
    return run_train(cfg, p["activation"])


@EXPERIMENTS.register("split_stability")
def split_stability(cfg: SpecializationConfig, p: dict) -> dict:
    from .split_stability import run_split_stability

    return run_split_stability(cfg, p["values"], p["fixed_value"])
