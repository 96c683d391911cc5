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
    """Top-N distances of every row for every N of ``Ns``: {N: dict(d_sum, d_norm, d_main, main_A[, d_bound, d1],
    row_ok, n, max_alpha)}, each value (B, R) (row_ok, n: (B|1, R)).  d1 in the bound: exact when P is None,
    else the upper estimate from P = prefix_max_distance(...).  main_A = |1 - 2N/n| ||o|| (main_term_A).

    The work that does not depend on N is done once for the whole sweep (the paper's protocol redoes it per N):
    rows are processed in chunks (about ``chunk_elems`` weights each, so temporaries stay in cache), each chunk
    only up to the last key any of its rows may attend (causal rows skip the future).  Per chunk: one top-max(Ns)
    selection (sorted, so the top-N set of every N is a prefix of it) and each key's rank in it, the attention
    output o = A X and x_i . o for all rows and keys (one GEMM each) and a_i^2 |x_i|^2.  Per N, with the 0/1
    weights 1{rank < N} = clamp(N - rank, 0, 1) (floating-point arithmetic on small integers: exact): the aggregate
    s_N = (a 1{rank < N}) X and x_i . s_N (one GEMM each), ||a x_i - c||^2 = a^2 |x_i|^2 - 2 a x_i . c + |c|^2
    (clamped at 0) for c = s_N, summed over the keys of rank >= N (a dot product with the complementary 0/1
    weights: no subtraction, so no cancellation as N -> n; d_sum), and for c = (N/n) o summed over the valid keys
    (d_main).  Elementwise passes are fused where torch allows (addcmul, in-place ops); no boolean masks per N
    (masked_fill on a full row chunk costs more than the GEMM)."""
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
    names = ("d_sum", "d_norm", "d_main", "main_A") + (("d_bound", "d1") if bound else ())
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
        Nm, Rn = min(Nmax, k1), r1 - r0
        idx_all = torch.topk(am, Nm, dim=-1, sorted=True).indices  # (B, Rc, Nm) by falling weight
        del am
        # rank of every key in the selection (exact small integers in floating point): valid keys outside it rank
        # Nm, invalid keys -1 (inside every top-N set, with weight 0)
        rank = torch.full((B, Rn, k1), float(Nm), dtype=dt, device=dev)
        rank.scatter_(-1, idx_all, torch.arange(Nm, dtype=dt, device=dev).expand(B, Rn, Nm))
        if lo < k1:
            rank[..., lo:].masked_fill_(~v[..., lo:], -1.0)
        Xk = X[:, :k1]                                           # (B, Kc, dx)
        XkT = Xk.transpose(1, 2)
        o = torch.bmm(a, Xk)                                     # (B, Rc, dx) attention output
        A2X = a * a * xsq[:, None, :k1]                          # (B, Rc, Kc) a_i^2 |x_i|^2
        AXO = torch.bmm(o, XkT).mul_(a)                          # (B, Rc, Kc) a_i x_i . o
        oo = (o * o).sum(-1, keepdim=True)                       # (B, Rc, 1)
        onorm = oo[..., 0].sqrt()
        m_all = {N: (nc - N).clamp_min(0).to(dt) for N in Ns}
        if bound:
            a_sel_all = a.gather(-1, idx_all)                    # (B, Rc, Nm), 0 on invalid keys
            a_cum = a_sel_all.cumsum(-1)                         # abar_N = a_cum[..., N - 1]
            a2_cum = (a_sel_all * a_sel_all).cumsum(-1)
            a_tot, a2_tot = a.sum(-1), torch.linalg.vecdot(a, a)
            norm_cmax = xnorm[b_ix, idx_all].cummax(-1).values   # max_{j in I_N} ||x_j|| = norm_cmax[..., N - 1]
            if P is not None:
                d1_cmax = d1_upper_prefix(P, idx_all, None if positions is None else positions[r0:r1])
        Nc = [N for N in Ns if N <= Nm]                          # N > k1: no row of this chunk has more keys
        for N in Nc:
            out = res[N]
            inset = torch.sub(float(N), rank).clamp_(0.0, 1.0)  # 1 on the top-N set (rank < N), else 0
            s = torch.bmm(a * inset, Xk)                         # (B, Rc, dx) s_N = sum_{I_N} a_j x_j
            ss = (s * s).sum(-1, keepdim=True)
            m = m_all[N]
            # d_sum: sum over out-of-set keys (rank >= N) of ||a x_i - s||
            Wd = torch.addcmul(A2X, torch.bmm(s, XkT), a, value=-2.0).add_(ss).clamp_min_(0.0).sqrt_()
            d_sum = torch.linalg.vecdot(Wd, inset.neg_().add_(1.0))   # the out-of-set keys: rank >= N
            out["d_sum"][:, r0:r1] = torch.where(nc > N, d_sum, 0.0)   # n <= N: nothing is left out
            # d_main: ((n - N)/n) sum over valid keys of ||a x_i - (N/n) o||
            f = (N / nc.clamp_min(1).to(dt))[..., None]          # (B|1, Rc, 1)
            Wm = torch.addcmul(A2X, AXO, f, value=-2.0).add_(f * f * oo).clamp_min_(0.0).sqrt_()
            if lo < k1:
                Wm[..., lo:].masked_fill_(~v[..., lo:], 0.0)
            out["d_main"][:, r0:r1] = (m / nc.clamp_min(1)) * Wm.sum(-1)
            out["d_norm"][:, r0:r1] = (o - 2.0 * s).norm(dim=-1)  # sum_out alpha x - s = (o - s) - s
            out["main_A"][:, r0:r1] = (1.0 - 2.0 * f[..., 0]).abs() * onorm
            if bound:
                idx = idx_all[..., :N]
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


