"""Metrics on one pretrained model and one text chunk (one task): Fig. 2a-b, Fig. 3, Fig. 4 and the normalizer
comparison, vectorized over heads, query rows and keys (a loop over layers, L values and N values only).

Protocol choices (the brief's open questions 3-5):
* token vectors x_i = the head's value vectors v_i (GQA: shared inside a key/value group);
* rows: max_rows evenly spaced query rows per head (all rows when L <= max_rows) estimate the per-head mean;
* causal rows: row t has t + 1 keys and uses n = t + 1 as its L in every formula; rows with n <= N are skipped
  (nothing is left out); the per-head value is the mean over the remaining rows.  L is the chunk length.
* the critical-N scan (Fig. 2c) is its own task per (model, L): critical.py;
* causal models run once at the largest L and are truncated (identical to a run at each L); encoders run at
  each L on the first L - 2 tokens of the same chunk, wrapped in [CLS] ... [SEP];
* sinks = "keep": sink tokens may be selected like any other; "drop": key 0 (causal) or [CLS]/[SEP] (encoder)
  is removed from every row and the weights renormalized.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import rng
from ...errors import check_finite
from ...normalizations import attend, available, has_bias
from . import metrics as M
from .critical import valid_keys as _valid
from .data import load_text
from .pretrained import LayerTensors, chunk_ids, extract, load_model


def _layer_at(lt: LayerTensors, L: int):
    """Truncate a (causal) layer to its first L tokens: logits (H, L, L), values (H, L, dv)."""
    return lt.logits[:, :L, :L], lt.values[:, :L]


GRAD_LOGITS = ("raw", "scaled", "probs")


class ModelRun:
    """One (model, chunk): forward passes cached per L, metrics per layer."""

    def __init__(self, cfg, model_name: str, chunk: int, lm=None):
        self.cfg, self.name, self.chunk = cfg, model_name, chunk
        self.lm = lm or load_model(model_name, seed=rng.derive_seed(cfg.seed, "model-init", model_name))
        self.text = load_text(cfg.text)
        wanted = set(cfg.Ls) | {cfg.L_fixed, cfg.sep_L, cfg.grad_L, cfg.norm_L}
        self.Lmax = min(max(wanted), self.lm.max_len)
        self.cap = lambda L: min(L, self.lm.max_len)
        self._cache: dict[int, list[LayerTensors]] = {}

    def layers(self, L: int) -> list[LayerTensors]:
        """Per-layer tensors at context length L (causal: truncation of one run at Lmax)."""
        if self.lm.causal:
            if self.Lmax not in self._cache:
                self._cache[self.Lmax] = extract(self.lm, chunk_ids(self.lm, self.text, self.Lmax, self.chunk, self.Lmax))
            return self._cache[self.Lmax]
        if L not in self._cache:
            self._cache[L] = extract(self.lm, chunk_ids(self.lm, self.text, L, self.chunk, self.Lmax))
        return self._cache[L]

    def weights(self, lt: LayerTensors, L: int):
        logits, X = _layer_at(lt, L)
        valid = _valid(L, lt.causal, self.cfg.sinks, self.lm.special)
        alpha = M.masked_softmax(lt.scaling * logits, valid)             # (H, L, L) the model's own weights
        check_finite(f"{self.name} attention weights", alpha)
        return logits, alpha, X, valid

    def rows_at(self, L: int, n: int) -> torch.Tensor:
        """n evenly spaced query rows of a length-L context (all rows when n >= L)."""
        return torch.arange(L) if n >= L else torch.linspace(0, L - 1, n).round().long().unique()

    # ---- Fig. 2a / 2b ----------------------------------------------------------------------------------
    def distance_rows(self, gen) -> list[dict]:
        cfg, rows = self.cfg, []
        work: dict[int, list[tuple[str, int]]] = {}
        for L in sorted(set(cfg.Ls)):
            if L <= self.lm.max_len:
                work.setdefault(L, []).append(("L", cfg.N_fixed))
        Lf = self.cap(cfg.L_fixed)
        work.setdefault(Lf, []).extend(("N", N) for N in cfg.Ns if N < Lf)
        for L, jobs in work.items():
            pos = self.rows_at(L, cfg.max_rows)                          # (R,) query rows of the metric
            for li, lt in enumerate(self.layers(L)):
                _, alpha_full, X, valid_full = self.weights(lt, L)
                alpha, valid = alpha_full[:, pos], valid_full[:, pos]
                P = M.prefix_max_distance(X, valid_full, lt.causal)     # once per (layer, L)
                Nl = sorted({N for _, N in jobs})
                sweep = M.distance_sweep(alpha, X, valid, Nl, P=P, positions=pos)   # every N of this L at once
                done: dict[int, dict] = {}
                for N in Nl:
                    d = sweep[N]
                    tol = 1e-4 * d["d_bound"].abs() + 1e-6              # float32 rounding
                    viol = ((d["d_sum"] > d["d_bound"] + tol) & d["row_ok"]).sum(-1)
                    mc_pos = torch.linspace(min(N, L - 1), L - 1, cfg.mc_rows).round().long().unique()
                    est = M.mc_sweep(alpha_full[:, mc_pos], X, valid_full[:, mc_pos], (N,), cfg.mc_subsets, gen)[N]
                    mc_ok = (valid_full[:, mc_pos].sum(-1) > N)
                    okx = mc_ok.expand_as(est["B"])
                    mc_se = ((est["B_var"] * okx).sum(-1) / cfg.mc_subsets).sqrt() / okx.sum(-1).clamp_min(1)
                    dm = M.distance_metrics(alpha_full[:, mc_pos], X, valid_full[:, mc_pos], N, bound=False)
                    done[N] = dict({k: M.row_mean(d[k], d["row_ok"]) for k in ("d_sum", "d_norm", "d_bound",
                                                                                 "d_main")},
                                   mc=M.row_mean(est["B"], mc_ok), mc_se=mc_se,
                                   main_mc=M.row_mean(dm["d_main"], mc_ok),
                                   viol=viol, n_rows=int(d["row_ok"].sum()))
                for sweep_name, N in jobs:
                    r = done[N]
                    for h in range(alpha.shape[0]):
                        rows.append(dict(model=self.name, chunk=self.chunk, sweep=sweep_name, layer=li, head=h, L=L, N=N,
                                         d_sum=float(r["d_sum"][h]), d_norm=float(r["d_norm"][h]),
                                         d_bound=float(r["d_bound"][h]), d_expected_mc=float(r["mc"][h]),
                                         d_expected_mc_se=float(r["mc_se"][h]),
                                         d_expected_main=float(r["d_main"][h]),
                                         d_expected_main_mc_rows=float(r["main_mc"][h]),
                                         n_rows=r["n_rows"], bound_violations=int(r["viol"][h])))
        return rows

    # ---- Fig. 3 --------------------------------------------------------------------------------------------
    def separability_rows(self) -> list[dict]:
        """Per (layer, head, N): N_s/N and Theorem 2's bounds in our reconstruction (metrics.separability), row means;
        bound_violations: rows where fewer selected tokens are counted than have xi_i < r (0 by construction)."""
        cfg, rows = self.cfg, []
        L = self.cap(cfg.sep_L)
        for li, lt in enumerate(self.layers(L)):
            _, alpha, X, valid = self.weights(lt, L)
            for N in cfg.sep_Ns:
                if N >= L:
                    continue
                s = M.separability(alpha, X, valid, N, bounds=True)
                ok = s["row_ok"].expand_as(s["ratio"])
                m = {k: M.row_mean(s[k], ok) for k in ("ratio", "lower", "count_lower", "upper")}
                viol = (s["bound_violation"] & ok).sum(-1)
                rows += [dict(model=self.name, chunk=self.chunk, layer=li, head=h, L=L, N=N,
                              **{k: float(v[h]) for k, v in m.items()}, bound_violations=int(viol[h]),
                              n_rows=int(ok[h].sum()))
                         for h in range(alpha.shape[0])]
        return rows

    # ---- Fig. 4: g(T, eps) on each candidate logit matrix ------------------------------------------------------
    def gradient_rows(self, gen) -> list[dict]:
        """Alg. 5 of the paper for every candidate logit matrix of GRAD_LOGITS (the same random directions v for
        each): raw q.k ("raw", the paper's l = q.k with its own T), the model's scaled scores ("scaled", q.k/sqrt(d)),
        or the attention weights themselves ("probs").  Rows: every query row with >= 2 keys (grad_rows = 0) or
        grad_rows evenly spaced ones.  g_max = max over heads of the row-mean g (the paper's aggregate), g_mean =
        mean over heads of it, g_rowmax = max over heads and rows."""
        cfg = self.cfg
        L = self.cap(cfg.grad_L)
        first = 1 if self.lm.causal else 0
        pos = torch.arange(first, L) if cfg.grad_rows <= 0 or cfg.grad_rows >= L - first else \
            torch.linspace(max(first, min(8, L - 1)), L - 1, cfg.grad_rows).round().long().unique()
        acc = {c: ([], []) for c in GRAD_LOGITS}
        t_model = []
        for lt in self.layers(L):
            logits, alpha, _, valid = self.weights(lt, L)
            v = valid[:, pos]
            state = gen.get_state()
            for cand in GRAD_LOGITS:
                gen.set_state(state)                                      # the same directions v for each candidate
                src = {"raw": logits, "scaled": lt.scaling * logits, "probs": alpha}[cand]
                g = M.gradient_sensitivity(src[:, pos].double(), v, cfg.grad_Ts, cfg.grad_eps, gen)   # (E, T, H, R)
                check_finite(f"{self.name} gradient sensitivity ({cand})", g)
                acc[cand][0].append(g.mean(-1))                           # (E, T, H) token-averaged
                acc[cand][1].append(g.amax(-1))                           # (E, T, H) max over rows
            t_model.append(1.0 / lt.scaling)
        rows = []
        for cand, (means, maxes) in acc.items():
            gm, gx = torch.cat(means, dim=-1), torch.cat(maxes, dim=-1)   # (E, T, all heads)
            rows += [dict(model=self.name, chunk=self.chunk, logits=cand, T=T, eps=e, g_max=float(gm[ei, ti].max()),
                          g_mean=float(gm[ei, ti].mean()), g_rowmax=float(gx[ei, ti].max()),
                          n_heads=int(gm.shape[-1]), n_rows=int(len(pos)), T_model=float(np.mean(t_model)))
                     for ei, e in enumerate(cfg.grad_eps) for ti, T in enumerate(cfg.grad_Ts)]
        return rows

    # ---- beyond the paper: other normalizers on the same logits ----------------------------------------------
    def normalizer_rows(self) -> list[dict]:
        cfg, acc = self.cfg, {}
        L = self.cap(cfg.norm_L)
        for lt in self.layers(L):
            logits, _, X, valid = self.weights(lt, L)
            scores = lt.scaling * logits.double()
            Xd = X.double()
            for name in cfg.normalizers or tuple(available()):
                bias = torch.zeros((scores.shape[0], 1, 1), dtype=scores.dtype) if has_bias(name) else None
                a = attend(scores, name, head_dim=0, mask=valid.expand_as(scores), bias=bias)  # by declared axes
                check_finite(f"{self.name} {name} weights", a)
                n = valid.sum(-1)
                ok = n > max(cfg.norm_Ns)
                vals = {("L_max_alpha", 0): M.row_mean(a.amax(-1) * n, ok),
                        ("support_fraction", 0): M.row_mean((a > 0).sum(-1) / n.clamp_min(1), ok)}
                sweep = M.distance_sweep(a, Xd, valid, cfg.norm_Ns, bound=False)
                for N in cfg.norm_Ns:
                    d = sweep[N]
                    vals[("d_sum", N)] = M.row_mean(d["d_sum"], d["row_ok"])
                    vals[("d_sum_over_L", N)] = M.row_mean(d["d_sum"] / n.clamp_min(1), d["row_ok"])
                    s = M.separability(a, Xd, valid, N)
                    vals[("separability", N)] = M.row_mean(s["ratio"], s["row_ok"])
                for key, v in vals.items():
                    acc.setdefault((name,) + key, []).append(v)
        return [dict(model=self.name, chunk=self.chunk, normalizer=k[0], metric=k[1], N=k[2],
                     value=float(torch.cat(v).nanmean())) for k, v in acc.items()]


def run_model_task(cfg, model_name: str, chunk: int, parts=("distance", "separability", "gradient",
                                                               "normalizers")) -> dict[str, pd.DataFrame]:
    gen = lambda part: rng.torch_generator(cfg.seed, "model", model_name, chunk, part)  # noqa: E731
    run = ModelRun(cfg, model_name, chunk)
    out = {}
    if "distance" in parts:
        out["distance"] = pd.DataFrame(run.distance_rows(gen("distance")))
    if "separability" in parts:
        out["separability"] = pd.DataFrame(run.separability_rows())
    if "gradient" in parts:
        out["gradient"] = pd.DataFrame(run.gradient_rows(gen("gradient")))
    if "normalizers" in parts:
        out["normalizers"] = pd.DataFrame(run.normalizer_rows())
    return out
