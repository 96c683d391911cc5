"""Straightforward per-row reference implementations (Python loops over heads and rows, NumPy per row).

They follow the paper's per-row protocol (Algorithms 1-4) literally.  Used by the tests (the vectorized
kernels of metrics.py must agree with them) and by the benchmark (the baseline run beside the fast path).
"""
from __future__ import annotations

import numpy as np


def row_distances(a: np.ndarray, X: np.ndarray, N: int) -> dict:
    """One row: a (n,) weights over its n valid keys, X (n, dx).  Exact d1, all four distances.
    NumPy over the keys of the row; the loop is over rows (the paper's protocol)."""
    n = a.shape[0]
    order = np.argsort(-a, kind="stable")
    sel = np.zeros(n, dtype=bool)
    sel[order[:N]] = True
    out = ~sel
    Y = a[:, None] * X                                   # (n, dx) weighted tokens
    s = Y[sel].sum(0)
    d_sum = np.linalg.norm(Y[out] - s, axis=1).sum()
    d_norm = np.linalg.norm(Y[out].sum(0) - s)
    abar, a_out = a[sel].sum(), a[out].sum()
    d1 = np.linalg.norm(X[out][:, None, :] - X[sel][None, :, :], axis=-1).max()
    maxnorm = np.linalg.norm(X[sel], axis=1).max()
    m = n - N
    bound = a_out * d1 + maxnorm * np.sqrt(m * ((a[out] ** 2).sum() + 2 * abar * a_out + m * abar ** 2))
    o = Y.sum(0)
    main = (m / n) * np.linalg.norm(Y - (N / n) * o, axis=1).sum()
    return dict(d_sum=d_sum, d_norm=d_norm, d_bound=bound, d_main=main, d1=d1)


def row_separability(a: np.ndarray, X: np.ndarray, N: int) -> float:
    """One row: N_s/N on unit-normalised vectors, strict tie rule."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    order = np.argsort(-a, kind="stable")
    sel = order[:N]
    rest = order[N:]
    s = (a[sel, None] * Xn[sel]).sum(0)
    r = min(np.linalg.norm(a[j] * Xn[j] - s) for j in rest)          # literal loops: tests only
    return sum(1 for i in sel if np.linalg.norm(a[i] * Xn[i] - s) < r) / N


def layer_distances_loop(alpha: np.ndarray, X: np.ndarray, valid: np.ndarray, N: int, rows=None) -> np.ndarray:
    """(B, len(rows)) d_sum by a Python loop over heads and rows (the benchmark baseline)."""
    B, R, _ = alpha.shape
    rows = range(R) if rows is None else rows
    out = np.full((B, len(rows)), np.nan)
    for b in range(B):
        for k, r in enumerate(rows):
            keep = valid[min(b, valid.shape[0] - 1), r]
            if keep.sum() <= N:
                continue
            out[b, k] = row_distances(alpha[b, r, keep], X[b, keep], N)["d_sum"]
    return out
