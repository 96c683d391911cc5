"""Theory of arXiv 2508.17821 as pure functions (tags as in ../shared/research/selectivity.md).

The distance bound of Theorem 1 and the random-set main term are computed row-wise in metrics.py (same
formulas, batched); this module holds the closed forms used by the synthetic checks and the figures.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def corollary1_bounds(L: int, delta: float, T: float) -> tuple[float, float]:
    """Softmax weights with |l_i| <= Delta = ||q|| max_i ||k_i||: e^{-2 Delta/T}/L <= alpha_i <= e^{2 Delta/T}/L.
    [secondary] (Corollary 1; Delta over several keys is [reconstruction])."""
    return math.exp(-2 * delta / T) / L, math.exp(2 * delta / T) / L


def lemma1_constants(F, a: float) -> tuple[float, float]:
    """Lemma 1 constants for a positive length-independent F on logits in [-a, a] [paper]; explicit form
    C1 = min F / max F, C2 = 1 / C1 [reconstruction].  F must be monotone (min/max at the ends)."""
    lo, hi = float(F(-a)), float(F(a))
    c1 = min(lo, hi) / max(lo, hi)
    return c1, 1.0 / c1


def softmax_jacobian(alpha: torch.Tensor, T: float) -> torch.Tensor:
    """J = (diag alpha - alpha alpha^T) / T, batched over leading dims: (..., K) -> (..., K, K)  [reconstruction,
    standard]."""
    return (torch.diag_embed(alpha) - alpha[..., :, None] * alpha[..., None, :]) / T


def jacobian_spectral_bound(T: float) -> float:
    """||J||_2 <= 1/(2T), equality for a tied top two (Gershgorin on the symmetric J) [reconstruction];
    the printed min{1/(4T), sqrt 2} [secondary] bounds the diagonal entries alpha_i(1 - alpha_i)/T only."""
    return 1.0 / (2.0 * T)


def printed_bound(T: float) -> float:
    """The bound printed in the paper (Corollary 3, Fig. 4 dashed): min{1/(4T), sqrt(2)} [secondary, paper]."""
    return min(1.0 / (4.0 * T), math.sqrt(2.0))


def sqrt5_pair(eps: float, K: int = 8, c: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two logit vectors sqrt(5) eps apart whose top two swap order: (c+eps, c, rest) vs (c-eps, c+eps, rest);
    rest = c - 1, c - 2, ... [reconstruction of the paper's example]."""
    rest = c - 1.0 - np.arange(K - 2)
    l1 = np.concatenate([[c + eps, c], rest])
    l2 = np.concatenate([[c - eps, c + eps], rest])
    return l1, l2


def multihead_coverage(p, H):
    """Fraction covered by H independent heads each separating a fraction p: 1 - (1 - p)^H [paper]."""
    return 1.0 - (1.0 - np.asarray(p, dtype=float)) ** np.asarray(H, dtype=float)
