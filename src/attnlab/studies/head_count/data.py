"""The tasks: the paper's sum-of-maxima target (Generator B) and the generalized D-retrieval class with
instances satisfying the theorems' assumptions (Generator A).

Generator B [paper Sec. 6.1, App. B.1.1]:  y = sum_{i=1..D} max_{t<=T} a_i^T x_t,  x_t ~ N(0, I_d) i.i.d.;
the a_i are fixed orthonormal vectors (D <= d) drawn from ``a_seed`` [reconstruction: the paper does not give
them; orthonormal so that the D features are distinct directions - unconstrained random unit vectors can be
nearly parallel, e.g. pairwise cosines -0.94, -0.93, +0.94 at D = 3, d = 4, which makes a D = 3 target nearly
two-dimensional].

Generator A [reconstruction, brief Sec. 4]: x_t ~ U[0,1]^d, f_i(x) = ||x - c_i||^2 / d (unique minimiser c_i,
Hessian (2/d) I, range [0, 1]), S_i a random subset of [T] of size >= ceil(T/4), F0(z) = sum_i w_i z_i with
w_i != 0.  z_bar_i(X) = min_{t in S_i} f_i(x_t),  H(X) = F0(z_bar(X))  [paper eqs. 8-9].
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ... import rng


def task_vectors(D: int, d: int, a_seed: int) -> np.ndarray:
    """(D, d) fixed vectors a_i [reconstruction]: for D <= d, orthonormal rows (Q of the QR decomposition of a
    (d, D) N(0, 1) matrix, signs fixed by diag(R) > 0: a Haar-random orthonormal frame); for D > d, where
    orthonormality is impossible, unit rows drawn from N(0, I_d) and normalised."""
    g = rng.numpy_rng(a_seed, "task_vectors", D, d)
    G = g.standard_normal((d, D))
    if D <= d:
        Q, R = np.linalg.qr(G)                        # Q (d, D) with orthonormal columns
        return (Q * np.sign(np.diag(R))).T            # (D, d)
    a = G.T
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def sum_of_maxima(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """y = sum_i max_t a_i^T x_t.   x: (B, T, d), a: (D, d) -> y: (B,)."""
    proj = x @ a.T                           # (B, T, D)
    return proj.amax(dim=1).sum(dim=1)       # (B,)


def make_dataset(n: int, T: int, d: int, a: np.ndarray, seed, dtype=torch.float32):
    """n sequences of Generator B: x (n, T, d) ~ N(0, I), y (n,). ``seed`` is a numpy seed (int or list)."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((n, T, d))).to(dtype)
    y = sum_of_maxima(x, torch.as_tensor(a, dtype=dtype))
    return x, y


def nmse(pred, y) -> float:
    """NMSE = mean((pred - y)^2) / Var(y) = 1 - R^2 (population variance) [paper App. B.1.1]."""
    pred = np.asarray(pred, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean((pred - y) ** 2) / np.var(y))


# ---- Generator A: generalized D-retrieval with the theorems' assumptions ------------------------------------
@dataclasses.dataclass(frozen=True)
class RetrievalInstance:
    """One generalized D-retrieval target H(X) = F0(min_{t in S_1} f_1(x_t), ..., min_{t in S_D} f_D(x_t))."""

    centres: np.ndarray      # (D, d) distinct interior minimisers c_i
    support: np.ndarray      # (D, T) bool, support[i, t] = t in S_i
    weights: np.ndarray      # (D,) w_i != 0, F0(z) = w . z

    @property
    def D(self) -> int:
        return self.centres.shape[0]

    @property
    def d(self) -> int:
        return self.centres.shape[1]

    @property
    def T(self) -> int:
        return self.support.shape[1]

    def features(self, x: np.ndarray) -> np.ndarray:
        """f_i(x_t) = ||x_t - c_i||^2 / d.   x: (B, T, d) -> (B, D, T) in [0, 1]."""
        diff = x[:, None, :, :] - self.centres[None, :, None, :]      # (B, D, T, d)
        return (diff ** 2).sum(-1) / self.d

    def z_bar(self, x: np.ndarray) -> np.ndarray:
        """z_bar_i = min_{t in S_i} f_i(x_t).   (B, T, d) -> (B, D)."""
        f = np.where(self.support[None], self.features(x), np.inf)
        return f.min(axis=-1)

    def target(self, x: np.ndarray) -> np.ndarray:
        """H(X) = F0(z_bar(X)) = sum_i w_i z_bar_i.   (B, T, d) -> (B,)."""
        return self.z_bar(x) @ self.weights


def make_retrieval_instance(D: int, d: int, T: int, seed, set_size: int | None = None) -> RetrievalInstance:
    """Random Generator-A instance: centres in [0.2, 0.8]^d at pairwise distance >= 0.1, S_i random subsets of
    size ``set_size`` (default ceil(T/4)), weights w_i = +-U[0.5, 1.5] (all nonzero: Assumption 2.4)."""
    rng = np.random.default_rng(seed)
    size = set_size if set_size is not None else -(-T // 4)
    if not (-(-T // 4) <= size <= T):
        raise ValueError(f"set_size must be in [ceil(T/4), T], got {size}")
    centres = []
    while len(centres) < D:
        c = rng.uniform(0.2, 0.8, d)
        if all(np.linalg.norm(c - o) >= 0.1 for o in centres):
            centres.append(c)
    support = np.zeros((D, T), dtype=bool)
    for i in range(D):
        support[i, rng.choice(T, size=size, replace=False)] = True
    weights = rng.uniform(0.5, 1.5, D) * rng.choice([-1.0, 1.0], D)
    return RetrievalInstance(np.array(centres), support, weights)


def uniform_inputs(B: int, T: int, d: int, seed) -> np.ndarray:
    """x_t ~ U[0,1]^d: (B, T, d) float64."""
    return np.random.default_rng(seed).uniform(0.0, 1.0, (B, T, d))
