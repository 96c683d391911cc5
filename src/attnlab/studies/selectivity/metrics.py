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
* d_main_A = |1 - 2N/n| ||o||, o = sum_i alpha_i x_i: reading (A)'s random-set main term          [reconstruction]
* separability N_s/N on unit-normalised vectors, r = min_{j notin I_N} ||alpha_j x_j - s||, a selected token
  counts when strictly closer to s than every non-selected token (tie rule)                          [paper]/[reconstruction]
* g(T, eps) = || softmax((l + eps v)/T) - softmax(l/T) ||_2 / eps, v a random unit vector on valid keys [paper]
"""
from __future__ import annotations

from typing import NamedTuple

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


class PrefixMax(NamedTuple):
    """Output of prefix_max_distance: ``sq`` (U, K_j, K_t) (or (U, K_j, 1) non-causal) squared prefix-max
    distances for the U distinct heads, ``head`` (B,) long: which of them head b uses (GQA heads share values)."""
    sq: torch.Tensor
    head: torch.Tensor


def prefix_max_distance(X: torch.Tensor, valid: torch.Tensor, causal: bool, block: int = 128) -> PrefixMax:
    """max_{i valid, i <= t} ||x_i - x_j||^2 for every key j and row position t (causal), or the max over all
    valid i (non-causal): *squared* (d1_upper_prefix takes the root of the few entries it reads).  Computed once per
    (layer, L) and reused by every N.  Heads with identical token vectors and key mask (grouped-query heads
    share values) are computed once.  |x_i|^2 + |x_j|^2 - 2 x_i.x_j comes from one GEMM per block of rows t;
    the prefix max over t is a running elementwise max of (U, K) rows."""
    B, K, _ = X.shape
    key_ok = valid.any(dim=-2)                                   # (B|1, K) keys valid in some row
    kb = lambda b: key_ok[min(b, key_ok.shape[0] - 1)]           # noqa: E731
    reps: list[int] = []
    head = []
    for b in range(B):                                           # distinct (X, key mask) heads
        u = next((u for u, c in enumerate(reps) if torch.equal(X[b], X[c]) and torch.equal(kb(b), kb(c))), None)
        if u is None:
            u = len(reps)
            reps.append(b)
        head.append(u)
    Xu = X[reps]                                                 # (U, K, dx)
    drop = torch.stack([~kb(c) for c in reps])[:, :, None]       # (U, K, 1) never-valid keys (dropped sinks) are no i
    drop = drop if bool(drop.any()) else None
    xsq = (Xu * Xu).sum(-1)                                      # (U, K)
    one = torch.ones_like(xsq)[..., None]
    Xa = torch.cat([Xu, xsq[..., None], one], -1)                # (U, K, dx + 2) [x, |x|^2, 1]
    XbT = torch.cat([-2.0 * Xu, one, xsq[..., None]], -1).transpose(-1, -2).contiguous()  # (U, dx + 2, K)

    def d2(t0, t1):                                              # (U, t1 - t0, K): rows i = t0..t1-1, cols j
        D2 = torch.bmm(Xa[:, t0:t1], XbT)                        # |x_i|^2 + |x_j|^2 - 2 x_i.x_j in one GEMM
        return D2 if drop is None else D2.masked_fill_(drop[:, t0:t1], 0.0)

    head = torch.tensor(head, dtype=torch.long, device=X.device)
    if not causal:
        sq = torch.stack([d2(t0, min(K, t0 + block)).amax(1) for t0 in range(0, K, block)], -1).amax(-1, keepdim=True)
        return PrefixMax(sq, head)
    PT = torch.empty((len(reps), K, K), dtype=X.dtype, device=X.device)  # (U, K_t, K_j)
    prev = torch.zeros((len(reps), K), dtype=X.dtype, device=X.device)
    for t0 in range(0, K, block):                               # row blocks stay in cache
        blk = d2(t0, min(K, t0 + block))
        for k in range(blk.shape[1]):
            prev = torch.maximum(prev, blk[:, k], out=PT[:, t0 + k])
    return PrefixMax(PT.transpose(1, 2), head)


def d1_upper_prefix(P: PrefixMax, idx: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
    """(B, R, N) an upper estimate of d1 = max_{i notin I_k, j in I_k} ||x_i - x_j|| for every prefix
    I_k = idx[..., :k], k = 1..N, of a selection sorted by falling weight (the top-k sets of a sweep over k): the
    max over j in I_k and *all* valid i <= t (a superset of the out-of-set, so Theorem 1 stays valid), by a
    running max along the selection.  P from prefix_max_distance; positions (R,): each row's absolute position
    (causal)."""
    b = P.head.to(idx.device)[:, None, None]
    t = torch.zeros_like(idx) if P.sq.shape[-1] == 1 else positions.to(idx.device)[None, :, None].expand_as(idx)
    return P.sq[b, idx, t].cummax(-1).values.clamp_min(0.0).sqrt()


def d1_exact(X: torch.Tensor, valid: torch.Tensor, sel: torch.Tensor, N: int) -> torch.Tensor:
    """(B, R) exact d1 by gathering the N selected rows of the (B, K, K) distance matrix (memory B*R*N*K)."""
    B, R, K = sel.shape
    xsq = (X * X).sum(-1)
    D = (xsq[:, :, None] + xsq[:, None, :] - 2.0 * X @ X.transpose(-1, -2)).clamp_min(0.0).sqrt()  # (B, K, K)
    idx = torch.topk(sel.to(X.dtype), N, dim=-1).indices         # (B, R, N): the selected keys
    Dj = torch.gather(D[:, None].expand(B, R, K, K), 2, idx[..., None].expand(B, R, N, K))  # (B, R, N, K)
    out = (valid & ~sel).expand(B, R, K)
    return (Dj * out[:, :, None, :]).flatten(-2).amax(-1)


def distance_metrics(alpha, X, valid, N: int, P=None, positions=None, bound=True, chunk_elems: int = 1 << 19) -> dict:
    """Top-N distances of every row at one N: d_sum, d_norm, d_main (and d_bound, d1 when bound) (B, R);
    row_ok, n (B|1, R); max_alpha (B, R).  See distance_sweep (this is its one-N case)."""
    return distance_sweep(alpha, X, valid, (N,), P=P, positions=positions, bound=bound, chunk_elems=chunk_elems)[N]


def distance_sweep(alpha, X, valid, Ns, P=None, positions=None, bound=True, chunk_elems: int = 1 << 19) -> dict:
    """Top-N distances of every row for every N of ``Ns``: {N: dict(d_sum, d_norm, d_main[, d_bound, d1],
    row_ok, n, max_alpha)}, each value (B, R) (row_ok, n: (B|1, R)).  d1 in the bound: exact when P is None,
    else the upper estimate from P = prefix_max_distance(...).

    The work that does not depend on N is done once for the whole sweep (the paper's protocol redoes it per N):
    rows are processed in chunks (about ``chunk_elems`` weights each, so temporaries stay in cache), each chunk
    only up to the last key any of its rows may attend (causal rows skip the future).  Per chunk: one top-max(Ns)
    selection (sorted, so the top-N set of every N is a prefix of it), the attention output o = A X and
    x_i . o for all rows and keys (one GEMM each), a_i^2 |x_i|^2, and the aggregates s_N of every N from one
    batched product of the selection's weights (masked to ranks < N) with the gathered selected vectors
    (memory ~ chunk_elems * dx * max(Ns) / K).  Per N: one GEMM x_i . s_N and
    ||a x_i - c||^2 = a (a |x_i|^2 - 2 x_i . c) + |c|^2 (clamped at 0) in place, for c = s_N (d_sum) and
    c = (N/n) o (d_main).  The out-of-set sum is the sum over valid keys minus the N selected ones (gathered)."""
    Ns = sorted({int(N) for N in Ns})
    if not Ns or Ns[0] < 1:
        raise ValueError(f"Ns must be positive integers, got {Ns}")
    B, R, K = alpha.shape
    dt, dev = alpha.dtype, alpha.device
    Nmax = Ns[-1]
    xsq = (X * X).sum(-1)                                        # (B, K)
    xnorm = xsq.sqrt()
    last = K - 1 - valid.any(0).flip(-1).to(torch.uint8).argmax(-1)  # (R,) last key any head of row r may attend
    Bv = valid.shape[0]
    n = torch.empty((Bv, R), dtype=torch.long, device=dev)
    names = ("d_sum", "d_norm", "d_main") + (("d_bound", "d1") if bound else ())
    res = {N: {k: torch.zeros((B, R), dtype=dt, device=dev) for k in names} for N in Ns}
    b_ix = torch.arange(B, device=dev)[:, None, None]
    Rc = max(1, min(R, chunk_elems // max(1, B * K)))
    vall = valid.all(0)                                          # (R, K) valid for every head
    first_bad = torch.where(vall.all(-1), K, (~vall).to(torch.uint8).argmax(-1))  # (R,) first key not always valid
    for r0 in range(0, R, Rc):
        r1 = min(R, r0 + Rc)
        k1 = max(int(last[r0:r1].max()) + 1, min(Nmax, K))       # keys [0, k1) cover every valid key here
        lo = min(int(first_bad[r0:r1].min()), k1)                # keys [0, lo) are valid for every row here
        v = valid[:, r0:r1, :k1]                                 # (B|1, Rc, Kc)
        nc = v.sum(-1)                                           # (B|1, Rc)
        n[:, r0:r1] = nc
        al = alpha[:, r0:r1, :k1]
        a, am = al.clone(), al.clone()                           # (B, Rc, Kc) weights, 0 / -1 off the valid keys
        if lo < k1:                                              # only keys >= lo can be invalid in this chunk
            bad = ~v[..., lo:]
            a[..., lo:].masked_fill_(bad, 0.0)
            am[..., lo:].masked_fill_(bad, -1.0)
        del al
        idx_all = torch.topk(am, min(Nmax, k1), dim=-1, sorted=True).indices  # (B, Rc, Nmax) by falling weight
        del am
        a_sel_all = a.gather(-1, idx_all)                        # (B, Rc, Nmax), 0 on invalid keys
        sel_ok_all = v.expand(B, -1, -1).gather(-1, idx_all)     # (B, Rc, Nmax) selected key is valid
        Xk = X[:, :k1]                                           # (B, Kc, dx)
        XkT = Xk.transpose(1, 2)
        o = torch.bmm(a, Xk)                                     # (B, Rc, dx) attention output
        A2X = a * a * xsq[:, None, :k1]                          # (B, Rc, Kc) a_i^2 |x_i|^2
        AXO = torch.bmm(o, XkT).mul_(a)                          # (B, Rc, Kc) a_i x_i . o
        oo = (o * o).sum(-1, keepdim=True)                       # (B, Rc, 1)
        m_all = {N: (nc - N).clamp_min(0).to(dt) for N in Ns}
        if bound:
            a_cum = a_sel_all.cumsum(-1)                         # abar_N = a_cum[..., N - 1]
            a2_cum = (a_sel_all * a_sel_all).cumsum(-1)
            a_tot, a2_tot = a.sum(-1), torch.linalg.vecdot(a, a)
            norm_cmax = xnorm[b_ix, idx_all].cummax(-1).values   # max_{j in I_N} ||x_j|| = norm_cmax[..., N - 1]
            if P is not None:
                d1_cmax = d1_upper_prefix(P, idx_all, None if positions is None else positions[r0:r1])
        Nc = [N for N in Ns if N <= idx_all.shape[-1]]          # N > k1: no row of this chunk has more keys
        Nm, Rn = idx_all.shape[-1], r1 - r0
        rank_in = torch.arange(Nm, device=dev) < torch.tensor(Nc, device=dev)[:, None]   # (G, Nmax) rank < N
        Xsel = X.reshape(B * K, -1).index_select(0, (idx_all + K * b_ix).reshape(-1))  # (B Rc Nmax, dx) selected x
        S = torch.bmm((a_sel_all[:, :, None, :] * rank_in).view(B * Rn, len(Nc), Nm),
                      Xsel.view(B * Rn, Nm, -1)).view(B, Rn, len(Nc), -1)                # (B, Rc, G, dx) s_N
        for g, N in enumerate(Nc):
            out = res[N]
            s = S[:, :, g]
            idx = idx_all[..., :N]
            m = m_all[N]
            # d_sum: sum over out-of-set keys of ||a x_i - s||
            Wd = torch.bmm(s * -2.0, XkT).mul_(a).add_(A2X).add_((s * s).sum(-1, keepdim=True))
            Wd.clamp_min_(0.0).sqrt_()
            if lo < k1:                                          # invalid keys (a = 0 there) contribute 0
                Wd[..., lo:].masked_fill_(~v[..., lo:], 0.0)
            d_sum = Wd.sum(-1) - (Wd.gather(-1, idx) * sel_ok_all[..., :N]).sum(-1)
            out["d_sum"][:, r0:r1] = torch.where(nc > N, d_sum, 0.0)   # n <= N: nothing is left out
            # d_main: ((n - N)/n) sum over valid keys of ||a x_i - (N/n) o||
            f = (N / nc.clamp_min(1).to(dt))[..., None]          # (B|1, Rc, 1)
            Wm = torch.addcmul(A2X, AXO, f, value=-2.0).add_(f * f * oo).clamp_min_(0.0).sqrt_()
            if lo < k1:
                Wm[..., lo:].masked_fill_(~v[..., lo:], 0.0)
            out["d_main"][:, r0:r1] = (m / nc.clamp_min(1)) * Wm.sum(-1)
            out["d_norm"][:, r0:r1] = (o - 2.0 * s).norm(dim=-1)  # sum_out alpha x - s = (o - s) - s
            if bound:
                abar = a_cum[..., N - 1]
                a_out = a_tot - abar
                sq_out = a2_tot - a2_cum[..., N - 1]
                maxnorm = norm_cmax[..., N - 1]
                if P is None:
                    sel = torch.zeros(a.shape, dtype=torch.bool, device=dev).scatter_(-1, idx, True) & v
                    d1 = d1_exact(Xk, v, sel, N)
                else:
                    d1 = d1_cmax[..., N - 1]
                out["d_bound"][:, r0:r1] = a_out * d1 + maxnorm * (m * (sq_out + 2.0 * abar * a_out + m * abar * abar)).clamp_min(0).sqrt()
                out["d1"][:, r0:r1] = d1
    max_alpha = alpha.amax(-1)
    for N in Ns:
        res[N].update(row_ok=n > N, n=n, max_alpha=max_alpha)
    return res


def mc_distance(alpha, X, valid, N: int, n_sets: int, gen: torch.Generator, both: bool = False):
    """(B, R) Monte-Carlo E[d_sum] over n_sets uniformly random N-subsets per row (rows with n > N).
    both=True: a dict {"B": E[d_sum], "A": E[d_norm]} (reading A: ||sum_out alpha_i x_i - s|| = ||o - 2 s||)
    from the same random subsets."""
    B, R, K = alpha.shape
    sel = random_n_mask(valid.expand(B, R, K), N, n_sets, gen)   # (S, B, R, K)
    a = alpha[None].expand(n_sets, B, R, K).transpose(0, 1).reshape(B, n_sets * R, K)
    v = valid.expand(B, R, K)[None].expand(n_sets, B, R, K).transpose(0, 1).reshape(B, n_sets * R, K)
    sl = sel.transpose(0, 1).reshape(B, n_sets * R, K)
    d = d_sum_given(a, X, v, sl).reshape(B, n_sets, R)
    if not both:
        return d.mean(1)
    o = (alpha * valid) @ X                                      # (B, R, dx) attention output
    s = ((a * sl) @ X).reshape(B, n_sets, R, -1)                 # (B, S, R, dx) random-set aggregates
    dA = (o[:, None] - 2.0 * s).norm(dim=-1)                     # (B, S, R)
    return {"B": d.mean(1), "A": dA.mean(1)}


def main_term_A(alpha, X, valid, N: int) -> torch.Tensor:
    """(B, R) reading (A)'s random-set main term [reconstruction]: the indicators and s replaced by their means,
    E[s] = (N/n) o and E[sum_out alpha_i x_i] = ((n - N)/n) o, so || ((n - N)/n) o - (N/n) o || = |1 - 2N/n| ||o||,
    o = sum_i alpha_i x_i (n = the row's number of valid keys)."""
    n = valid.sum(-1).clamp_min(1).to(alpha.dtype)               # (B|1, R)
    o = (alpha * valid) @ X
    return (1.0 - 2.0 * N / n).abs() * o.norm(dim=-1)


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
