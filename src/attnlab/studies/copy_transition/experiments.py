"""The experiment layer of copy-transition: one registered function per task kind (``fn(config, params) ->
Tables``).

Kinds: ``theory`` (the ansatz action's minimizer, spinodals, Maxwell point / onset at one (attention, L)),
``mala`` (reduced-posterior MALA from both starts on one block of `sample_block` consecutive P of the sampled
grid at one L), ``langevin`` (full-network Langevin on (S, W), one block of P), ``adam`` (full-batch Adam, the
MAP), ``free_energy`` (umbrella integration on one nested data set), ``theory_variants``.  Every random draw
comes from :mod:`attnlab.rng` keyed by the task's parts: data ("data", attention, L, P, seed) - shared by MALA
and Langevin, the same P sequences -, ("adam-data", attention, L, P, seed), test sequences ("test", L),
sampler noise ("mala", attention, L, "P", *block's P values), ("langevin", attention, L, "P", *block's P values),
("adam", attention).  A task's numbers depend only on the config and its key.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ... import rng
from ...study import Experiments, Tables
from . import theory as th
from .data import sample_tokens, statistics
from .free_energy import restrained_mala
from .models import CopyHeads
from .posterior import Geometry, ReducedPosterior
from .train import adam, langevin, mala

EXPERIMENTS = Experiments()


def hyper(config, L: int) -> th.Hyper:
    """The theory's hyperparameters at sequence length L for this config (boundary: keys per target row)."""
    return th.Hyper(V=config.V, L=L, kappa=config.kappa, sigma_w2=config.sigma_w2, sigma_a2=config.sigma_a2,
                    boundary=config.boundary, ansatz=config.ansatz)


def reference_P(config, attention: str, L: int | None = None) -> float:
    """P_ref of the sampling grids: the theory's P* (softmax; its steepest rise of m when there is no window)
    or P_c (linear) at L (default sample_L); L when the theory finds none."""
    L = config.sample_L if L is None else L
    h = hyper(config, L)
    ref = th.reference_P(th.reference_points(h, attention, config.theory_P_min, config.theory_P_max), attention)
    return ref if math.isfinite(ref) else float(L)


def sample_Ps(config, attention: str, factors, L: int | None = None) -> list[int]:
    """P = round(factor * P_ref) (unique, >= 1)."""
    ref = reference_P(config, attention, L)
    return sorted({max(1, int(round(f * ref))) for f in factors})


def mala_factors(config, attention: str, L: int) -> tuple[float, ...]:
    """The MALA grid at L: sample_factors at sample_L; hysteresis_factors (softmax only) at the extra
    hysteresis_Ls; () otherwise."""
    if L == config.sample_L:
        return tuple(config.sample_factors)
    if attention == "softmax" and L in config.hysteresis_Ls:
        return tuple(config.hysteresis_factors)
    return ()


def blocks(Ps: list[int], size: int) -> list[list[int]]:
    """Consecutive blocks of `size` values of the sorted grid Ps (the last one may be shorter)."""
    return [Ps[i:i + size] for i in range(0, len(Ps), size)]


def mala_blocks(config, attention: str, L: int) -> list[list[int]]:
    """The MALA tasks' P values at L: blocks of `sample_block` at sample_L, one P per task at the hysteresis
    L (at L = 64 a chain-step costs 0.52, 0.61, 0.71 ms with 1, 3, 5 P per task - the statistics, 2 MB per data
    set, fall out of cache -, against 0.25, 0.19, 0.21 ms at L = 32)."""
    size = config.sample_block if L == config.sample_L else 1
    return blocks(sample_Ps(config, attention, mala_factors(config, attention, L), L), size)


def mala_Ps(config, attention: str, L: int, block: int) -> list[int]:
    """The P values of MALA task `block` at L ([] past the last block)."""
    b = mala_blocks(config, attention, L)
    return b[block] if block < len(b) else []


def langevin_Ps(config, attention: str, block: int) -> list[int]:
    """The P values of Langevin task `block` (at sample_L)."""
    b = blocks(sample_Ps(config, attention, config.langevin_factors), config.sample_block)
    return b[block] if block < len(b) else []