def mc_sweep(alpha, X, valid, Ns, n_sets: int, gen: torch.Generator, chunk_elems: int = 1 << 21) -> dict:
    """Monte-Carlo expectations over uniformly random N-subsets of each row's valid keys, for every N of ``Ns``:
    {N: dict(B, A, B_var, A_var)}, each (B, R): the means over ``n_sets`` random sets of reading B (d_sum) and
    reading A (||sum_out alpha_i x_i - s|| = ||o - 2 s||), and the variances over the sets of one set's value
    (ddof 1; the Monte-Carlo standard error of a row's mean is sqrt(var / n_sets)).  Rows with n <= N get 0.

    Nested random sets: per (set, row) one uniformly random order of the valid keys (shared by the heads when the
    key mask is) and I_N = its first N keys, so every I_N is a uniformly random N-subset and the estimates of
    different N share their random numbers (common random numbers: unbiased at every N, smoother in N).  Rows are
    processed in chunks up to their last valid key (causal rows skip the future); per N the passes of
    distance_sweep with the random order in place of the weight order: 0/1 set weights clamp(N - rank, 0, 1),
    s = (a 1{rank < N}) X and x_i . s (one GEMM each over all sets), and the out-of-set sum as a dot product."""
    Ns = sorted({int(N) for N in Ns})
    if not Ns or Ns[0] < 1:
        raise ValueError(f"Ns must be positive integers, got {Ns}")
    B, R, K = alpha.shape
    S, dt, dev = int(n_sets), alpha.dtype, alpha.device
    Bv = valid.shape[0]
    xsq = (X * X).sum(-1)                                        # (B, K)
    last = K - 1 - valid.any(0).flip(-1).to(torch.uint8).argmax(-1)  # (R,) last key any head of row r may attend
    res = {N: {k: torch.zeros((B, R), dtype=dt, device=dev) for k in ("B", "A", "B_var", "A_var")} for N in Ns}
    Rc = max(1, min(R, chunk_elems // max(1, B * S * K)))
    for r0 in range(0, R, Rc):
        r1 = min(R, r0 + Rc)
        Rn, k1 = r1 - r0, int(last[r0:r1].max()) + 1
        v = valid[:, r0:r1, :k1]                                 # (Bv, Rn, k1)
        nc = v.sum(-1)                                           # (Bv, Rn)
        a = alpha[:, r0:r1, :k1].masked_fill(~v, 0.0)            # (B, Rn, k1)
        u = torch.rand((Bv, S, Rn, k1), generator=gen, dtype=torch.float32).to(dev)
        u.masked_fill_(~v[:, None], -1.0)                        # invalid keys after every valid one
        order = torch.argsort(u, dim=-1, descending=True)
        rank = torch.empty((Bv, S, Rn, k1), dtype=dt, device=dev)
        rank.scatter_(-1, order, torch.arange(k1, dtype=dt, device=dev).expand(Bv, S, Rn, k1))
        del u, order
        rank.masked_fill_(~v[:, None], -1.0)                     # invalid keys: in every set, with weight 0
        Xk = X[:, :k1]
        XkT = Xk.transpose(1, 2)
        o = torch.bmm(a, Xk)                                     # (B, Rn, dx)
        A2X = (a * a * xsq[:, None, :k1])[:, None]               # (B, 1, Rn, k1)
        a4 = a[:, None]                                          # (B, 1, Rn, k1)
        for N in Ns:
            if N >= k1:                                          # no row of this chunk has more than N keys
                continue
            inset = torch.sub(float(N), rank).clamp_(0.0, 1.0)   # (Bv, S, Rn, k1) 1 on the random N-set
            W = (a4 * inset).view(B, S * Rn, k1)
            s = torch.bmm(W, Xk)                                 # (B, S Rn, dx)
            ss = (s * s).sum(-1, keepdim=True).view(B, S, Rn, 1)
            G = torch.bmm(s, XkT).view(B, S, Rn, k1)
            Wd = torch.addcmul(A2X, G, a4, value=-2.0).add_(ss).clamp_min_(0.0).sqrt_()
            dB = torch.linalg.vecdot(Wd, inset.neg_().add_(1.0))          # (B, S, Rn)
            dA = (o[:, None] - 2.0 * s.view(B, S, Rn, -1)).norm(dim=-1)   # (B, S, Rn)
            keep = (nc > N)[:, None].to(dt)                      # (Bv, 1, Rn)
            out = res[N]
            for name, d in (("B", dB), ("A", dA)):
                d = d * keep
                out[name][:, r0:r1] = d.mean(1)
                out[name + "_var"][:, r0:r1] = d.var(1) if S > 1 else 0.0
    return res


def mc_distance(alpha, X, valid, N: int, n_sets: int, gen: torch.Generator, both: bool = False):
    """(B, R) Monte-Carlo E[d_sum] over n_sets uniformly random N-subsets per row (rows with n > N; mc_sweep at
    one N).  both=True: a dict {"B": E[d_sum], "A": E[d_norm]} (reading A: ||sum_out alpha_i x_i - s|| =
    ||o - 2 s||) from the same random subsets."""
    r = mc_sweep(alpha, X, valid, (N,), n_sets, gen)[N]
    return {"B": r["B"], "A": r["A"]} if both else r["B"]


def main_term_A(alpha, X, valid, N: int) -> torch.Tensor:
    """(B, R) reading (A)'s random-set main term [reconstruction]: the indicators and s replaced by their means,
    E[s] = (N/n) o and E[sum_out alpha_i x_i] = ((n - N)/n) o, so || ((n - N)/n) o - (N/n) o || = |1 - 2N/n| ||o||,
    o = sum_i alpha_i x_i (n = the row's number of valid keys)."""
    n = valid.sum(-1).clamp_min(1).to(alpha.dtype)               # (B|1, R)
    o = (alpha * valid) @ X
    return (1.0 - 2.0 * N / n).abs() * o.norm(dim=-1)


def separability(alpha, X, valid, N: int, bounds: bool = False) -> dict:
    """N_s/N per row on unit-normalised token vectors (Assumption 1 with M = 1): ratio (B, R), row_ok, r.

    bounds=True adds Theorem 2's bounds in our reconstruction (brief section 3.4), per row, at the experiments'
    data-dependent radius r = min_{j notin I_N} ||alpha_j x_j - s|| (so every non-selected token is outside the ball):
      xi_i^2 = M^2 sum_{j in I\i} alpha_j^2 + (M^2 - delta^2/2) sum_{j != k in I\i} alpha_j alpha_k
             = (delta^2/2) Q_i + (M^2 - delta^2/2) A_i^2,  A_i = sum_{j in I\i} alpha_j, Q_i = sum_{j in I\i} alpha_j^2,
    delta = the smallest distance between two selected vectors of the row, M = 1.  Since <x_j, x_k> =
    M^2 - ||x_j - x_k||^2 / 2 <= M^2 - delta^2/2, X_i = ||s - alpha_i x_i|| = ||sum_{I\i} alpha_j x_j|| <= xi_i for
    *every* configuration, so a selected token with xi_i < r is counted, and
      count_lower = #{i: xi_i < r} / N  <=  N_s/N,   lower = 1 - sum_i xi_i / (N r)  <=  count_lower
    (1{xi < r} >= 1 - xi / r): the Markov / Cauchy-Schwarz form of the paper's lower bound holds row by row at this r
    (a consistency check; bound_violation: a row with fewer counted tokens than selected tokens with
    xi_i^2 < r^2 - tau_i, tau_i = 1e-5 (alpha_i + |s|)^2 in float32 (1e-12 in float64): the rounding of the
    expansion through which N_s is counted: at a tie alpha_j x_j = alpha_i x_i, N = 1, r and X_i are 0 up to
    rounding, and a relative slack on xi_i does not cover it; in such a row, r^2 <= max_i tau_i, the lower bound
    is 0/0 and is set to the trivial 0).  upper = (1/N) sum_i exp(-(xi_i - r)_+^2 / (2 M^2)) is the reconstructed Hoeffding form
    (X_i in [0, 2M]); it is *not* a valid bound (Hoeffding's upper tail on {X_i <= r} needs a lower estimate of
    E X_i, and xi_i is an upper one), so it is reported, not checked."""
    Xn = X / X.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n = valid.sum(-1)
    idx, sel = top_n(alpha, valid, N)
    out = valid & ~sel
    a_sel = alpha.gather(-1, idx)                                # (B, R, N)
    x_sel = _gather_rows(Xn, idx)                                # (B, R, N, dx)
    s = (a_sel[..., None] * x_sel).sum(-2)
    dist = _dist_to(alpha, Xn, (Xn * Xn).sum(-1), s)             # (B, R, K)
    r = dist.masked_fill(~out, float("inf")).amin(-1, keepdim=True)
    n_s = ((dist < r) & sel).sum(-1)
    res = dict(ratio=n_s.to(alpha.dtype) / N, row_ok=n > N, r=r[..., 0])
    if bounds:
        sq = (x_sel * x_sel).sum(-1)                             # (B, R, N) = 1 up to rounding
        d2 = sq[..., :, None] + sq[..., None, :] - 2.0 * (x_sel @ x_sel.transpose(-1, -2))   # (B, R, N, N)
        eye = torch.eye(N, dtype=torch.bool, device=alpha.device)
        delta2 = d2.clamp_min(0.0).masked_fill(eye, float("inf")).amin(-1).amin(-1) if N > 1 else \
            torch.zeros(a_sel.shape[:-1], dtype=alpha.dtype, device=alpha.device)        # (B, R)
        A = a_sel.sum(-1, keepdim=True) - a_sel                  # (B, R, N) sum over I \ i
        Q = (a_sel * a_sel).sum(-1, keepdim=True) - a_sel * a_sel
        h = (delta2 / 2.0)[..., None]
        xi = (h * Q + (1.0 - h) * A * A).clamp_min(0.0).sqrt()   # M = 1
        xs = xi.sum(-1)
        # rounding: N_s counts through the expansion a^2|x|^2 - 2a x.s + |s|^2, whose error is a few ulps of
        # (a_i + |s|)^2 (M = 1); a token is owed to the count only when xi_i^2 < r^2 - tau_i
        eps = 1e-5 if alpha.dtype == torch.float32 else 1e-12
        tau = eps * (a_sel + s.norm(dim=-1, keepdim=True)) ** 2  # (B, R, N)
        # at a radius within rounding of 0 (a non-selected token tied with a selected one: alpha_j x_j = alpha_i x_i)
        # the bound 1 - sum xi / (N r) is 0/0 and #{xi_i < r} is vacuous: the row's bound is the trivial 0
        vacuous = (r * r <= tau.amax(-1, keepdim=True))[..., 0]  # (B, R)
        lower = torch.where(xs > 0, 1.0 - xs / (N * r[..., 0]), 1.0)
        res.update(xi_mean=xi.mean(-1), delta=delta2.sqrt(),
                   count_lower=(xi < r).sum(-1).to(alpha.dtype) / N,
                   lower=torch.where(vacuous, torch.zeros_like(lower), lower),
                   upper=torch.exp(-(xi - r).clamp_min(0.0) ** 2 / 2.0).mean(-1),
                   bound_violation=n_s < (xi * xi < r * r - tau).sum(-1))
    return res


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
