"""Theory of the head-count study as pure functions (arXiv 2510.06662, Theorem 2, Sec. 6.1).

* ``bound_exponent``: the lower-bound exponent k(T, n, s, D) of Thm 2(2)            [paper]
* ``first_nonvacuous_T``: first T (multiple of 4) with k > 0                         [reconstruction: arithmetic]
* ``construction_attention``: the hand-built h = D, n = 2 attention of Thm 2(1)      [paper construction]
  and ``construction_bounds``: its error bookkeeping in beta                          [paper; lower side: ours]
* ``memorization_attention``: the one-wide-head construction of Thm 2(3)             [paper construction]
* ``reversal_score``: the weighted reversal score of Fig. 2e                         [paper]
* ``single_max_variance``: Monte Carlo Var(max_t g_t), g_t ~ N(0,1), for NMSE's normaliser [reconstruction]
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .data import RetrievalInstance
from .models import ClsQueryAttention


# ---- Thm 2(2): the lower bound ------------------------------------------------------------------------------
def bound_exponent(T: float, n: int, s: int, D: int) -> float:
    """k(T, n, s, D) = (T/4 - s - D + 1) / ((n + 1) s + 1) - 1: with s < D heads of width n, an eps-approximation
    needs Omega(eps^-k) FFN parameters [paper Thm 2(2)]; k <= 0 means the bound is vacuous."""
    return (T / 4 - s - D + 1) / ((n + 1) * s + 1) - 1


def first_nonvacuous_T(n: int, s: int, D: int, step: int = 4) -> int:
    """Smallest T, a multiple of ``step``, with k(T, n, s, D) > 0 [reconstruction: arithmetic].
    k > 0  <=>  T > 4 ((n+1) s + 1 + s + D - 1)."""
    threshold = 4 * ((n + 1) * s + 1 + s + D - 1)
    return (threshold // step + 1) * step


# ---- Thm 2(1): the h = D construction -----------------------------------------------------------------------
def construction_attention(inst: RetrievalInstance, beta: float) -> ClsQueryAttention:
    """The paper's h = D, n = 2 attention in float64, with the exact f_i in place of a fitted Psi:
    token block i is x_hat^(i)(t) = (f_i(x_t), r_i(t)), r_i(t) = 0 on S_i and -1 off it (E = 2D);
    W_K,i = [-1, 1] on block i (so the score is -f_i + r_i), W_Q,i c0 = (1, 0), W_V,i = I_2 on block i,
    W_O = I, no c0 skip.  Head i's first output coordinate is the Gibbs mean z_tilde_i of f_i."""
    D = inst.D
    E = 2 * D
    attn = ClsQueryAttention(E, D, 2, beta=beta, normalization="softmax", cls_skip=False).double()
    with torch.no_grad():
        attn.c0.zero_()
        attn.c0[0] = 1.0
        for p in (attn.W_Q, attn.W_K, attn.W_V):
            p.zero_()
        attn.W_O.copy_(torch.eye(E, dtype=torch.float64))
        for i in range(D):
            attn.W_Q[i, 0, 0] = 1.0                          # W_Q,i c0 = (1, 0)
            attn.W_K[i, 0, 2 * i], attn.W_K[i, 0, 2 * i + 1] = -1.0, 1.0
            attn.W_V[i, 0, 2 * i], attn.W_V[i, 1, 2 * i + 1] = 1.0, 1.0
    return attn


def construction_inputs(inst: RetrievalInstance, x: np.ndarray) -> torch.Tensor:
    """x (B, T, d) -> x_hat (B, T, 2D) with blocks (f_i(x_t), r_i(t))."""
    f = inst.features(x)                                    # (B, D, T)
    r = np.where(inst.support, 0.0, -1.0)                   # (D, T)
    blocks = np.stack([f, np.broadcast_to(r, f.shape)], axis=-1)   # (B, D, T, 2)
    return torch.from_numpy(np.ascontiguousarray(blocks.transpose(0, 2, 1, 3).reshape(x.shape[0], inst.T, -1)))


def construction_z_tilde(inst: RetrievalInstance, x: np.ndarray, beta: float) -> np.ndarray:
    """z_tilde (B, D): the construction's retrieved features (first coordinate of each head)."""
    with torch.no_grad():
        out = construction_attention(inst, beta)(construction_inputs(inst, x))   # (B, 2D)
    return out[:, 0::2].numpy()