def adam_Ps(config, attention: str) -> list[int]:
    """Adam's log grid: softmax around P*; linear around the joint-MAP onset P_MAP (what Adam finds)."""
    f = np.geomspace(config.adam_factor_min, config.adam_factor_max, config.adam_n_P)
    if attention == "linear":
        ref = th.linear_map_onset(hyper(config, config.sample_L))
        return sorted({max(1, int(round(x * ref))) for x in np.geomspace(config.adam_linear_factor_min,
                                                                          config.adam_linear_factor_max,
                                                                          config.adam_n_P)})
    return sample_Ps(config, attention, tuple(f))


def tokens(config, P: int, L: int, *key) -> np.ndarray:
    """(P, L) tokens of the stream (config.seed, *key)."""
    return sample_tokens(P, L, config.V, rng.numpy_rng(config.seed, *key))


def test_statistics(config, L: int):
    """Statistics of n_test fresh sequences (the test set) and their number of targets."""
    C = statistics(tokens(config, config.n_test, L, "test", L), config.V, device=config.device)
    return C, config.n_test * Geometry(L, config.boundary).n_rows


def copy_logit(config, att: str, L: int) -> float:
    """Copy-start logit: config.copy_logit, or 3 ln L (softmax; brief 6.1) / 1 (linear)."""
    if config.copy_logit > 0:
        return config.copy_logit
    return 3 * math.log(L) if att == "softmax" else 1.0


# ---- theory -----------------------------------------------------------------------------------------------
@EXPERIMENTS.register("theory")
def run_theory(config, params) -> Tables:
    att, L = params["attention"], params["L"]
    h = hyper(config, L)
    grid = th.P_grid(h, config.theory_P_min, config.theory_P_max, config.theory_n_P)
    base = dict(attention=att, L=L, V=config.V, kappa=config.kappa, sigma_w2=config.sigma_w2,
                sigma_a2=config.sigma_a2, boundary=config.boundary, ansatz=config.ansatz)
    trans = dict(base, P_star=np.nan, P_spinodal_low=np.nan, P_spinodal_high=np.nan, P_c=np.nan, P_cross=np.nan,
                 m_low=np.nan, m_high=np.nan, residual_low=np.nan, residual_high=np.nan, P_map=np.nan)
    tables = {}
    if att == "softmax":
        res = th.locate_softmax(h, grid)
        for k in ("P_star", "P_spinodal_low", "P_spinodal_high", "P_cross", "m_low", "m_high", "residual_low",
                  "residual_high"):
            trans[k] = res.get(k, np.nan)
        curve = pd.DataFrame(res["rows"]).assign(b2=np.nan)
        ref = res["P_star"] if math.isfinite(res["P_star"]) else res["P_cross"]
    else:
        res = th.locate_linear(h, grid)
        trans["P_c"] = res["P_c"]
        trans["P_map"] = th.linear_map_onset(h)
        curve = pd.DataFrame(res["rows"])
        tables["linear_onset"] = pd.DataFrame(res["onset"], columns=["P", "P_minus_Pc", "a"]).assign(L=L)
        ref = res["P_c"]
    curve = curve.assign(attention=att, L=L)[["attention", "L", "P", "a", "m", "q", "residual", "n_minima", "b2"]]
    tables["transition"] = pd.DataFrame([trans])
    tables["theory_curve"] = curve
    if L == config.sample_L and math.isfinite(ref):
        rows = []
        for f in config.landscape_factors:
            a, F = th.landscape(f * ref, h, att)
            rows.append(pd.DataFrame(dict(attention=att, L=L, P=f * ref, P_over_ref=f, a=a, F=F)))
        tables["landscape"] = pd.concat(rows, ignore_index=True)
    return tables


