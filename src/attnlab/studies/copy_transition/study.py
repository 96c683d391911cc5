"""The copy-transition study object: tasks, run_task, finalize (the contract of docs/extending.md)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...study import Study, Task
from . import theory as th
from .config import PRESETS, CopyTransitionConfig
from .data import one_hot, sample_tokens, statistics
from .models import CopyHeads
from .posterior import Geometry, ReducedPosterior
from .train import adam, langevin, mala

TABLES_DOC = {
    "transition": "attention, L, V, kappa, sigma_w2, sigma_a2, P_star, P_spinodal_low, P_spinodal_high, P_c, "
                  "m_low, m_high, residual_low, residual_high (the two minima at P*) - one row per (attention, L); "
                  "softmax rows fill P_star/spinodals/m_low.., linear rows fill P_c (others NaN)",
    "theory_curve": "attention, L, P, a, m, q, residual, n_minima, b2 (linear: background variance; NaN for softmax) "
                    "- the global minimizer of the ansatz action on a log grid of P",
    "linear_onset": "L, P, P_minus_Pc, a - the linear minimizer just above P_c, for the exponent fit",
    "landscape": "attention, L, P, P_over_ref, a, F (F - min F; linear: profile over b2) - around P* / P_c",
    "sampling": "method (mala, langevin, adam), init (uniform, copy), attention, L, P, seed, m, q, residual, "
                "logit_gap, test_mse, m_sd, n_samples, accept, split_rhat, m_theory, residual_theory "
                "- one row per chain / run (means over its recorded samples; Adam: final values; linear: m and "
                "logit_gap sign-folded, the action being even in a; m_theory/residual_theory: the theory's global "
                "minimizer at that P)",
    "traces": "method, attention, init, L, P, seed, step, m, residual, test_mse, loss (Adam train MSE per "
              "target; NaN for samplers) - per recorded step",
}


def _seed(config, *parts) -> int:
    """A 63-bit seed from the base seed and integers identifying the stream."""
    return int(np.random.SeedSequence([config.seed, *parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


ATT_ID = {"softmax": 1, "linear": 2}
METHOD_ID = {"mala": 1, "langevin": 2, "adam": 3, "test": 4}


def hyper(config, L: int) -> th.Hyper:
    rows = L if config.boundary == "cyclic" else L - 1
    return th.Hyper(V=config.V, L=L, kappa=config.kappa, sigma_w2=config.sigma_w2, sigma_a2=config.sigma_a2,
                    rows=rows)


def sample_Ps(config, attention: str, factors) -> list[int]:
    """P = round(factor * P_ref) (unique, >= 1) with P_ref the theory's P* (softmax) or P_c (linear)."""
    h = hyper(config, config.sample_L)
    ref = th.reference_P(th.reference_points(h, attention, config.theory_P_min, config.theory_P_max), attention)
    if not math.isfinite(ref):
        ref = float(config.sample_L)
    return sorted({max(1, int(round(f * ref))) for f in factors})


def adam_Ps(config, attention: str) -> list[int]:
    f = np.geomspace(config.adam_factor_min, config.adam_factor_max, config.adam_n_P)
    return sample_Ps(config, attention, tuple(f))


