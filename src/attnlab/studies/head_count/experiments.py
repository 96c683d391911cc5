"""The experiment layer of the head-count study: one registered function per task kind.

Kinds (``Task.of(kind, key, **params)``; each ``fn(config, params) -> Tables`` depends only on its arguments,
so it runs in any worker):

* ``train``        one model trained on Generator-B data: (experiment, D, h, T, n, N, layers, width_mode, E, seed)
                   -> tables ``nmse`` (one row) and ``history``                              [paper Sec. 6.1]
* ``construction`` the h = D construction of Thm 2(1) on a Generator-A instance -> ``construction``
* ``memorization`` the one-wide-head construction of Thm 2(3) -> ``memorization``
* ``variance``     Monte Carlo Var(y) and NMSE = 1 - R^2 -> ``target_variance``, ``nmse_identity``

Seeds: every draw goes through :mod:`attnlab.rng`, keyed by the task's parts (the data by
("data", D, d, T, n_train, n_val), the model by ("model", experiment, D, h, T, N, layers, width_mode, seed)).
The training data of one T are shared by every h (the same sequences, as in the paper's grid).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import rng
from ...study import Experiments, Task
from . import theory
from .config import VARIANT_SETTINGS, HeadCountConfig, per_head_width
from .data import make_dataset, make_retrieval_instance, nmse, task_vectors, uniform_inputs
from .models import HeadCountModel
from .train import TrainSettings, train

EXPERIMENTS = Experiments()
THEORY_KINDS = ("construction", "memorization", "variance")


# ---- the tasks of a config ----------------------------------------------------------------------------------
def training_points(config: HeadCountConfig) -> list[dict]:
    """Every training run of the config: the main grid, the Fig. 1b N sweep and the variants."""
    base = {"D": config.D, "width_mode": config.width_mode, "E": config.E, "layers": config.layers}
    pts = []
    for T in config.grid_Ts:
        for h in config.grid_hs:
            for s in range(config.seeds):
                pts.append({"experiment": "main", **base, "h": h, "T": T, "N": config.N, "seed": s})
    T0 = min(config.grid_Ts)
    for N in config.Ns:
        if N == config.N:
            continue
        for h in config.N_hs:
            for s in range(config.variant_seeds):
                pts.append({"experiment": "nsweep", **base, "h": h, "T": T0, "N": N, "seed": s})
    for v in config.variants:
        for h in config.grid_hs:
            for s in range(config.variant_seeds):
                pts.append({"experiment": v, **VARIANT_SETTINGS[v], "h": h, "T": config.variant_T,
                            "N": config.N, "seed": s})
    for p in pts:
        p["n"] = per_head_width(p["width_mode"], p["h"], config.n, p["E"])
    return pts


def task_key(p: dict) -> str:
    return f"{p['experiment']}_D{p['D']}_h{p['h']}_T{p['T']}_N{p['N']}_L{p['layers']}_s{p['seed']}"


def cost(p: dict) -> float:
    """Rough relative cost (for scheduling the longest tasks first): per-step overhead + tokens."""
    return (1.0 + p["T"] / 48) * (1 + (p["layers"] - 1) * (0.5 + p["T"] / 32))


def build_tasks(config: HeadCountConfig) -> list[Task]:
    """Training tasks longest first, then the three theory tasks."""
    pts = sorted(training_points(config), key=cost, reverse=True)
    out = [Task.of("train", task_key(p), **p) for p in pts]
    out += [Task.of(kind, f"theory_{kind}") for kind in THEORY_KINDS]
    return out


# ---- training -----------------------------------------------------------------------------------------------
def training_data(config: HeadCountConfig, D: int, T: int):
    """Generator-B data of one (D, T): x (n_train + n_val, T, d), y (n_train + n_val,), split train | val."""
    a = task_vectors(D, config.d, config.a_seed)
    g = rng.numpy_rng(config.seed, "data", D, config.d, T, config.a_seed, config.n_train, config.n_val)
    x, y = make_dataset(config.n_train + config.n_val, T, config.d, a, g)    # (B, T, d), (B,)
    k = config.n_train
    return x[:k], y[:k], x[k:], y[k:]


def build_models(config: HeadCountConfig, p: dict) -> list[HeadCountModel]:
    """``restarts`` initialisations of the model of point p (models[0] is the one used without restarts)."""
    key = ("model", p["experiment"], p["D"], p["h"], p["T"], p["N"], p["layers"], p["width_mode"], p["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(rng.derive_seed(config.seed, *key))
        return [HeadCountModel(config.d, p["h"], p["n"], p["N"], p["layers"], config.beta, config.normalization,
                               config.cls_skip, config.token_residual) for _ in range(config.restarts)]


@EXPERIMENTS.register("train")
def train_point(config: HeadCountConfig, p: dict) -> dict[str, pd.DataFrame]:
    """Train one model on Generator-B data and return its ``nmse`` row and validation ``history``."""
    torch.set_flush_denormal(True)
    x_tr, y_tr, x_va, y_va = training_data(config, p["D"], p["T"])
    models = build_models(config, p)
    device = torch.device(config.device)
    for m in models:
        m.to(device)
    settings = TrainSettings(config.epochs, config.batch, config.lr, config.schedule, config.weight_decay,
                             config.patience, config.restarts, config.screen_epochs)
    shuffle_seed = rng.derive_seed(config.seed, "shuffle", p["experiment"], p["D"], p["h"], p["T"], p["N"],
                                   p["layers"], p["width_mode"], p["seed"])
    model = models[0]
    r = train(model, x_tr.to(device), y_tr.to(device), x_va.to(device), y_va.to(device), settings,
              seed=shuffle_seed, candidates=models[1:])
    cols = {k: p[k] for k in ("experiment", "D", "h", "T", "n", "N", "layers", "width_mode", "seed")}
    row = {**cols, "d": config.d, "E": p["n"] * p["h"], "normalization": config.normalization,
           "nmse_val": r.nmse_val, "nmse_train": r.nmse_train, "epochs": r.epochs, "best_epoch": r.best_epoch,
           **model.param_counts(), "wall_s": r.wall_s, "cpu_s": r.cpu_s}
    hist = pd.DataFrame({**{k: [cols[k]] * len(r.history) for k in ("experiment", "D", "h", "T", "N", "layers",
                                                                      "seed")},
                         "epoch": np.arange(1, len(r.history) + 1), "nmse_val": r.history})
    return {"nmse": pd.DataFrame([row]), "history": hist}


# ---- theory (no training) -----------------------------------------------------------------------------------
@EXPERIMENTS.register("construction")
def construction(config: HeadCountConfig, params: dict) -> dict[str, pd.DataFrame]:
    return {"construction": construction_table(config)}


@EXPERIMENTS.register("memorization")
def memorization(config: HeadCountConfig, params: dict) -> dict[str, pd.DataFrame]:
    return {"memorization": memorization_table(config)}


@EXPERIMENTS.register("variance")
def variance(config: HeadCountConfig, params: dict) -> dict[str, pd.DataFrame]:
    return variance_tables(config)


def construction_table(config: HeadCountConfig, D: int = 3, d: int = 2, T: int = 64, set_size: int = 16,
                       boot: int = 200) -> pd.DataFrame:
    """C7: the h = D construction on a Generator-A instance (D = 3, d = 2, T = 64, |S_i| = 16, brief C7) on
    ``construction_samples`` random inputs, for each beta: excess z_tilde - z_bar vs its bounds."""
    inst = make_retrieval_instance(D, d, T, seed=rng.seed_sequence(config.seed, "construction", "instance"),
                                   set_size=set_size)
    x = uniform_inputs(config.construction_samples, T, d,
                       seed=rng.seed_sequence(config.seed, "construction", "inputs"))
    z_bar = inst.z_bar(x)                                               # (B, D)
    g = rng.numpy_rng(config.seed, "construction", "bootstrap")
    idx = g.integers(0, x.shape[0], (boot, x.shape[0]))                 # bootstrap resamples of the inputs
    rows = []
    for beta in config.betas:
        excess = theory.construction_z_tilde(inst, x, beta) - z_bar     # (B, D)
        lower, upper = theory.construction_bounds(inst, z_bar, beta)
        out_err = np.abs(excess @ inst.weights)                          # |F0(z_tilde) - F0(z_bar)|
        worst = excess.max(axis=1)                                       # (B,)
        boot_max = worst[idx].max(axis=1)                                # (boot,)
        se = float(np.std(np.log(boot_max), ddof=1))
        for i in range(D):
            rows.append({"beta": float(beta), "feature": i, "D": D, "d": d, "T": T,
                         "set_size": int(inst.support[i].sum()), "samples": x.shape[0],
                         "max_excess": float(excess[:, i].max()), "min_excess": float(excess[:, i].min()),
                         "mean_excess": float(excess[:, i].mean()), "upper_bound": float(upper[0, i]),
                         "violations_upper": int((excess[:, i] > upper[:, i] + 1e-12).sum()),
                         "violations_lower": int((excess[:, i] < lower[:, i] - 1e-12).sum()),
                         "max_output_err": float(out_err.max()),
                         "output_bound": float(np.abs(inst.weights) @ upper[0]),
                         "log_max_excess_se": se})
    return pd.DataFrame(rows)


def memorization_table(config: HeadCountConfig, Ts=(4, 8, 16), B: int = 256) -> pd.DataFrame:
    """C8: the one-wide-head construction on N(0, I) sequences; error against vec(X)/T in float32."""
    rows = []
    for T in Ts:
        g = rng.torch_generator(config.seed, "memorization", "inputs", T)
        x = torch.randn(B, T, config.d, generator=g)                            # (B, T, d)
        attn = theory.memorization_attention(T, config.d,
                                             seed=rng.derive_seed(config.seed, "memorization", "weights", T))
        with torch.no_grad():
            out = attn(theory.memorization_inputs(x))                           # (B, T d)
        target = x.reshape(B, -1) / T
        rows.append({"T": T, "d": config.d, "n": T * config.d, "samples": B, "dtype": "float32",
                     "max_abs_err": float((out - target).abs().max()), "max_abs_target": float(target.abs().max())})
    return pd.DataFrame(rows)


def variance_tables(config: HeadCountConfig) -> dict[str, pd.DataFrame]:
    """C10: Monte Carlo Var(max of T N(0,1)) and Var(y) of the target per T; NMSE vs 1 - R^2."""
    from sklearn.metrics import r2_score

    rows = []
    Ts = sorted({8, 128, *config.grid_Ts})
    for T in Ts:
        var, se = theory.single_max_variance(T, config.variance_samples,
                                             seed=rng.seed_sequence(config.seed, "variance", "single_max", T))
        rows.append({"kind": "single_max", "D": 1, "T": T, "var": var, "se": se, "samples": config.variance_samples})
    for D in sorted({config.D} | {3}):
        a = task_vectors(D, config.d, config.a_seed)
        for T in Ts:
            n = max(config.variance_samples // max(1, T // 8), 2000)
            _, y = make_dataset(n, T, config.d, a, seed=rng.numpy_rng(config.seed, "variance", "target", D, T),
                                dtype=torch.float64)
            var, se = theory.variance_with_se(y.numpy())
            rows.append({"kind": "target", "D": D, "T": T, "var": var, "se": se, "samples": n})
    g = rng.numpy_rng(config.seed, "variance", "identity")
    ident = []
    for trial in range(20):
        y = g.standard_normal(500) * g.uniform(0.1, 10) + g.uniform(-5, 5)
        pred = y + g.standard_normal(500) * g.uniform(0.01, 2)
        a_, b_ = nmse(pred, y), 1.0 - r2_score(y, pred)
        ident.append({"trial": trial, "nmse": a_, "one_minus_r2": b_, "abs_diff": abs(a_ - b_)})
    return {"target_variance": pd.DataFrame(rows), "nmse_identity": pd.DataFrame(ident)}