@EXPERIMENTS.register("theory_variants")
def run_theory_variants(config, params) -> Tables:
    """Softmax P* and window at one L under each boundary and ansatz (the causal mask in the theory, the
    shift-invariant ansatz; the per-row ansatz under the causal mask up to variant_rows_max_L), whatever the
    run's own boundary/ansatz.  Table `theory_variants`."""
    L = params["L"]
    rows = []
    combos = [(b, a) for b in ("cyclic", "causal") for a in ("one_parameter", "shift_invariant")]
    if L <= config.variant_rows_max_L:
        combos.append(("causal", "per_row"))
    for boundary, ansatz in combos:
        h = th.Hyper(V=config.V, L=L, kappa=config.kappa, sigma_w2=config.sigma_w2, sigma_a2=config.sigma_a2,
                     boundary=boundary, ansatz=ansatz)
        ref = th.reference_points(h, "softmax", config.theory_P_min, config.theory_P_max, config.variant_n_P)
        rows.append(dict(L=L, boundary=boundary, ansatz=ansatz, **ref,
                         has_window=float(math.isfinite(ref["P_spinodal_low"]) and math.isfinite(ref["P_spinodal_high"]))))
    return {"theory_variants": pd.DataFrame(rows)}


# ---- reduced-posterior MALA ---------------------------------------------------------------------------------
@EXPERIMENTS.register("mala")
def run_mala(config, params) -> Tables:
    """Reduced-posterior MALA from both starts, `seeds` chains (data sets) per (P, start), on one block of P
    at one L, all chains batched in one tensor program."""
    att, L = params["attention"], params.get("L", config.sample_L)
    block = params["block"]
    V = config.V
    Ps = mala_Ps(config, att, L, block)
    if not Ps:
        return {}
    dev, geo = config.device, Geometry(L, config.boundary, config.device)
    K = config.seeds
    C = torch.stack([statistics(tokens(config, P, L, "data", att, L, P, s), V, device=dev)
                     for P in Ps for s in range(K)])                        # (D, L, L, V, V)
    n = torch.tensor([[P * geo.n_rows] for P in Ps for _ in range(K)], dtype=C.dtype, device=dev)
    post = ReducedPosterior(C, n, att, geo, V, config.kappa, config.sigma_w2, config.sigma_a2)
    S0 = torch.zeros(len(Ps) * K, 2, L, L, dtype=C.dtype, device=dev)      # init 0 = uniform, 1 = copy
    S0[:, 1] = geo.shift.to(C.dtype) * copy_logit(config, att, L)
    gen = rng.torch_generator(config.seed, "mala", att, L, "P", *Ps, device=dev)
    C_test, n_test = test_statistics(config, L)
    out = mala(post, S0, config.mala_burn, config.mala_steps, config.mala_thin, gen, C_test, n_test)
    meta = pd.DataFrame([dict(P=P, seed=s, init=init) for P in Ps for s in range(K) for init in ("uniform", "copy")])
    meta["accept"] = out["accept"]
    return summarize("mala", att, L, pd.DataFrame(out["samples"]), meta)


def summarize(method, att, L, samples: pd.DataFrame, meta: pd.DataFrame) -> Tables:
    """Per-chain means (+ split-R-hat of m over the two halves of the chain) and the trace table."""
    samples = samples.join(meta.drop(columns=[c for c in ("accept",) if c in meta]), on="chain")
    rows = []
    for chain, g in samples.groupby("chain", sort=True):
        g = g.sort_values("step")
        m = g["m"].to_numpy()
        rows.append(dict(chain=chain, m=m.mean(), q=g["q"].mean(), residual=g["residual"].mean(),
                         logit_gap=g["logit_gap"].mean(), test_mse=g["test_mse"].mean(),
                         m_sd=m.std(ddof=1) if len(m) > 1 else np.nan, n_samples=len(m), split_rhat=split_rhat(m)))
    per = pd.DataFrame(rows).set_index("chain").join(meta).reset_index(drop=True)
    per = per.assign(method=method, attention=att, L=L)
    if att == "linear":  # the action is even in a (the readout absorbs the sign): fold the sign
        sign = np.where(per["m"] < 0, -1.0, 1.0)
        per["m"], per["logit_gap"] = per["m"] * sign, per["logit_gap"] * sign
    if "accept" not in per:
        per["accept"] = np.nan
    sampling = per[["method", "init", "attention", "L", "P", "seed", "m", "q", "residual", "logit_gap",
                    "test_mse", "m_sd", "n_samples", "accept", "split_rhat"]]
    tr = samples.assign(method=method, attention=att, L=L)
    if "loss" not in tr:
        tr["loss"] = np.nan
    traces = tr[["method", "attention", "init", "L", "P", "seed", "step", "m", "residual", "test_mse", "loss"]]
    return {"sampling": sampling, "traces": traces}


