"""Theory of the copy transition: the action F in the order parameters and the transition locator.

All formulas are [reconstruction] (research brief, sections 5.3-5.5), written for the cyclic boundary
(``n_rows`` target rows per sequence, n = P * n_rows targets).  Notation:

    g = n / V,   c = kappa * V / sigma_w2                                              (brief 5.3, 5.1)
    E_data  = (1/2kappa) [ n - (V-1) g^2 m^2 / (c + g q) - g^2 rho^2 / (c + g r) ]      (brief 5.4)
    E_Occam = (V/2) [ (V-1) ln(1 + g q / c) + ln(1 + g r / c) ]                          (brief 5.4)

Softmax ansatz (copy logit a, all others 0):
    m = 1 / (1 + (L-1) e^{-a}),  q = m^2 + (1-m)^2/(L-1),  r = rho = 1,  prior = L * a^2 * L / (2 sigma_a2)
Linear ansatz (copy logit a, the others Gaussian with variance b2 = x sigma_a2 / L):
    m = rho = a,  q = r = a^2 + L b2,  prior = L^2 a^2/(2 sigma_a2) + (L^2/2) (x - ln x - 1)

Everything is vectorized numpy over broadcastable arrays of P, a and x.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize


@dataclasses.dataclass(frozen=True)
class Hyper:
    """Hyperparameters of the theory: V, L, kappa, sigma_w2, sigma_a2; boundary (which rows carry a target and
    how many keys each row sees); ansatz of the softmax logits (one_parameter | shift_invariant)."""

    V: int = 8
    L: int = 32
    kappa: float = 1.0
    sigma_w2: float = 1.0
    sigma_a2: float = 1.0
    rows: int | None = None  # legacy override of the number of target rows (default: from the boundary)
    boundary: str = "cyclic"
    ansatz: str = "one_parameter"

    @property
    def n_rows(self) -> int:
        if self.rows is not None:
            return self.rows
        return self.L if self.boundary == "cyclic" else self.L - 1

    @property
    def keys(self) -> np.ndarray:
        """Keys seen by each target row: L (cyclic, drop_first) or t + 1 for rows t = 1..L-1 (causal mask)."""
        if self.boundary == "causal":
            return np.arange(2, self.L + 1, dtype=float)
        return np.full(self.n_rows, float(self.L))

    @property
    def c(self) -> float:
        return self.kappa * self.V / self.sigma_w2


# ---- the action ------------------------------------------------------------------------------------------
def energy_terms(P, m, q, r, rho, h: Hyper):
    """(E_data, E_Occam) for arrays P, m, q, r, rho (broadcast). [reconstruction, brief 5.4]"""
    n = np.asarray(P, dtype=float) * h.n_rows
    g = n / h.V
    c = h.c
    e_data = (n - (h.V - 1) * g**2 * m**2 / (c + g * q) - g**2 * rho**2 / (c + g * r)) / (2 * h.kappa)
    e_occam = 0.5 * h.V * ((h.V - 1) * np.log1p(g * q / c) + np.log1p(g * r / c))
    return e_data, e_occam


def _key_groups(h_or_L):
    """(distinct key counts k, weight of each = fraction of target rows) for a Hyper or an int L (cyclic)."""
    if isinstance(h_or_L, Hyper):
        k, w = np.unique(h_or_L.keys, return_counts=True)
        return k, w / w.sum()
    return np.array([float(h_or_L)]), np.array([1.0])


def softmax_order_params(a, L):
    """(m, q) of the one-parameter softmax ansatz at copy-logit gap a (copy logit minus the others), averaged
    over target rows: a row with k keys has p = 1/(1 + (k-1) e^{-a}), q_row = p^2 + (1-p)^2/(k-1).
    ``L`` is an int (L keys per row, the cyclic case) or a Hyper (its boundary's keys).  [reconstruction]"""
    a = np.asarray(a, dtype=float)
    k, w = _key_groups(L)
    ae = a[..., None]
    p = 1.0 / (1.0 + (k - 1) * np.exp(-ae))
    qr = p**2 + (1.0 - p) ** 2 / (k - 1)
    return (p * w).sum(-1), (qr * w).sum(-1)


def softmax_prior_factor(h: Hyper) -> float:
    """Prior cost of the softmax ansatz = factor * L a^2 / (2 sigma_a2) (a: the copy-logit gap).
    one_parameter: copy logit a, the others 0 -> factor = number of target rows.  shift_invariant (softmax is
    unchanged by a constant added to a row): copy logit a (k-1)/k, the others -a/k, the cheapest logits with
    gap a -> factor = sum over target rows of (k-1)/k.  [reconstruction]"""
    if h.ansatz == "shift_invariant":
        return float(np.sum((h.keys - 1) / h.keys))
    return float(h.n_rows)


def softmax_action(P, a, h: Hyper):
    """F(a; P) = prior + E_data + E_Occam for the softmax ansatz (cyclic one_parameter: L^2 a^2/(2 sigma_a2)
    + ...). [reconstruction]"""
    a = np.asarray(a, dtype=float)
    m, q = softmax_order_params(a, h)
    e_data, e_occam = energy_terms(P, m, q, 1.0, 1.0, h)
    return softmax_prior_factor(h) * h.L * a**2 / (2 * h.sigma_a2) + e_data + e_occam


def linear_order_params(a, x, L: int, sigma_a2: float, kbar: float | None = None):
    """(m, q, r, rho) of the linear ansatz; b2 = x sigma_a2 / L; kbar = mean keys per row (default L).
    [reconstruction]"""
    a = np.asarray(a, dtype=float)
    b2 = np.asarray(x, dtype=float) * sigma_a2 / L
    q = a**2 + (L if kbar is None else kbar) * b2
    return a, q, q, a


def _kbar(h: Hyper) -> float:
    return float(np.mean(h.keys))


def linear_action(P, a, x, h: Hyper):
    """F(a, x; P), x = b2 L / sigma_a2, for the linear ansatz: prior R L a^2/(2 sigma_a2) + (N/2)(x - ln x - 1)
    with R target rows and N = sum of their keys (cyclic: L^2 a^2/(2 sigma_a2) + (L^2/2)(...)). [reconstruction]"""
    x = np.asarray(x, dtype=float)
    m, q, r, rho = linear_order_params(a, x, h.L, h.sigma_a2, _kbar(h))
    e_data, e_occam = energy_terms(P, m, q, r, rho, h)
    prior = (h.n_rows * h.L * np.asarray(a, dtype=float) ** 2 / (2 * h.sigma_a2)
             + 0.5 * float(np.sum(h.keys)) * (x - np.log(x) - 1.0))
    return prior + e_data + e_occam


def a_bound(P, h: Hyper) -> float:
    """Any minimizer has L^2 a^2/(2 sigma_a2) <= n/(2 kappa) (E_data is in [0, n/2kappa]): a <= this."""
    f = min(softmax_prior_factor(h), float(h.n_rows)) if h.ansatz == "shift_invariant" else float(h.n_rows)
    return math.sqrt(h.sigma_a2 * float(P) * h.n_rows / (h.kappa * h.L * f)) + 1e-9


# ---- softmax: minima, spinodals, Maxwell point ----------------------------------------------------------------
def softmax_minima(P: float, h: Hyper, n_grid: int = 4001) -> list[tuple[float, float]]:
    """Local minima [(a, F)] of F(a; P), sorted by a: grid search then bounded refinement."""
    hi = a_bound(P, h)
    if h.boundary == "causal":   # one key group per row: a coarser grid (the minima are refined below anyway)
        n_grid = min(n_grid, 1001)
    a = np.linspace(0.0, hi, n_grid)
    F = softmax_action(P, a, h)
    idx = np.where((F[1:-1] < F[:-2]) & (F[1:-1] <= F[2:]))[0] + 1
    out = []
    for i in idx:
        res = optimize.minimize_scalar(lambda t: float(softmax_action(P, t, h)), bounds=(a[i - 1], a[i + 1]),
                                       method="bounded", options={"xatol": 1e-10})
        out.append((float(res.x), float(res.fun)))
    if F[0] < F[1]:  # boundary minimum at a = 0 (does not occur for softmax: dF/da(0) < 0)
        out.insert(0, (0.0, float(F[0])))
    return out


def _bisect_count(f_count, lo: float, hi: float, n_lo: int, iters: int = 40) -> float:
    """Geometric bisection for the P where f_count(P) stops being n_lo."""
    for _ in range(iters):
        mid = math.sqrt(lo * hi)
        if f_count(mid) == n_lo:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def _refine_at_jump(h: Hyper, P_grid: np.ndarray, n_fine: int = 40) -> np.ndarray:
    """Add a fine sub-grid around the largest jump of the global minimizer a(P) (a coexistence window can be
    narrower than the coarse grid's step)."""
    a = np.array([min(softmax_minima(P, h, n_grid=1001), key=lambda t: t[1])[0] for P in P_grid])
    i = int(np.argmax(np.diff(a)))
    lo, hi = P_grid[max(i - 1, 0)], P_grid[min(i + 2, len(P_grid) - 1)]
    return np.unique(np.concatenate([P_grid, np.geomspace(lo, hi, n_fine)]))


def locate_softmax(h: Hyper, P_grid: np.ndarray) -> dict:
    """Global minimizer on the P grid, number of minima, spinodals and Maxwell point P*. [reconstruction 5.5]

    Returns dict: rows (list of per-P dicts: P, a, m, q, residual, n_minima, F), P_star, P_spinodal_low,
    P_spinodal_high, P_cross, and at P*: a_low, a_high, m_low, m_high, residual_low, residual_high.  The
    one-parameter and shift-invariant ansatze minimize over one gap a (the grid refined around the jump
    first); the per-row ansatz over one gap per target row (a reported as their mean)."""
    if h.ansatz == "per_row":
        return locate_first_order(np.asarray(P_grid, dtype=float), lambda P: rows_minima(P, h),
                                  lambda a: (float(a.mean()), *rows_order_params(a, h)))

    def summary(a):
        m, q = softmax_order_params(a, h)
        return a, float(m), float(q)
    return locate_first_order(_refine_at_jump(h, np.asarray(P_grid, dtype=float)), lambda P: softmax_minima(P, h),
                              summary)


def locate_first_order(P_grid: np.ndarray, minima, summary) -> dict:
    """The transition locator shared by the softmax ansatze.  ``minima(P)``: the local minima [(x, F)] of the
    action at P, sorted from the uniform side to the copy side (x: the ansatz's parameters); ``summary(x)``:
    (a, m, q) of a minimum.  On the grid: the global minimizer and the number of minima; the spinodals by
    geometric bisection where the count changes from 1 to 2 and back; P* where F(copy minimum) = F(uniform
    minimum), bracketed by the grid's downward sign change of that difference inside the window with the
    largest drop (else the whole window), then Brent's method in ln P.  [reconstruction 5.5]"""
    rows, counts = [], []
    for P in P_grid:
        mins = minima(P)
        x_best, F_best = min(mins, key=lambda t: t[1])
        a, m, q = summary(x_best)
        rows.append(dict(P=float(P), a=a, m=m, q=q, residual=float(1 - m**2 / q), n_minima=len(mins), F=F_best))
        counts.append(len(mins))
    counts = np.array(counts)
    out = dict(rows=rows, P_star=math.nan, P_spinodal_low=math.nan, P_spinodal_high=math.nan,
               P_cross=steepest_rise([r["P"] for r in rows], [r["m"] for r in rows]))
    two = np.where(counts >= 2)[0]
    if two.size == 0:
        return out
    count = lambda P: min(len(minima(P)), 2)  # noqa: E731
    i0, i1 = two[0], two[-1]
    out["P_spinodal_low"] = (_bisect_count(lambda P: 1 if count(P) < 2 else 2, P_grid[i0 - 1], P_grid[i0], 1)
                             if i0 > 0 else math.nan)
    out["P_spinodal_high"] = (_bisect_count(count, P_grid[i1], P_grid[i1 + 1], 2)
                              if i1 + 1 < len(P_grid) else math.nan)

    def delta_F(P):  # F(copy minimum) - F(uniform minimum) inside the window; the side's sign outside it
        mins = minima(P)
        if len(mins) < 2:
            return -1.0 if P > P_grid[i1] else 1.0
        return mins[-1][1] - mins[0][1]

    inside = P_grid[two]
    d = np.array([delta_F(P) for P in inside])
    sign = np.where(np.diff(np.sign(d)) < 0)[0]
    if d[0] < 0 or d[-1] > 0 or sign.size == 0:  # Maxwell point not bracketed by the grid: the whole window
        lo = out["P_spinodal_low"] * (1 + 1e-9) if math.isfinite(out["P_spinodal_low"]) else P_grid[i0]
        hi = out["P_spinodal_high"] * (1 - 1e-9) if math.isfinite(out["P_spinodal_high"]) else P_grid[i1]
        try:
            P_star = math.exp(optimize.brentq(lambda lp: delta_F(math.exp(lp)), math.log(lo), math.log(hi),
                                              xtol=1e-10))
        except (ValueError, TypeError):
            return out
    else:   # the crossing with the largest drop of the difference: near a spinodal the two minima almost
        #     coincide and their difference can wander about 0 by the minimizer's tolerance (per-row ansatz)
        j = int(sign[np.argmax(d[sign] - d[sign + 1])])
        P_star = math.exp(optimize.brentq(lambda lp: delta_F(math.exp(lp)), math.log(inside[j]),
                                          math.log(inside[j + 1]), xtol=1e-12))
    out["P_star"] = P_star
    mins = minima(P_star)
    for tag, (x, _) in (("low", mins[0]), ("high", mins[-1])):
        a, m, q = summary(x)
        out[f"a_{tag}"], out[f"m_{tag}"], out[f"residual_{tag}"] = a, float(m), float(1 - m**2 / q)
    return out


def steepest_rise(P, m) -> float:
    """P of the steepest rise of m per ln P on a grid (geometric midpoint of the steepest interval): the
    crossover point when there is no coexistence window (at a jump it is P*)."""
    P, m = np.asarray(P, float), np.asarray(m, float)
    if len(P) < 2:
        return math.nan
    order = np.argsort(P)
    P, m = P[order], m[order]
    keep = np.concatenate([[True], np.diff(np.log(P)) > 1e-9])   # drop repeated grid points
    P, m = P[keep], m[keep]
    i = int(np.argmax(np.diff(m) / np.diff(np.log(P))))
    return float(math.sqrt(P[i] * P[i + 1]))


def softmax_barriers(P: float, h: Hyper) -> tuple[float, float]:
    """Barrier heights (nats) of F(a; P) along the ansatz path inside the coexistence window: (F(saddle) -
    F(uniform minimum), F(saddle) - F(copy minimum)); (nan, nan) with a single minimum.  A lower bound on
    the time scale exp(barrier) of a chain's escape, up to the path's entropy.  [reconstruction]"""
    if h.ansatz == "per_row":   # no one-dimensional path: not defined
        return math.nan, math.nan
    mins = softmax_minima(P, h)
    if len(mins) < 2:
        return math.nan, math.nan
    (a0, F0), (a1, F1) = mins[0], mins[-1]
    res = optimize.minimize_scalar(lambda t: -float(softmax_action(P, t, h)), bounds=(a0, a1), method="bounded",
                                   options={"xatol": 1e-10})
    top = -float(res.fun)
    return top - F0, top - F1


# ---- linear: profile over x, curvature at a = 0, onset P_c, exponent ---------------------------------------------
X_BOUNDS = (1e-10, 50.0)
_GOLD = (math.sqrt(5.0) - 1.0) / 2.0


def _energy_grads(P, m, q, r, rho, h: Hyper):
    """Partial derivatives (E_m, E_q, E_r, E_rho) of E_data + E_Occam (analytic, vectorized)."""
    g = np.asarray(P, dtype=float) * h.n_rows / h.V
    c, k, V = h.c, h.kappa, h.V
    dq, dr = c + g * q, c + g * r
    E_m = -(V - 1) * g**2 * m / (k * dq)
    E_rho = -(g**2) * rho / (k * dr)
    E_q = (V - 1) * g**3 * m**2 / (2 * k * dq**2) + 0.5 * V * (V - 1) * g / dq
    E_r = g**3 * rho**2 / (2 * k * dr**2) + 0.5 * V * g / dr
    return E_m, E_q, E_r, E_rho


def linear_grad(P, a, x, h: Hyper):
    """(dF/da, dF/dx) of the linear action (analytic; q = r = a^2 + x sigma_a2, m = rho = a)."""
    kbar = _kbar(h)
    m, q, r, rho = linear_order_params(a, x, h.L, h.sigma_a2, kbar)
    E_m, E_q, E_r, E_rho = _energy_grads(P, m, q, r, rho, h)
    dF_da = h.n_rows * h.L * np.asarray(a, float) / h.sigma_a2 + E_m + E_rho + 2 * np.asarray(a, float) * (E_q + E_r)
    dF_dx = (0.5 * float(np.sum(h.keys)) * (1.0 - 1.0 / np.asarray(x, float))
             + h.sigma_a2 * kbar / h.L * (E_q + E_r))
    return dF_da, dF_dx


def linear_x_star(P: float, a, h: Hyper, n_x: int = 200, iters: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """x*(a) = argmin_x F(a, x; P) for an array of a: coarse grid in ln x, then vectorized golden section.
    Returns (x*, F(a, x*))."""
    a = np.atleast_1d(np.asarray(a, dtype=float))
    lx = np.linspace(math.log(X_BOUNDS[0]), math.log(X_BOUNDS[1]), n_x)
    F = linear_action(P, a[:, None], np.exp(lx)[None, :], h)
    j = F.argmin(axis=1)
    lo, hi = lx[np.maximum(j - 1, 0)], lx[np.minimum(j + 1, n_x - 1)]
    f = lambda t: linear_action(P, a, np.exp(t), h)  # noqa: E731
    c1, c2 = hi - _GOLD * (hi - lo), lo + _GOLD * (hi - lo)
    f1, f2 = f(c1), f(c2)
    for _ in range(iters):
        left = f1 < f2
        hi = np.where(left, c2, hi)
        lo = np.where(left, lo, c1)
        c2n = np.where(left, c1, lo + _GOLD * (hi - lo))
        c1n = np.where(left, hi - _GOLD * (hi - lo), c2)
        c1, c2 = c1n, c2n
        f1, f2 = f(c1), f(c2)
    x = np.exp(0.5 * (lo + hi)) if iters else np.exp(lx[j])
    return x, linear_action(P, a, x, h)


def linear_x_star_scalar(P: float, a: float, h: Hyper) -> float:
    """x*(a) for one a: coarse bracket, then the root of dF/dx (brentq; precise to ~1e-13 relative)."""
    x0 = float(linear_x_star(P, a, h, iters=0)[0][0])
    lo, hi = x0 * math.exp(-0.3), min(x0 * math.exp(0.3), X_BOUNDS[1])
    grad = lambda x: float(linear_grad(P, a, x, h)[1])  # noqa: E731
    if grad(lo) > 0 or grad(hi) < 0:
        return float(linear_x_star(P, a, h)[0][0])
    return optimize.brentq(grad, lo, hi, xtol=1e-300, rtol=1e-13)


def linear_profile(P: float, a, h: Hyper) -> tuple[np.ndarray, np.ndarray]:
    """Profile f(a) = min_x F(a, x; P) on an array of a: returns (f, x*)."""
    x, f = linear_x_star(P, a, h)
    return f, x


def linear_curvature(P: float, h: Hyper) -> float:
    """d^2F/da^2 at a = 0 with x at its optimum (a = 0 is stationary; F is even in a):
    R L/sigma_a2 - V g (g/kappa - V) / (c + g kbar b2) (cyclic: L^2/sigma_a2 - V g (g/kappa - V)/(c + g L b2)).
    [reconstruction]"""
    x0 = linear_x_star_scalar(P, 0.0, h)
    g = P * h.n_rows / h.V
    b2 = x0 * h.sigma_a2 / h.L
    return h.n_rows * h.L / h.sigma_a2 - h.V * g * (g / h.kappa - h.V) / (h.c + g * _kbar(h) * b2)


def _stationary_a(P: float, h: Hyper, lo: float, hi: float) -> float:
    """Root of (dF/da)(a, x*(a)) / a in (lo, hi) (envelope theorem: the profile's slope)."""
    def slope(a):
        x = linear_x_star_scalar(P, a, h)
        return float(linear_grad(P, a, x, h)[0]) / a
    return optimize.brentq(slope, lo, hi, xtol=1e-14, rtol=1e-12)


def linear_minimum(P: float, h: Hyper, n_a: int = 401) -> tuple[float, float, float, int]:
    """Global minimizer (a >= 0, x) of the linear action and the number of local minima of the profile
    on a >= 0 (a = 0 counts when the profile rises away from it): (a, x, F, n_minima)."""
    grid = np.linspace(0.0, a_bound(P, h), n_a)
    f, x = linear_profile(P, grid, h)
    n_min = int(np.sum((f[1:-1] < f[:-2]) & (f[1:-1] <= f[2:]))) + int(f[0] < f[1])
    i = int(f.argmin())
    if i == 0:
        return 0.0, float(x[0]), float(f[0]), n_min
    try:
        a = _stationary_a(P, h, grid[i - 1] if i > 1 else grid[1] * 1e-6, grid[min(i + 1, n_a - 1)])
    except ValueError:
        a = float(grid[i])
    x_a = linear_x_star_scalar(P, a, h)
    return a, x_a, float(linear_action(P, a, x_a, h)), n_min


def locate_linear(h: Hyper, P_grid: np.ndarray, n_fit: int = 12, fit_span: float = 1.3) -> dict:
    """Global minimizer on the P grid, onset P_c (curvature at a = 0 changes sign) and the points
    a*(P) for P in (P_c, fit_span P_c) for the exponent fit a ~ (P - P_c)^beta.  [reconstruction 5.4-5.5]"""
    rows = []
    for P in P_grid:
        a, x, F, n_min = linear_minimum(P, h)
        m, q, _, _ = linear_order_params(a, x, h.L, h.sigma_a2, _kbar(h))
        rows.append(dict(P=float(P), a=a, m=float(m), q=float(q), residual=float(1 - m**2 / q),
                         n_minima=n_min, F=F, b2=x * h.sigma_a2 / h.L))
    curv = np.array([linear_curvature(P, h) for P in P_grid])
    out = dict(rows=rows, P_c=math.nan, onset=[])
    neg = np.where(curv < 0)[0]
    if neg.size == 0 or neg[0] == 0:
        return out
    j = neg[0]
    P_c = math.exp(optimize.brentq(lambda lp: linear_curvature(math.exp(lp), h), math.log(P_grid[j - 1]),
                                   math.log(P_grid[j]), xtol=1e-14))
    out["P_c"] = P_c
    for P in P_c * (1 + np.geomspace(1e-3, fit_span - 1, n_fit)):
        a, _, _, _ = linear_minimum(float(P), h)
        out["onset"].append(dict(P=float(P), P_minus_Pc=float(P - P_c), a=a))
    return out


def fit_power(x, y) -> tuple[float, float]:
    """Least-squares slope of ln y on ln x and its standard error."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    A = np.vstack([lx, np.ones_like(lx)]).T
    coef, res, *_ = np.linalg.lstsq(A, ly, rcond=None)
    n = len(lx)
    if n <= 2:
        return float(coef[0]), math.inf
    resid = ly - A @ coef
    s2 = float(resid @ resid) / (n - 2)
    se = math.sqrt(s2 / float(((lx - lx.mean()) ** 2).sum()))
    return float(coef[0]), se


def maxwell_leading_order(h: Hyper) -> float:
    """Leading-order Maxwell point P* ~ kappa L ln^2 L / (4 sigma_a2) (brief 5.4). [reconstruction]"""
    return h.kappa * h.L * math.log(h.L) ** 2 / (4 * h.sigma_a2)


# ---- convenience for the study ------------------------------------------------------------------------------
def P_grid(h: Hyper, p_min: float, p_max: float, n: int) -> np.ndarray:
    """Log grid of P with P / L in [p_min, p_max]."""
    return np.geomspace(p_min * h.L, p_max * h.L, n)


def reference_points(h: Hyper, attention: str, p_min: float = 0.05, p_max: float = 500.0, n: int = 60) -> dict:
    """softmax: P_star, P_spinodal_low, P_spinodal_high; linear: P_c (cheap: curvature root only)."""
    grid = P_grid(h, p_min, p_max, n)
    if attention == "softmax":
        out = locate_softmax(h, grid)
        return {k: out[k] for k in ("P_star", "P_spinodal_low", "P_spinodal_high", "P_cross")}
    curv = np.array([linear_curvature(P, h) for P in grid])
    neg = np.where(curv < 0)[0]
    if neg.size == 0 or neg[0] == 0:
        return {"P_c": math.nan}
    j = neg[0]
    return {"P_c": math.exp(optimize.brentq(lambda lp: linear_curvature(math.exp(lp), h), math.log(grid[j - 1]),
                                            math.log(grid[j]), xtol=1e-14))}


def reference_P(ref: dict, attention: str) -> float:
    """softmax: P* (the crossover P_cross when there is no coexistence window); linear: P_c."""
    if attention == "softmax":
        return ref["P_star"] if math.isfinite(ref["P_star"]) else ref.get("P_cross", math.nan)
    return ref["P_c"]


def linear_map_onset(h: Hyper) -> float:
    """P at which the joint MAP of (S, W) (what Adam finds) leaves S = 0, W = 0 for linear attention, from the
    data-averaged objective: the copy mode S = a shift, W = w I couples through -n a w, the weight decays are
    gamma_A = kappa L/sigma_a2 on R copy entries and gamma_W = kappa V/sigma_w2 on the V diagonal entries of W,
    so the Hessian at 0 turns indefinite when n^2 / V > gamma_A R gamma_W, i.e.
    P_MAP = kappa V sqrt(L / R) / (sigma_a sigma_w)   (cyclic: kappa V, whatever L).  [reconstruction]"""
    return h.kappa * h.V * math.sqrt(h.L / h.n_rows) / math.sqrt(h.sigma_a2 * h.sigma_w2)


def global_minimum(P: float, h: Hyper, attention: str) -> dict:
    """Global minimizer's a, m, q, residual (and the number of local minima) at one P."""
    if attention == "softmax" and h.ansatz == "per_row":
        mins = rows_minima(P, h)
        a_vec, _ = min(mins, key=lambda t: t[1])
        m, q = rows_order_params(a_vec, h)
        a, n_min = float(a_vec.mean()), len(mins)
    elif attention == "softmax":
        mins = softmax_minima(P, h)
        a, _ = min(mins, key=lambda t: t[1])
        m, q = softmax_order_params(a, h)
        n_min = len(mins)
    else:
        a, x, _, n_min = linear_minimum(P, h)
        m, q, _, _ = linear_order_params(a, x, h.L, h.sigma_a2, _kbar(h))
    return dict(a=float(a), m=float(m), q=float(q), residual=float(1 - m**2 / q), n_minima=n_min)


def landscape(P: float, h: Hyper, attention: str, n_a: int = 241) -> tuple[np.ndarray, np.ndarray]:
    """(a, F(a) - min F) at one P: softmax F(a); linear the profile min_x F(a, x), a in [-a_max, a_max]."""
    hi = min(a_bound(P, h), 2.0 * math.log(h.L) + 2.0)
    if attention == "softmax":
        a = np.linspace(0.0, hi, n_a)
        F = softmax_action(P, a, h)
    else:
        hi = min(a_bound(P, h), 1.5)
        a = np.linspace(-hi, hi, n_a)
        F, _ = linear_profile(P, a, h)
    return a, F - F.min()


# ---- per-row softmax ansatz (mask-aware: each target row its own copy gap a_t) ----------------------------------
def rows_action_and_grad(P: float, a: np.ndarray, h: Hyper) -> tuple[float, np.ndarray]:
    """F(a_1..a_R; P) = sum_t L a_t^2/(2 sigma_a2) + E_data(m, q) + E_Occam(m, q), m and q the row averages of
    p_t = 1/(1 + (k_t - 1) e^{-a_t}) and p_t^2 + (1 - p_t)^2/(k_t - 1) (r = rho = 1), and its gradient.
    Under a causal mask the rows differ (k_t = t + 1 keys), so one common a is not the best logit pattern.
    [reconstruction]"""
    k = h.keys
    p = 1.0 / (1.0 + (k - 1) * np.exp(-np.clip(a, -50.0, 50.0)))
    qr = p**2 + (1 - p) ** 2 / (k - 1)
    R = len(k)
    m, q = p.mean(), qr.mean()
    e_data, e_occam = energy_terms(P, m, q, 1.0, 1.0, h)
    E_m, E_q, _, _ = _energy_grads(P, m, q, 1.0, 1.0, h)
    dp = p * (1 - p)
    grad = h.L * a / h.sigma_a2 + (E_m * dp + E_q * (2 * p - 2 * (1 - p) / (k - 1)) * dp) / R
    return float(h.L * (a**2).sum() / (2 * h.sigma_a2) + e_data + e_occam), grad


def _rows_descend(P: float, a: np.ndarray, h: Hyper, box: float = 0.3, max_boxes: int = 200) -> tuple[np.ndarray, float]:
    """Local minimum of the per-row action reached from `a` without leaving its basin: L-BFGS-B inside a box
    of half-width `box` around the current point, re-centred until the minimum lies inside the box."""
    f = lambda x: rows_action_and_grad(P, x, h)  # noqa: E731
    for _ in range(max_boxes):
        bounds = list(zip(a - box, a + box))
        res = optimize.minimize(f, a, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 2000})
        at_edge = np.any(np.abs(res.x - a) > box * (1 - 1e-6))
        a = res.x
        if not at_edge:
            break
    return a, float(res.fun)


def rows_minima(P: float, h: Hyper) -> list[tuple[np.ndarray, float]]:
    """Local minima [(a_vec, F)] of the per-row action reached from the uniform start (a = 0) and the copy
    start (a_t = ln(k_t - 1) + 3), sorted by m; one entry when both starts reach the same minimum."""
    out = [_rows_descend(P, a0, h) for a0 in (np.zeros(h.n_rows), np.log(np.maximum(h.keys - 1, 1.0)) + 3.0)]
    m = [rows_order_params(a, h)[0] for a, _ in out]
    if abs(m[0] - m[1]) < 1e-6:
        return [min(out, key=lambda t: t[1])]
    return [out[i] for i in np.argsort(m)]


def rows_order_params(a: np.ndarray, h: Hyper) -> tuple[float, float]:
    k = h.keys
    p = 1.0 / (1.0 + (k - 1) * np.exp(-a))
    return float(p.mean()), float((p**2 + (1 - p) ** 2 / (k - 1)).mean())