def construction_bounds(inst: RetrievalInstance, z_bar: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) bounds on z_tilde_i - z_bar_i, shapes (B, D).
    upper = (|S_i| - 1)/(e beta) + T e^-beta  [paper Thm 2(1) proof]: each other token of S_i adds at most
    max_u u e^(-beta u) = 1/(e beta), each token off S_i has relative weight <= e^-beta and value <= 1.
    lower = -(T - |S_i|) e^(-beta (1 - z_bar_i)) z_bar_i  [reconstruction: tokens off S_i have relative weight
    <= e^(-beta (1 - z_bar_i)) and can pull the mean down by at most z_bar_i, since f >= 0]."""
    size = inst.support.sum(axis=1).astype(float)           # (D,)
    T = inst.T
    upper = (size - 1) / (math.e * beta) + T * math.exp(-beta)
    lower = -(T - size) * np.exp(-beta * (1.0 - z_bar)) * z_bar
    return lower, np.broadcast_to(upper, z_bar.shape)


# ---- Thm 2(3): memorization with one wide head --------------------------------------------------------------
def memorization_attention(T: int, d: int, seed: int, dtype=torch.float32) -> ClsQueryAttention:
    """One head of width n = T d, c0 = 0, random W_Q and W_K, W_V = W_O = I [paper Thm 2(3)]."""
    E = T * d
    g = torch.Generator().manual_seed(seed)
    attn = ClsQueryAttention(E, 1, E, beta=1.0, normalization="softmax", cls_skip=True).to(dtype)
    with torch.no_grad():
        attn.c0.zero_()
        attn.W_Q.copy_(torch.randn(1, E, E, generator=g, dtype=dtype))
        attn.W_K.copy_(torch.randn(1, E, E, generator=g, dtype=dtype))
        attn.W_V.copy_(torch.eye(E, dtype=dtype)[None])
        attn.W_O.copy_(torch.eye(E, dtype=dtype))
    return attn


def memorization_inputs(x: torch.Tensor) -> torch.Tensor:
    """P_phi(x_t, t) = e_t (x) x_t: x (B, T, d) -> (B, T, T d)."""
    B, T, d = x.shape
    eye = torch.eye(T, dtype=x.dtype)
    return (eye[None, :, :, None] * x[:, None, :, :]).reshape(B, T, T * d)   # row t holds x_t in block t


# ---- Fig. 2e: weighted reversal score -----------------------------------------------------------------------
def reversal_score(errors_by_T: dict[int, float]) -> float:
    """R = (1/w) sum_{T1 < T2} max(err(T1) - err(T2), 0), w = max_T err - min_T err [paper Fig. 2e].
    R > 0 iff some longer T has a smaller error. NaN with fewer than 2 lengths or w = 0."""
    Ts = sorted(errors_by_T)
    if len(Ts) < 2:
        return float("nan")
    err = np.array([errors_by_T[t] for t in Ts], dtype=float)
    w = err.max() - err.min()
    if not w > 0:
        return float("nan")
    diff = err[:, None] - err[None, :]                      # diff[i, j] = err(T_i) - err(T_j)
    upper = np.triu(np.ones_like(diff, dtype=bool), k=1)     # i < j  <=>  T_i < T_j
    return float(np.clip(diff[upper], 0, None).sum() / w)


# ---- NMSE's normaliser --------------------------------------------------------------------------------------
def variance_with_se(samples: np.ndarray) -> tuple[float, float]:
    """Sample variance and its standard error sqrt((m4 - var^2) / n)."""
    s = np.asarray(samples, dtype=np.float64)
    c = s - s.mean()
    var = float(np.mean(c ** 2))
    m4 = float(np.mean(c ** 4))
    return var, math.sqrt(max(m4 - var ** 2, 0.0) / s.size)


def single_max_variance(T: int, samples: int, seed) -> tuple[float, float]:
    """Var(max_{t<=T} g_t), g_t ~ N(0,1) i.i.d., by Monte Carlo, with its standard error."""
    rng = np.random.default_rng(seed)
    out, left = [], samples
    while left > 0:                                      # chunks keep memory at <= 4e6 floats
        m = min(left, max(1, 4_000_000 // T))
        out.append(rng.standard_normal((m, T)).max(axis=1))
        left -= m
    return variance_with_se(np.concatenate(out))