def split_rhat(x: np.ndarray) -> float:
    """Split-R-hat of one chain (Gelman et al.): the two halves as two chains; NaN below 4 samples."""
    n = len(x) // 2
    if n < 2:
        return float("nan")
    a, b = x[:n], x[n:2 * n]
    W = 0.5 * (a.var(ddof=1) + b.var(ddof=1))
    B = n * np.var([a.mean(), b.mean()], ddof=1)
    if W <= 0:
        return float("nan") if B == 0 else float("inf")
    var = (n - 1) / n * W + B / n
    return float(math.sqrt(var / W))


# ---- full-network Langevin ------------------------------------------------------------------------------------
@EXPERIMENTS.register("langevin")
def run_langevin(config, params) -> Tables:
    """Full-network Langevin on (S, W) from both starts, `langevin_chains` data sets per P, on one block of P
    at sample_L, all heads batched.  The full-batch loss and its gradient come from the data's statistics C
    (exact: CopyHeads.data_loss_stats equals the loss on the raw sequences), so a step costs O(L^3 + L^2 V^2)
    per head whatever P is; the step size is per head, lr = min(langevin_lr, 0.5 V / n) (stability)."""
    att, L, V = params["attention"], config.sample_L, config.V
    block = params["block"]
    Ps = langevin_Ps(config, att, block)
    if not Ps:
        return {}
    dev, geo = config.device, Geometry(L, config.boundary, config.device)
    C_test, n_test = test_statistics(config, L)
    K = config.langevin_chains
    C = torch.stack([statistics(tokens(config, P, L, "data", att, L, P, s), V, device=dev)
                     for P in Ps for s in range(K)])                        # (D, L, L, V, V), 2 heads each
    n_head = [P * geo.n_rows for P in Ps for _ in range(K) for _init in range(2)]
    n = torch.tensor(n_head, dtype=C.dtype, device=dev)
    lr = torch.tensor([min(config.langevin_lr, 0.5 * V / x) for x in n_head], dtype=C.dtype, device=dev)
    gen = rng.torch_generator(config.seed, "langevin", att, L, "P", *Ps, device=dev)
    B = len(n_head)
    model = CopyHeads(B, L, V, att, geo, sigma_a2=config.sigma_a2, sigma_w2=config.sigma_w2,
                      kappa=config.kappa, parametrization=config.parametrization, width=config.width,
                      generator=gen, dtype=C.dtype, device=dev)
    with torch.no_grad():
        model_copy = CopyHeads(1, L, V, att, geo, parametrization=config.parametrization,
                               width=config.width, dtype=C.dtype, device=dev)
        model_copy.set_copy_pattern(copy_logit(config, att, L))
        for name, prm in model.named_parameters():
            if name not in ("W", "bias"):
                prm[1::2] = getattr(model_copy, name)[0]
    thin = max(1, (config.langevin_steps - config.langevin_burn) // 50)
    rows = langevin(model, (C, n), lr, config.langevin_steps, config.langevin_burn, thin, gen, C_test, n_test)
    meta = pd.DataFrame([dict(P=P, seed=s, init=init) for P in Ps for s in range(K) for init in ("uniform", "copy")])
    return summarize("langevin", att, L, pd.DataFrame(rows), meta)


# ---- Adam ---------------------------------------------------------------------------------------------------
@EXPERIMENTS.register("adam")
def run_adam(config, params) -> Tables:
    att, L, V = params["attention"], config.sample_L, config.V
    dev, geo = config.device, Geometry(L, config.boundary, config.device)
    Ps = adam_Ps(config, att)
    K = config.seeds
    C = torch.stack([statistics(tokens(config, P, L, "adam-data", att, L, P, s), V, device=dev)
                     for P in Ps for s in range(K)])
    n = torch.tensor([P * geo.n_rows for P in Ps for _ in range(K)], dtype=C.dtype, device=dev)
    gen = rng.torch_generator(config.seed, "adam", att, L, device=dev)
    model = CopyHeads(len(Ps) * K, L, V, att, geo, sigma_a2=config.sigma_a2, sigma_w2=config.sigma_w2,
                      kappa=config.kappa, parametrization=config.parametrization, width=config.width,
                      generator=gen, device=dev)
    if config.parametrization == "free":
        with torch.no_grad():   # small logits: uniform attention (softmax), near-zero attention (linear)
            model.S.normal_(0.0, 1e-2 * math.sqrt(config.sigma_a2 / L), generator=gen)
    C_test, n_test = test_statistics(config, L)
    rows = adam(model, C, n, config.adam_lr, config.adam_steps, config.adam_record_every, C_test, n_test)
    df = pd.DataFrame(rows)
    meta = pd.DataFrame([dict(P=P, seed=s, init="uniform") for P in Ps for s in range(K)])
    df = df.join(meta, on="chain").assign(method="adam", attention=att, L=L)
    final = df[df.step == df.step.max()].copy()
    if att == "linear":  # sign folding, as for the samplers
        sign = np.where(final["m"] < 0, -1.0, 1.0)
        final["m"], final["logit_gap"] = final["m"] * sign, final["logit_gap"] * sign
    sampling = final.assign(m_sd=np.nan, n_samples=1, accept=np.nan, split_rhat=np.nan)[
        ["method", "init", "attention", "L", "P", "seed", "m", "q", "residual", "logit_gap", "test_mse",
         "m_sd", "n_samples", "accept", "split_rhat"]]
    traces = df[["method", "attention", "init", "L", "P", "seed", "step", "m", "residual", "test_mse", "loss"]]
    return {"sampling": sampling.reset_index(drop=True), "traces": traces.reset_index(drop=True)}


# ---- equilibrium P* from sampling (umbrella integration along the gap) ---------------------------------------
def free_energy_plan(config, L: int) -> tuple[list[int], np.ndarray, float]:
    """(P values, window centers g_j, spring constant k) of the umbrella integration at L: P = factor * P*
    (theory), windows from -0.3 to 1.5 a_copy + 0.5 (a_copy: the theory's copy minimum at P*), k = fe_k L^2
    (the prior's curvature in G is ~ L^2)."""
    h = hyper(config, L)
    ref = reference_P(config, "softmax", L)
    mins = th.softmax_minima(ref, h)
    a_copy = mins[-1][0]
    Ps = sorted({max(1, int(round(f * ref))) for f in config.fe_factors})
    centers = np.linspace(-0.3, 1.5 * a_copy + 0.5, config.fe_windows)
    return Ps, centers, config.fe_k * L**2


@EXPERIMENTS.register("free_energy")
def run_free_energy(config, params) -> Tables:
    """Restrained MALA in every window, at every P of the plan, on one nested data set (seed): table
    `free_energy_windows` (L, seed, P, center, k, G_mean, G_se, accept)."""
    L, seed = params["L"], params["seed"]
    V, dev = config.V, config.device
    geo = Geometry(L, config.boundary, dev)
    Ps, centers, k = free_energy_plan(config, L)
    tok = tokens(config, max(Ps), L, "fe-data", L, seed)                 # nested: the first P sequences
    C = torch.stack([statistics(tok[:P], V, device=dev) for P in Ps])
    n = torch.tensor([[P * geo.n_rows] for P in Ps], dtype=C.dtype, device=dev)
    post = ReducedPosterior(C, n, "softmax", geo, V, config.kappa, config.sigma_w2, config.sigma_a2)
    cent = torch.tensor(np.tile(centers, (len(Ps), 1)), dtype=C.dtype, device=dev)
    gen = rng.torch_generator(config.seed, "fe-mala", L, seed, device=dev)
    G, se, acc = restrained_mala(post, cent, k, config.fe_burn, config.fe_steps, gen)
    rows = [dict(L=L, seed=seed, P=P, center=float(c), k=k, G_mean=float(G[i, j]), G_se=float(se[i, j]),
                 accept=float(acc[i, j])) for i, P in enumerate(Ps) for j, c in enumerate(centers)]
    return {"free_energy_windows": pd.DataFrame(rows)}
