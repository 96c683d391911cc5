"""The task: shift-by-one copy on i.i.d. uniform one-hot tokens, and its sufficient statistics.

Target at position t is the previous token, y_t = e_{x_{t-1}} (cyclic: y_0 = e_{x_{L-1}}).  Boundary switch:
cyclic (L target rows) | drop_first (rows t >= 1) | causal (rows t >= 1 and attention over s <= t).
[secondary: the task; reconstruction: the boundary handling]

Sufficient statistics (brief 5.2, exact for this model):
    C[s, s'] = sum_mu e_{x_s^mu} e_{x_s'^mu}^T         shape (L, L, V, V)
"""
from __future__ import annotations

import numpy as np
import torch


def target_rows(L: int, boundary: str) -> np.ndarray:
    """Query positions t that carry a target (their previous position is (t - 1) mod L)."""
    return np.arange(L) if boundary == "cyclic" else np.arange(1, L)


def attention_mask(L: int, boundary: str, device="cpu") -> torch.Tensor | None:
    """(L, L) boolean mask (True = may attend) or None."""
    if boundary == "causal":
        return torch.ones(L, L, dtype=torch.bool, device=device).tril()
    return None


def sample_tokens(P: int, L: int, V: int, seed) -> np.ndarray:
    """(P, L) int tokens i.i.d. uniform over V symbols from `seed`: a numpy Generator (the study passes
    attnlab.rng.numpy_rng streams) or an int for numpy's PCG64."""
    return np.random.default_rng(seed).integers(0, V, size=(P, L))


def one_hot(tokens: np.ndarray, V: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """(P, L) tokens -> (P, L, V) one-hot."""
    t = torch.as_tensor(tokens, device=device, dtype=torch.long)
    return torch.nn.functional.one_hot(t, V).to(dtype)


def statistics(tokens: np.ndarray, V: int, dtype=torch.float64, device="cpu", chunk: int = 8192) -> torch.Tensor:
    """C (L, L, V, V) with C[s, s', i, j] = #{mu : x_s = i, x_s' = j}: X^T X over chunks of sequences
    (cost P (LV)^2, memory chunk L V)."""
    P, L = tokens.shape
    G = torch.zeros(L * V, L * V, dtype=dtype, device=device)
    for i in range(0, P, chunk):
        X = one_hot(tokens[i:i + chunk], V, dtype, device).reshape(-1, L * V)   # (chunk, L*V)
        G += X.T @ X
    return G.reshape(L, V, L, V).permute(0, 2, 1, 3).contiguous()


def statistics_naive(tokens: np.ndarray, V: int) -> np.ndarray:
    """Reference loop for `statistics` (tests only)."""
    P, L = tokens.shape
    C = np.zeros((L, L, V, V))
    for mu in range(P):
        for s in range(L):
            for s2 in range(L):
                C[s, s2, tokens[mu, s], tokens[mu, s2]] += 1
    return C
