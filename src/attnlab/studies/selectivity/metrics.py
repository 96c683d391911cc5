"""Selectivity metrics, vectorized over a batch (heads), query rows and keys: no per-row Python loops.

Shapes: B = batch (heads of a layer, or synthetic cases), R = query rows, K = keys, dx = token-vector dim.
Every function takes weights ``alpha`` (B, R, K) (zero on invalid keys), token vectors ``X`` (B, K, dx) and a
boolean ``valid`` (B or 1, R, K) = the keys row r may attend (causal prefix, minus dropped sinks).  A row with
n_r = #valid keys enters a top-N metric only when n_r > N (``row_ok``): with n_r <= N nothing is left out.

Definitions (brief ../shared/research/selectivity.md):
* top-N set I_N of a row: its N largest weights among valid keys                                     [paper]
* s = sum_{i in I_N} alpha_i x_i                                                                     [paper]
* d_sum  = sum_{i notin I_N} || alpha_i x_i - s ||          reading (B), primary                     [reconstruction]
* d_norm = || sum_{i notin I_N} alpha_i x_i - s ||           reading (A)                              [secondary]
* d_bound = a_out d1 + max_{j in I_N}||x_j|| sqrt((n-N)[sum_{out} alpha_i^2 + 2 abar a_out + (n-N) abar^2]),
  abar = sum_{I_N} alpha, a_out = sum_{out} alpha (= 1 - abar for simplex weights)    Theorem 1   [reconstruction]
* d_main = ((n-N)/n) sum_{i valid} || alpha_i x_i - (N/n) sum_j alpha_j x_j ||    random-set main term [reconstruction]
* d_mc   = Monte-Carlo mean of d_sum over uniformly random N-subsets of the valid keys               [paper]
* separability N_s/N on unit-normalised vectors, r = min_{j notin I_N} ||alpha_j x_j - s||, a selected token
  counts when strictly closer to s than every non-selected token (tie rule)                          [paper]/[reconstruction]
* g(T, eps) = || softmax((l + eps v)/T) - softmax(l/T) ||_2 / eps, v a random unit vector on valid keys [paper]
"""
from __future__ import annotations

import torch