def test_statistics(config, L: int):
    tok = sample_tokens(config.n_test, L, config.V, _seed(config, METHOD_ID["test"], L))
    return statistics(tok, config.V, device=config.device), config.n_test * hyper(config, L).n_rows


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

    # ---- tasks ---------------------------------------------------------------------------------------
    def tasks(self, config):
        """Simulations first (the long tasks, so that two workers share the load), then one theory task per
        (attention, L).  MALA is split in two halves of its P grid."""
        out = []
        for att in config.attentions:
            for part in (0, 1):
                out.append(Task(f"mala-{att}-part{part}", {"kind": "mala", "attention": att, "part": part}))
        for att in config.attentions:
            out.append(Task(f"langevin-{att}", {"kind": "langevin", "attention": att}))
            out.append(Task(f"adam-{att}", {"kind": "adam", "attention": att}))
        Ls = sorted(set(config.theory_Ls) | {config.sample_L}, reverse=True)
        for L in Ls:
            for att in config.attentions:
                out.append(Task(f"theory-{att}-L{L}", {"kind": "theory", "attention": att, "L": L}))
        return out

    def run_task(self, config, task):
        p = task.params
        return getattr(self, f"_run_{p['kind']}")(config, p)

    # ---- theory ------------------------------------------------------------------------------------------
    def _run_theory(self, config, p):
        att, L = p["attention"], p["L"]
        h = hyper(config, L)
        grid = th.P_grid(h, config.theory_P_min, config.theory_P_max, config.theory_n_P)
        base = dict(attention=att, L=L, V=config.V, kappa=config.kappa, sigma_w2=config.sigma_w2,
                    sigma_a2=config.sigma_a2)
        trans = dict(base, P_star=np.nan, P_spinodal_low=np.nan, P_spinodal_high=np.nan, P_c=np.nan,
                     m_low=np.nan, m_high=np.nan, residual_low=np.nan, residual_high=np.nan)
        tables = {}
        if att == "softmax":
            res = th.locate_softmax(h, grid)
            for k in ("P_star", "P_spinodal_low", "P_spinodal_high", "m_low", "m_high", "residual_low",
                      "residual_high"):
                trans[k] = res.get(k, np.nan)
            curve = pd.DataFrame(res["rows"]).assign(b2=np.nan)
            ref = res["P_star"]
        else:
            res = th.locate_linear(h, grid)
            trans["P_c"] = res["P_c"]
            curve = pd.DataFrame(res["rows"])
            tables["linear_onset"] = pd.DataFrame(res["onset"], columns=["P", "P_minus_Pc", "a"]).assign(L=L)
            ref = res["P_c"]
        curve = curve.assign(attention=att, L=L)[["attention", "L", "P", "a", "m", "q", "residual", "n_minima",
                                                  "b2"]]
        tables["transition"] = pd.DataFrame([trans])
        tables["theory_curve"] = curve
        if L == config.sample_L and math.isfinite(ref):
            rows = []
            for f in config.landscape_factors:
                a, F = th.landscape(f * ref, h, att)
                rows.append(pd.DataFrame(dict(attention=att, L=L, P=f * ref, P_over_ref=f, a=a, F=F)))
            tables["landscape"] = pd.concat(rows, ignore_index=True)
        return tables

    # ---- reduced-posterior MALA ----------------------------------------------------------------------
    def _run_mala(self, config, p):
        att, L, V = p["attention"], config.sample_L, config.V
        Ps = sample_Ps(config, att, config.sample_factors)[p["part"]::2]
        if not Ps:
            return {}
        dev, geo = config.device, Geometry(L, config.boundary, config.device)
        h = hyper(config, L)
        D = len(Ps) * config.seeds
        Cs = [statistics(sample_tokens(P, L, V, _seed(config, METHOD_ID["mala"], ATT_ID[att], P, s)), V, device=dev)
              for P in Ps for s in range(config.seeds)]
        C = torch.stack(Cs)                                                   # (D, L, L, V, V)
        n = torch.tensor([[P * h.n_rows] for P in Ps for _ in range(config.seeds)], dtype=C.dtype, device=dev)
        post = ReducedPosterior(C, n, att, geo, V, config.kappa, config.sigma_w2, config.sigma_a2)
        S0 = torch.zeros(D, 2, L, L, dtype=C.dtype, device=dev)              # init 0 = uniform, 1 = copy
        S0[:, 1] = geo.shift.to(C.dtype) * self._copy_logit(config, att, L)
        gen = torch.Generator(device=dev).manual_seed(_seed(config, METHOD_ID["mala"], ATT_ID[att], 10**6 + p["part"]))
        C_test, n_test = test_statistics(config, L)
        out = mala(post, S0, config.mala_burn, config.mala_steps, config.mala_thin, gen, C_test, n_test)
        meta = pd.DataFrame([dict(P=P, seed=s, init=init) for P in Ps for s in range(config.seeds)
                             for init in ("uniform", "copy")])
        meta["accept"] = out["accept"]
        return self._summarize("mala", att, L, pd.DataFrame(out["samples"]), meta)

    @staticmethod
    def _copy_logit(config, att, L):
        if att == "softmax":
            return config.copy_logit if config.copy_logit > 0 else 3 * math.log(L)
        return config.copy_logit if config.copy_logit > 0 else 1.0

    @staticmethod
    def _summarize(method, att, L, samples: pd.DataFrame, meta: pd.DataFrame) -> dict:
        """Per-chain means (+ split-R-hat of m over the two halves of the chain) and the trace table."""
        samples = samples.join(meta.drop(columns=[c for c in ("accept",) if c in meta]), on="chain")
        rows = []
        for chain, g in samples.groupby("chain", sort=True):
            g = g.sort_values("step")
            m = g["m"].to_numpy()
            rows.append(dict(chain=chain, m=m.mean(), q=g["q"].mean(), residual=g["residual"].mean(),
                             logit_gap=g["logit_gap"].mean(), test_mse=g["test_mse"].mean(),
                             m_sd=m.std(ddof=1) if len(m) > 1 else np.nan, n_samples=len(m),
                             split_rhat=split_rhat(m)))
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

    # ---- full-network Langevin --------------------------------------------------------------------------
    def _run_langevin(self, config, p):
        att, L, V = p["attention"], config.sample_L, config.V
        dev, geo = config.device, Geometry(L, config.boundary, config.device)
        h = hyper(config, L)
        C_test, n_test = test_statistics(config, L)
        out = {"sampling": [], "traces": []}
        for P in sample_Ps(config, att, config.langevin_factors):
            K = config.langevin_chains
            Xs = [one_hot(sample_tokens(P, L, V, _seed(config, METHOD_ID["mala"], ATT_ID[att], P, s)), V,
                          dtype=torch.float32, device=dev) for s in range(K)]
            X = CopyHeads.layout(torch.stack(Xs).repeat_interleave(2, 0))        # (2K, L, P, V) data per seed
            gen = torch.Generator(device=dev).manual_seed(_seed(config, METHOD_ID["langevin"], ATT_ID[att], P))
            model = CopyHeads(2 * K, L, V, att, geo, sigma_a2=config.sigma_a2, sigma_w2=config.sigma_w2,
                              kappa=config.kappa, parametrization=config.parametrization, width=config.width,
                              generator=gen, dtype=torch.float32, device=dev)
            copy = self._copy_logit(config, att, L)
            with torch.no_grad():
                model_copy = CopyHeads(1, L, V, att, geo, parametrization=config.parametrization,
                                       width=config.width, dtype=torch.float32, device=dev)
                model_copy.set_copy_pattern(copy)
                for name, prm in model.named_parameters():
                    if name != "W":
                        prm[1::2] = getattr(model_copy, name)[0]
            lr = min(config.langevin_lr, 0.5 * V / (P * h.n_rows))            # stability: lr * lambda_max < 1/2
            thin = max(1, (config.langevin_steps - config.langevin_burn) // 50)
            rows = langevin(model, X, lr, config.langevin_steps, config.langevin_burn, thin, gen, C_test, n_test)
            meta = pd.DataFrame([dict(P=P, seed=s, init=init) for s in range(K) for init in ("uniform", "copy")])
            t = self._summarize("langevin", att, L, pd.DataFrame(rows), meta)
            out["sampling"].append(t["sampling"])
            out["traces"].append(t["traces"])
        return {k: pd.concat(v, ignore_index=True) for k, v in out.items()}

    # ---- Adam ---------------------------------------------------------------------------------------------
    def _run_adam(self, config, p):
        att, L, V = p["attention"], config.sample_L, config.V
        dev, geo = config.device, Geometry(L, config.boundary, config.device)
        h = hyper(config, L)
        Ps = adam_Ps(config, att)
        K = config.seeds
        C = torch.stack([statistics(sample_tokens(P, L, V, _seed(config, METHOD_ID["adam"], ATT_ID[att], P, s)), V,
                                    device=dev) for P in Ps for s in range(K)])
        n = torch.tensor([P * h.n_rows for P in Ps for _ in range(K)], dtype=C.dtype, device=dev)
        gen = torch.Generator(device=dev).manual_seed(_seed(config, METHOD_ID["adam"], ATT_ID[att]))
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

    # ---- finalize -------------------------------------------------------------------------------------------
    def finalize(self, config, tables):
        tables = dict(tables)
        for name in ("transition", "theory_curve"):
            if name in tables:
                tables[name] = tables[name].sort_values(["attention", "L"] + (["P"] if name == "theory_curve" else [])
                                                        ).reset_index(drop=True)
        if "sampling" in tables and len(tables["sampling"]):
            s = tables["sampling"].copy()
            cache = {}
            for key in s[["attention", "L", "P"]].drop_duplicates().itertuples(index=False):
                cache[tuple(key)] = th.global_minimum(float(key.P), hyper(config, int(key.L)), key.attention)
            s["m_theory"] = [cache[(a, L, P)]["m"] for a, L, P in zip(s.attention, s.L, s.P)]
            s["residual_theory"] = [cache[(a, L, P)]["residual"] for a, L, P in zip(s.attention, s.L, s.P)]
            tables["sampling"] = s.sort_values(["method", "attention", "P", "init", "seed"]).reset_index(drop=True)
        return tables

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


STUDY = CopyTransitionStudy()
