"""The theory as pure functions (brief §3d, §4, §5d).  Tags: [paper] seen in the abstract/summary,
[secondary] the JMLR template (Taheri & Thrampoulidis 2024), [reconstruction] our derivation.

* logistic loss l(t) = log(1 + e^{-t}): |l'| <= l, 0 < l'' <= l, l'' <= 1/4                 [secondary]
* self-bounded weak convexity: lambda_min(hess L^) >= -(beta2 / sqrt(H)) L^,
  beta2 >= sqrt(H) max_i ||hess Phi(theta; X_i)||                                           [paper name; reconstruction]
* smoothness rho = G^2/4 + beta2/sqrt(H); GD needs eta <= 1/rho                            [reconstruction]
* hard-margin NTK margin gamma = max_{||w||=1} min_i y_i <grad Phi(theta0; X_i), w>          [paper; SVM dual here]
* realizability: theta_bar = theta0 + lambda theta*, lambda = 2 (log K + B0) / gamma;
  needs sqrt(H) >= beta2 lambda / gamma, i.e. H >= beta2^2 (log K + B0)^2 / gamma^4 * 4    [reconstruction §4e]
* training bound B(K) = a L^(theta_bar) + b ||theta_bar - theta0||^2 / (eta K), a = 2, b = 1 [reconstruction §4c]
* stability proxy for the gap: 4 G^2 (eta / n) sum_{k<K} L^(theta_k)                        [reconstruction §4d]
* U-only NTK margin under uniform attention (P0, sigma = 0): zeta S sqrt(T / 2)             [reconstruction §5c]
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize


def logistic(t):
    return np.logaddexp(0.0, -np.asarray(t, dtype=float))


def svm_dual_margin(G: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Hard-margin SVM without bias on a Gram matrix G (n, n) of features with labels y in {+-1}.

    Dual: max_{alpha >= 0} sum alpha - 1/2 alpha^T Q alpha, Q = (y y^T) * G, solved by scipy L-BFGS-B.
    The primal direction is w = sum_i alpha_i y_i phi_i; returns the margin of w / ||w||,
    gamma = min_i y_i (G (alpha y))_i / sqrt(alpha^T Q alpha)  (<= 0 when the data are not separable),
    and the coefficients c = alpha y / ||w|| so that theta* = J^T c (unit norm)."""
    G = np.asarray(G, dtype=float)
    y = np.asarray(y, dtype=float)
    Q = (y[:, None] * y[None, :]) * G
    n = len(y)

    def f(a):
        Qa = Q @ a
        return 0.5 * a @ Qa - a.sum(), Qa - 1.0

    res = optimize.minimize(f, np.zeros(n), jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * n,
                            options=dict(maxiter=20000, ftol=1e-15, gtol=1e-12, maxcor=50))
    a = res.x
    w2 = float(a @ Q @ a)
    if not (w2 > 0 and math.isfinite(w2)):
        return 0.0, np.zeros(n)
    c = a * y / math.sqrt(w2)
    margins = y * (G @ c)
    return float(margins.min()), c


def realizability_lambda(K: int, B0: float, gamma: float) -> float:
    """lambda = 2 (log K + B0) / gamma  [reconstruction §4e]."""
    return 2.0 * (math.log(K) + B0) / gamma


def heads_sufficient(beta2: float, K: int, B0: float, gamma: float) -> float:
    """Smallest H of the sufficient condition sqrt(H) >= beta2 lambda / gamma with lambda of §4e:
    H >= 4 beta2^2 (log K + B0)^2 / gamma^4  [reconstruction]."""
    return (beta2 * realizability_lambda(K, B0, gamma) / gamma) ** 2


def linearized_margin_floor(K: int, B0: float) -> float:
    """The linearized margin at theta_bar is >= -B0 + lambda gamma = 2 log K + B0 for every H."""
    return 2.0 * math.log(K) + B0


def training_bound(L_bar: float, dist2: float, eta: float, K: int, a: float = 2.0, b: float = 1.0) -> float:
    """B(K) = a L^(theta_bar) + b ||theta_bar - theta0||^2 / (eta K)  [reconstruction §4c]."""
    return a * L_bar + b * dist2 / (eta * K)


def stability_proxy(G_max: float, eta: float, n: int, sum_loss: float, c: float = 4.0) -> float:
    """c G^2 (eta / n) sum_{k<K} L^(theta_k)  [reconstruction §4d]."""
    return c * G_max ** 2 * eta / n * sum_loss


def smoothness(G: float, beta2: float, H: int) -> float:
    """rho = G^2/4 + beta2/sqrt(H), the bound on ||hess L^|| (logistic l'' <= 1/4, |l'| <= 1)."""
    return G ** 2 / 4.0 + beta2 / math.sqrt(H)


def uniform_attention_margin(zeta: float, S: float, T: int) -> float:
    """U-part NTK margin at W = 0 (uniform attention), sigma = 0, orthogonal means: zeta S sqrt(T/2)."""
    return zeta * S * math.sqrt(T / 2.0)


def ideal_attention_margin(S: float, T: int) -> float:
    """Margin if every head attended only to relevant tokens: S sqrt(T/2) (brief §5d)."""
    return S * math.sqrt(T / 2.0)