def top_n(alpha: torch.Tensor, valid: torch.Tensor, N: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (B, R, N) and boolean mask (B, R, K) of the N largest weights of each row among its valid keys."""
    a = alpha.masked_fill(~valid, -1.0)                          # invalid keys never win
    idx = torch.topk(a, N, dim=-1).indices                       # (B, R, N)
    sel = torch.zeros(a.shape, dtype=torch.bool, device=a.device)
    sel.scatter_(-1, idx, True)
    return idx, sel & valid


def top_n_mask(alpha: torch.Tensor, valid: torch.Tensor, N: int) -> torch.Tensor:
    """(B, R, K) bool: the N largest weights of each row among its valid keys (needs K >= N)."""
    return top_n(alpha, valid, N)[1]


def _gather_rows(X: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """X (B, K, dx), idx (B, R, N) -> (B, R, N, dx): the selected token vectors of every row."""
    b = torch.arange(X.shape[0], device=X.device)[:, None, None]
    return X[b, idx]


def random_n_mask(valid: torch.Tensor, N: int, n_sets: int, gen: torch.Generator) -> torch.Tensor:
    """(S, B, R, K) bool: n_sets uniformly random N-subsets of the valid keys of each row."""
    u = torch.rand((n_sets,) + tuple(valid.shape), generator=gen, dtype=torch.float32)
    u = u.to(valid.device).masked_fill(~valid, -1.0)
    idx = torch.topk(u, N, dim=-1).indices
    sel = torch.zeros(u.shape, dtype=torch.bool, device=u.device)
    sel.scatter_(-1, idx, True)
    return sel & valid


def _dist_to(alpha, X, xsq, c):
    """(B, R, K) ||alpha_i x_i - c_r||, c: (B, R, dx); via alpha^2|x|^2 - 2 alpha <x, c> + |c|^2 (one matmul)."""
    ip = c @ X.transpose(-1, -2)                                 # (B, R, K)
    sq = alpha * alpha * xsq[:, None, :] - 2.0 * alpha * ip + (c * c).sum(-1, keepdim=True)
    return sq.clamp_min(0.0).sqrt()


def d_sum_given(alpha, X, valid, sel) -> torch.Tensor:
    """(B, R) reading (B) for a given selected set ``sel`` (B, R, K)."""
    s = (alpha * sel) @ X                                        # (B, R, dx)
    dist = _dist_to(alpha, X, (X * X).sum(-1), s)
    return (dist * (valid & ~sel)).sum(-1)


def prefix_max_distance(X: torch.Tensor, valid: torch.Tensor, causal: bool) -> torch.Tensor:
    """(B, K_j, K_t) max_{i valid, i <= t} ||x_i - x_j|| (causal) or (B, K_j, 1) max over all valid i.
    Computed once per (layer, L) and reused by every N."""
    xsq = (X * X).sum(-1)                                        # (B, K)
    D = (xsq[:, :, None] + xsq[:, None, :] - 2.0 * X @ X.transpose(-1, -2)).clamp_min(0.0).sqrt()  # (B, K, K)
    key_ok = valid.any(dim=-2)                                   # (B|1, K) keys valid in some row
    D = D * key_ok[:, None, :]                                   # never-valid keys (dropped sinks) are no i
    return torch.cummax(D, dim=-1).values if causal else D.amax(-1, keepdim=True)


def d1_upper(P: torch.Tensor, idx: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
    """(B, R) an upper estimate of d1 = max_{i notin I_N, j in I_N} ||x_i - x_j||: the max over j in I_N and
    *all* valid i <= t (a superset of the out-of-set, so Theorem 1 stays valid).  P from prefix_max_distance;
    idx (B, R, N) the selected keys; positions (R,): each row's absolute position (causal)."""
    b = torch.arange(P.shape[0], device=P.device)[:, None, None]
    t = torch.zeros_like(idx) if P.shape[-1] == 1 else positions.to(idx.device)[None, :, None].expand_as(idx)
    return P[b, idx, t].amax(-1)                                 # (B, R, N) -> (B, R)


def d1_exact(X: torch.Tensor, valid: torch.Tensor, sel: torch.Tensor, N: int) -> torch.Tensor:
    """(B, R) exact d1 by gathering the N selected rows of the (B, K, K) distance matrix (memory B*R*N*K)."""
    B, R, K = sel.shape
    xsq = (X * X).sum(-1)
    D = (xsq[:, :, None] + xsq[:, None, :] - 2.0 * X @ X.transpose(-1, -2)).clamp_min(0.0).sqrt()  # (B, K, K)
    idx = torch.topk(sel.to(X.dtype), N, dim=-1).indices         # (B, R, N): the selected keys
    Dj = torch.gather(D[:, None].expand(B, R, K, K), 2, idx[..., None].expand(B, R, N, K))  # (B, R, N, K)
    out = (valid & ~sel).expand(B, R, K)
    return (Dj * out[:, :, None, :]).flatten(-2).amax(-1)


def distance_metrics(alpha, X, valid, N: int, P=None, positions=None, bound=True) -> dict:
    """Top-N distances of every row: d_sum, d_norm, d_main (and d_bound when bound) (B, R); row_ok (B|1, R).
    d1 in the bound: exact when P is None, else the upper estimate from P = prefix_max_distance(...)."""
    n = valid.sum(-1)                                            # (B|1, R)
    idx, sel = top_n(alpha, valid, N)                            # (B, R, N), (B, R, K)
    out = valid & ~sel
    xsq = (X * X).sum(-1)                                        # (B, K)
    a_sel = alpha.gather(-1, idx)                                # (B, R, N) selected weights
    s = (a_sel[..., None] * _gather_rows(X, idx)).sum(-2)        # (B, R, dx)
    o = (alpha * valid) @ X                                      # (B, R, dx) attention output
    d_sum = (_dist_to(alpha, X, xsq, s) * out).sum(-1)
    d_norm = (o - 2.0 * s).norm(dim=-1)                          # sum_out alpha x - s = (o - s) - s
    m = (n - N).clamp_min(0).to(alpha.dtype)
    frac = (N / n.clamp_min(1).to(alpha.dtype))[..., None]       # (B|1, R, 1)
    d_main = (m / n.clamp_min(1)) * (_dist_to(alpha, X, xsq, frac * o) * valid).sum(-1)
    res = dict(d_sum=d_sum, d_norm=d_norm, d_main=d_main, row_ok=n > N, n=n, max_alpha=alpha.amax(-1))
    if bound:
        aw = alpha * valid
        abar = a_sel.sum(-1)
        a_out = aw.sum(-1) - abar
        sq_out = (aw * aw).sum(-1) - (a_sel * a_sel).sum(-1)
        b = torch.arange(X.shape[0], device=X.device)[:, None, None]
        maxnorm = xsq.sqrt()[b, idx].amax(-1)                    # max_{j in I_N} ||x_j||
        d1 = d1_exact(X, valid, sel, N) if P is None else d1_upper(P, idx, positions)
        res["d_bound"] = a_out * d1 + maxnorm * (m * (sq_out + 2.0 * abar * a_out + m * abar * abar)).clamp_min(0).sqrt()
        res["d1"] = d1
    return res


def mc_distance(alpha, X, valid, N: int, n_sets: int, gen: torch.Generator) -> torch.Tensor:
    """(B, R) Monte-Carlo E[d_sum] over n_sets uniformly random N-subsets per row (rows with n > N)."""
    B, R, K = alpha.shape
    sel = random_n_mask(valid.expand(B, R, K), N, n_sets, gen)   # (S, B, R, K)
    a = alpha[None].expand(n_sets, B, R, K).transpose(0, 1).reshape(B, n_sets * R, K)
    v = valid.expand(B, R, K)[None].expand(n_sets, B, R, K).transpose(0, 1).reshape(B, n_sets * R, K)
    sl = sel.transpose(0, 1).reshape(B, n_sets * R, K)
    d = d_sum_given(a, X, v, sl).reshape(B, n_sets, R)
    return d.mean(1)


def separability(alpha, X, valid, N: int) -> dict:
    """N_s/N per row on unit-normalised token vectors (Assumption 1 with M = 1): ratio (B, R), row_ok."""
    Xn = X / X.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n = valid.sum(-1)
    idx, sel = top_n(alpha, valid, N)
    out = valid & ~sel
    s = (alpha.gather(-1, idx)[..., None] * _gather_rows(Xn, idx)).sum(-2)
    dist = _dist_to(alpha, Xn, (Xn * Xn).sum(-1), s)             # (B, R, K)
    r = dist.masked_fill(~out, float("inf")).amin(-1, keepdim=True)
    n_s = ((dist < r) & sel).sum(-1)
    return dict(ratio=n_s.to(alpha.dtype) / N, row_ok=n > N, r=r[..., 0])


def masked_softmax(z: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """softmax over valid keys (invalid keys get exactly 0)."""
    z = z.masked_fill(~valid, float("-inf"))
    return torch.softmax(z, dim=-1).nan_to_num(0.0)


def gradient_sensitivity(logits, valid, Ts, eps, gen: torch.Generator) -> torch.Tensor:
    """g (E, T, B, R) = ||softmax((l + e v)/T) - softmax(l/T)|| / e for every eps e and temperature T.
    logits (B, R, K) (float64 recommended); v: one random unit vector per row on its valid keys."""
    B, R, K = logits.shape
    valid = valid.expand(B, R, K)
    v = torch.randn((B, R, K), generator=gen, dtype=logits.dtype).to(logits.device) * valid
    v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    T = torch.as_tensor(Ts, dtype=logits.dtype, device=logits.device)[:, None, None, None]   # (T, 1, 1, 1)
    base = masked_softmax(logits[None] / T, valid)               # (T, B, R, K)
    out = []
    for e in eps:                                                # a handful of eps values, not rows
        pert = masked_softmax((logits + e * v)[None] / T, valid)
        out.append((pert - base).norm(dim=-1) / e)               # (T, B, R)
    return torch.stack(out)


def row_mean(x: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    """(B,) mean of x (B, R) over rows where ok (B|1, R); NaN when no row qualifies."""
    ok = ok.expand_as(x)
    cnt = ok.sum(-1)
    return torch.where(cnt > 0, (x * ok).sum(-1) / cnt.clamp_min(1), torch.full_like(x[..., 0], float("nan")))
