"""The critical-N scan of one pretrained model at one context length L (one task per (model, L)): Fig. 2c.

Per text chunk (``crit_chunks``; 0 = every chunk of the text that holds the largest L), layer and head, the mean
over query rows of
* the true d~ under reading B (d_B) and A (d_A) and their random-set main terms (main_B, main_A: the paper's
  "expectation term of Theorem 1", Eq. 10 in its Alg. 3) on ``crit_rows`` rows (0 = every row 1..L-1);
* on ``crit_mc_rows`` evenly spaced rows: the true d~ of those rows (d_B_mc_rows, d_A_mc_rows) beside its
  Monte-Carlo expectation over ``mc_subsets`` random N-sets (mc_B, mc_A) and the Monte-Carlo standard error of
  that per-head mean (mc_B_se, mc_A_se) -- the same rows, so the two samples of a test describe the same rows.

Which N:
1. the grid ``critical_grid(L, crit_per_octave)`` (no point is a fixed fraction of L);
2. with ``crit_bisect``: a bisection on integer N.  The per-head means are pooled over the chunks and tested
   exactly as the analysis does (analysis.critical_tests: the paper's KS test and the paired Wilcoxon test, each
   reading, expectation "main", every level of ``ks_alphas``).  For every (reading, test, alpha) whose smallest
   accepting N (p > alpha) lies more than 1 above the largest scanned N below it, the bracket is cut by
   ~sqrt(width) evenly spaced integers, and again, until each such bracket is one apart.  The critical N of the
   analysis (the smallest scanned N that accepts) is then located to +-1: N - 1 was scanned and rejects.  The
   bisection points carry the main-term columns only (the Monte-Carlo expectation stays on the grid).

Causal models run once per chunk on its first L tokens (identical in exact arithmetic to truncating a longer
run); encoders on [CLS] + the first L - 2 tokens + [SEP].  The layers of every chunk are kept compact (q, k, v,
not the L x L logits) between the grid and the bisection rounds, so no forward pass is repeated.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ... import rng
from ...errors import UserError, check_finite
from . import metrics as M
from .data import load_text
from .pretrained import LayerTensors, chunk_ids, extract, load_model

MAIN_COLS = ("d_B", "d_A", "main_B", "main_A")
MC_COLS = ("d_B_mc_rows", "d_A_mc_rows", "mc_B", "mc_A", "mc_B_se", "mc_A_se")
MAX_ROUNDS = 12


def critical_grid(L: int, per_octave: int) -> list[int]:
    """The critical-N grid: N = round(2^(k / per_octave)), k = 0, 1, ..., every N < L, plus the points near L where
    the out-of-set size L - N is on its own geometric grid, L - N = round(2^(k / max(1, per_octave // 2))) for
    N >= 3L/4 (finer near N -> L, where the top-N and random-N distances meet on the offline models).  No point is
    a fixed fraction of L, so a critical N proportional to L is measured, not implied by the grid; the resolution
    is a factor 2^(1/per_octave) in N, and near L a factor 2^(1/(per_octave // 2)) in L - N."""
    kmax = int(math.ceil(per_octave * math.log2(max(L, 2))))
    low = {int(round(2 ** (k / per_octave))) for k in range(kmax + 1)}
    q = max(1, per_octave // 2)
    high = {L - int(round(2 ** (k / q))) for k in range(int(math.ceil(q * math.log2(max(L, 2)))) + 1)}
    return sorted((low | {N for N in high if N >= 0.75 * L}) & set(range(1, L)))


def valid_keys(L: int, causal: bool, sinks: str, special: str) -> torch.Tensor:
    """(1, L, L) keys each row may attend (causal prefix; sinks = "drop": key 0, and [SEP] of encoders, removed)."""
    v = torch.ones((L, L), dtype=torch.bool)
    if causal:
        v = torch.tril(v)
    if sinks == "drop":
        v[:, 0] = False
        if special == "cls_sep":
            v[:, L - 1] = False
    return v[None]


def bisection_points(scan: pd.DataFrame, alphas) -> list[int]:
    """The next integer N to scan: for each (model, L, reading, test, alpha) of expectation "main" whose smallest
    accepting scanned N (hi) lies more than 1 above the largest scanned N below it (lo), about sqrt(hi - lo) evenly
    spaced integers strictly inside (lo, hi) (every one of them when hi - lo <= 4).  Empty when every bracket is
    closed (or no N accepts, or the smallest scanned N accepts)."""
    from .analysis import TESTS, critical_tests

    tests = critical_tests(scan)
    tests = tests[tests["expectation"] == "main"]
    pts: set[int] = set()
    for _, g in tests.groupby(["model", "L", "reading"]):
        g = g.sort_values("N")
        for pcol in TESTS.values():
            for a in alphas:
                hit = g.loc[g[pcol] > a, "N"]
                if not len(hit):
                    continue
                hi = int(hit.min())
                below = g.loc[g["N"] < hi, "N"]
                if not len(below):
                    continue
                lo = int(below.max())
                w = hi - lo
                if w <= 1:
                    continue
                m = w - 1 if w <= 4 else max(1, int(round(math.sqrt(w))) - 1)
                pts |= {int(round(lo + j * w / (m + 1))) for j in range(1, m + 1)}
                pts -= {lo, hi}
    return sorted(pts - set(int(n) for n in scan["N"].unique()))


class CriticalScan:
    """One (model, L): the compact layers of every chunk, and the per-head row means at any set of N."""

    def __init__(self, cfg, model_name: str, L: int, lm=None):
        self.cfg, self.name = cfg, model_name
        self.lm = lm or load_model(model_name, seed=rng.derive_seed(cfg.seed, "model-init", model_name))
        wanted = set(cfg.Ls) | {cfg.L_fixed, cfg.sep_L, cfg.grad_L, cfg.norm_L}
        self.chunk_len = min(max(wanted), self.lm.max_len)                 # chunks as in the model tasks
        self.L = L
        self.chunks: list[list[LayerTensors]] = []
        text = load_text(cfg.text)
        while cfg.crit_chunks <= 0 or len(self.chunks) < cfg.crit_chunks:
            try:
                ids = chunk_ids(self.lm, text, L, len(self.chunks), self.chunk_len)
            except UserError:                                            # the text holds no further chunk
                if not self.chunks:
                    raise
                break
            self.chunks.append(extract(self.lm, ids, compact=True))
        self.pos = torch.arange(1, L) if cfg.crit_rows <= 0 or cfg.crit_rows >= L - 1 else \
            torch.linspace(1, L - 1, cfg.crit_rows).round().long().unique()
        self.mpos = torch.linspace(1, L - 1, max(1, min(cfg.crit_mc_rows, L - 1))).round().long().unique()

    def rows(self, Ns, with_mc: bool) -> list[dict]:
        """Per (chunk, layer, head, N): the row means (MAIN_COLS, and MC_COLS when with_mc and crit_mc_rows > 0)."""
        cfg, L, out = self.cfg, self.L, []
        Ns = sorted(set(int(n) for n in Ns))
        mc = with_mc and cfg.crit_mc_rows > 0
        for c, layers in enumerate(self.chunks):
            gen = rng.torch_generator(cfg.seed, "model", self.name, c, "critical", L)
            for li, compact in enumerate(layers):
                lt = compact.full()
                valid = valid_keys(L, lt.causal, cfg.sinks, self.lm.special)
                alpha = M.masked_softmax(lt.scaling * lt.logits, valid)      # (H, L, L) the model's own weights
                check_finite(f"{self.name} attention weights", alpha)
                X = lt.values
                del lt
                vals = {}
                sw = M.distance_sweep(alpha[:, self.pos], X, valid[:, self.pos], Ns, bound=False)
                for N in Ns:
                    d, ok = sw[N], sw[N]["row_ok"]
                    for col, key in zip(MAIN_COLS, ("d_sum", "d_norm", "d_main", "main_A")):
                        vals[(N, col)] = M.row_mean(d[key], ok)
                if mc:
                    a, v = alpha[:, self.mpos], valid[:, self.mpos]
                    sw = M.distance_sweep(a, X, v, Ns, bound=False)
                    est = M.mc_sweep(a, X, v, Ns, cfg.mc_subsets, gen)
                    for N in Ns:
                        ok = sw[N]["row_ok"].expand_as(sw[N]["d_sum"])
                        cnt = ok.sum(-1).clamp_min(1)
                        vals[(N, "d_B_mc_rows")] = M.row_mean(sw[N]["d_sum"], ok)
                        vals[(N, "d_A_mc_rows")] = M.row_mean(sw[N]["d_norm"], ok)
                        for r in ("B", "A"):
                            vals[(N, f"mc_{r}")] = M.row_mean(est[N][r], ok)
                            se = ((est[N][f"{r}_var"] * ok).sum(-1) / cfg.mc_subsets).sqrt() / cnt
                            vals[(N, f"mc_{r}_se")] = torch.where(ok.any(-1), se, float("nan"))
                cols = MAIN_COLS + (MC_COLS if mc else ())
                for N in Ns:
                    for h in range(alpha.shape[0]):
                        out.append(dict(model=self.name, chunk=c, layer=li, head=h, L=L, N=N,
                                        **{k: float(vals[(N, k)][h]) for k in cols}))
        return out


def scan_and_bisect(rows, grid, alphas, bisect: bool = True) -> pd.DataFrame:
    """The grid (with the Monte-Carlo columns), then the bisection rounds (bisection_points) until every bracket is
    closed (at most MAX_ROUNDS rounds).  rows(Ns, with_mc) -> list of per-head row dicts (CriticalScan.rows)."""
    df = pd.DataFrame(rows(grid, True))
    for _ in range(MAX_ROUNDS if bisect else 0):
        pts = bisection_points(df, alphas)
        if not pts:
            break
        df = pd.concat([df, pd.DataFrame(rows(pts, False))], ignore_index=True)
    return df.sort_values(["chunk", "layer", "head", "N"], kind="stable").reset_index(drop=True)


def run_critical_task(cfg, model_name: str, L: int) -> dict[str, pd.DataFrame]:
    """The critical-N scan of one model at one L over its text chunks: the grid, then (crit_bisect) the bisection
    rounds.  An L beyond the model's context (MiniLM: 512) gives an empty table."""
    lm = load_model(model_name, seed=rng.derive_seed(cfg.seed, "model-init", model_name))
    if L > lm.max_len:
        return {"critical_scan": pd.DataFrame(columns=["model", "chunk", "layer", "head", "L", "N", *MAIN_COLS])}
    scan = CriticalScan(cfg, model_name, L, lm=lm)
    df = scan_and_bisect(scan.rows, critical_grid(L, cfg.crit_per_octave), cfg.ks_alphas, cfg.crit_bisect)
    return {"critical_scan": df}
