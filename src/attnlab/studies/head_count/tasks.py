"""Work units of the study: one training run per (experiment, h, T, N, seed), plus three no-training theory
tasks. ``run_training`` and ``run_theory`` depend only on (config, params), so they run in any worker."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import theory
from .config import VARIANT_SETTINGS, HeadCountConfig, per_head_width
from .data import make_dataset, make_retrieval_instance, nmse, task_vectors, uniform_inputs
from .models import HeadCountModel
from .train import TrainSettings, seed_of, train

THEORY_TASKS = ("construction", "memorization", "variance")


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


def run_training(config: HeadCountConfig, p: dict) -> dict[str, pd.DataFrame]:
    """Train one model on Generator B data and return its nmse row and validation history."""
    torch.set_flush_denormal(True)
    a = task_vectors(p["D"], config.d, config.a_seed)
    data_seed = [config.seed, p["D"], config.d, p["T"], config.a_seed, config.n_train, config.n_val]
    x, y = make_dataset(config.n_train + config.n_val, p["T"], config.d, a, data_seed)   # (B, T, d), (B,)
    x_tr, y_tr, x_va, y_va = x[:config.n_train], y[:config.n_train], x[config.n_train:], y[config.n_train:]
    mseed = seed_of(config.seed, "model", p["experiment"], p["D"], p["h"], p["T"], p["N"], p["layers"], p["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(mseed)
        models = [HeadCountModel(config.d, p["h"], p["n"], p["N"], p["layers"], config.beta, config.normalization,
                                 config.cls_skip) for _ in range(config.restarts)]   # models[0]: as without restarts
    device = torch.device(config.device)
    model = models[0]
    for m in models:
        m.to(device)
    settings = TrainSettings(config.epochs, config.batch, config.lr, config.schedule, config.weight_decay,
                             config.patience, config.restarts, config.screen_epochs)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)   # the model is tiny: one thread is fastest, and pool workers use one anyway
    try:
        r = train(model, x_tr.to(device), y_tr.to(device), x_va.to(device), y_va.to(device), settings, seed=mseed,
                  candidates=models[1:])
    finally:
        torch.set_num_threads(threads)
    cols = {k: p[k] for k in ("experiment", "D", "h", "T", "n", "N", "layers", "width_mode", "seed")}
    row = {**cols, "d": config.d, "E": p["n"] * p["h"], "normalization": config.normalization,
           "nmse_val": r.nmse_val, "nmse_train": r.nmse_train, "epochs": r.epochs, "best_epoch": r.best_epoch,
           **model.param_counts(), "wall_s": r.wall_s, "cpu_s": r.cpu_s}
    hist = pd.DataFrame({**{k: [cols[k]] * len(r.history) for k in ("experiment", "D", "h", "T", "N", "layers",
                                                                      "seed")},
                         "epoch": np.arange(1, len(r.history) + 1), "nmse_val": r.history})
    return {"nmse": pd.DataFrame([row]), "history": hist}


def run_theory(config: HeadCountConfig, name: str) -> dict[str, pd.DataFrame]:
    if name == "construction":
        return {"construction": construction_table(config)}
    if name == "memorization":
        return {"memorization": memorization_table(config)}
    if name == "variance":
        return variance_tables(config)
    raise ValueError(f"unknown theory task {name!r}")


def construction_table(config: HeadCountConfig, D: int = 3, d: int = 2, T: int = 64, set_size: int = 16,
                       boot: int = 200) -> pd.DataFrame:
    """C7: the h = D construction on a Generator-A instance (D = 3, d = 2, T = 64, |S_i| = 16, brief C7) on
    ``construction_samples`` random inputs, for each beta: excess z_tilde - z_bar vs its bounds."""
    inst = make_retrieval_instance(D, d, T, seed=[config.seed, 7], set_size=set_size)
    x = uniform_inputs(config.construction_samples, T, d, seed=[config.seed, 8])
    z_bar = inst.z_bar(x)                                               # (B, D)
    rng = np.random.default_rng([config.seed, 9])
    idx = rng.integers(0, x.shape[0], (boot, x.shape[0]))                # bootstrap resamples of the inputs
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
        g = torch.Generator().manual_seed(seed_of(config.seed, "memo", T))
        x = torch.randn(B, T, config.d, generator=g)                            # (B, T, d)
        attn = theory.memorization_attention(T, config.d, seed=seed_of(config.seed, "memoW", T))
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
    for T in sorted({8, 128, *config.grid_Ts}):
        var, se = theory.single_max_variance(T, config.variance_samples, seed=[config.seed, 11, T])
        rows.append({"kind": "single_max", "D": 1, "T": T, "var": var, "se": se, "samples": config.variance_samples})
    for D in sorted({config.D} | {3}):
        a = task_vectors(D, config.d, config.a_seed)
        for T in sorted({8, 128, *config.grid_Ts}):
            n = max(config.variance_samples // max(1, T // 8), 2000)
            _, y = make_dataset(n, T, config.d, a, seed=[config.seed, 12, D, T], dtype=torch.float64)
            var, se = theory.variance_with_se(y.numpy())
            rows.append({"kind": "target", "D": D, "T": T, "var": var, "se": se, "samples": n})
    rng = np.random.default_rng([config.seed, 13])
    ident = []
    for trial in range(20):
        y = rng.standard_normal(500) * rng.uniform(0.1, 10) + rng.uniform(-5, 5)
        pred = y + rng.standard_normal(500) * rng.uniform(0.01, 2)
        a_, b_ = nmse(pred, y), 1.0 - r2_score(y, pred)
        ident.append({"trial": trial, "nmse": a_, "one_minus_r2": b_, "abs_diff": abs(a_ - b_)})
    return {"target_variance": pd.DataFrame(rows), "nmse_identity": pd.DataFrame(ident)}


def bound_exponent_table(config: HeadCountConfig) -> pd.DataFrame:
    """k(T, n, s, D) on T = 4..300 for the brief's (n, s, D) triples and the run's h = D-1 model."""
    n_run = per_head_width(config.width_mode, max(config.D - 1, 1), config.n, config.E)
    triples = [(8, 3, 4), (8, 1, 4), (2, 3, 4)]
    if config.D >= 2 and (n_run, config.D - 1, config.D) not in triples:
        triples.append((n_run, config.D - 1, config.D))
    rows = []
    for n, s, D in triples:
        first = theory.first_nonvacuous_T(n, s, D)
        run = (n, s, D) == (n_run, config.D - 1, config.D)
        for T in sorted(set(range(4, 301, 4)) | set(config.grid_Ts)):
            rows.append({"n": n, "s": s, "D": D, "T": T, "k": theory.bound_exponent(T, n, s, D), "first_T": first,
                         "experiment_T": bool(run and T in config.grid_Ts)})
    return pd.DataFrame(rows)


def summary_table(nmse_df: pd.DataFrame) -> pd.DataFrame:
    """Min / mean over seeds of the validation NMSE per (experiment, D, h, T, N, layers, width_mode)."""
    keys = ["experiment", "D", "h", "T", "n", "N", "layers", "width_mode"]
    g = nmse_df.groupby(keys, as_index=False)
    out = g.agg(nmse_min=("nmse_val", "min"), nmse_mean=("nmse_val", "mean"), seeds=("seed", "count"),
                params_ffn=("params_ffn", "first"), params_total=("params_total", "first"))
    return out.sort_values(keys).reset_index(drop=True)


def reversal_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Weighted reversal score R(h) of each experiment over its T values (Fig. 2e)."""
    rows = []
    for (exp, N, h), g in summary.groupby(["experiment", "N", "h"]):
        if g["T"].nunique() < 2:
            continue
        rows.append({"experiment": exp, "N": int(N), "h": int(h), "Ts": g["T"].nunique(),
                     "reversal": theory.reversal_score(dict(zip(g["T"].astype(int), g["nmse_min"])))})
    return pd.DataFrame(rows, columns=["experiment", "N", "h", "Ts", "reversal"])
