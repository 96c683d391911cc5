"""Theory as functions of the order parameters, by Monte Carlo over the low-dimensional local fields.

Why low-dimensional [reconstruction, standard; brief 3.2]: tokens are Gaussian, so for token l the teacher
fields u_l = x_l[:T] (T teacher coordinates, see :mod:`data`) and the 2H student fields
omega_l = (chi_l, z_l) are jointly Gaussian, with

    omega_l = A u_l + (Q - A A^T)^{1/2} g_l,     g_l ~ N(0, I_2H)

where A (2H, T) = student-teacher overlaps s . t / D and Q (2H, 2H) = student-student overlaps s . s' / D.
The signal token's u_eps[:F] carries the spike sqrt(nu) theta (spiked law).  So the population risk, the
SGD drifts and the Bayes risk are expectations over (theta, eps, u, g, noise) only: :class:`FieldSampler`
draws them once and every function reuses them (common random numbers).

ODEs for online SGD [reconstruction, brief 3.3] on the clock t = steps / D, with c = dloss/d(fields):

    dA/dt = -lr E[sum_l c_l u_l^T]
    dQ/dt = -lr E[sum_l (c_l omega_l^T + omega_l c_l^T)] + lr^2 E[sum_l c_l c_l^T]   (lr^2: SGD noise)
    db/dt = -lr E[c_b]
Gradient flow drops the lr^2 term.

Bayes [reconstruction, brief 4]: E[y | X] = sum_{l, theta} P(eps = l, theta | X) E[y | eps = l, theta, X];
for a discrete prior in the spiked law P(eps = l, theta_j | X) ~ p_j exp(sqrt(nu) theta_j . u_l[:F] -
nu |theta_j|^2 / 2), which is a Bayes-softmax with one head per support point:
k_h = sqrt(nu) k^(theta_h), v_h = v*(theta_h), b_h = log p_h - nu |theta_h|^2 / 2.
For a Gaussian prior N(mu, C): P(eps = l | X) ~ exp(1/2 b_l^T (nu I + C^-1)^-1 b_l), b_l = sqrt(nu) u_l[:F] + C^-1 mu.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ...errors import check_finite
from .data import Prior, label_from_tokens, n_teacher
from .models import attention, forward_backward, learns_bias


@dataclasses.dataclass
class Fields:
    """Base random numbers for N samples: theta (N, F), eps (N,), u (N, L, T) teacher fields (spike
    included), g (N, L, 2H) independent normals for the student's orthogonal part, y (N,) labels."""

    theta: torch.Tensor
    eps: torch.Tensor
    u: torch.Tensor
    g: torch.Tensor | None
    y: torch.Tensor


class FieldSampler:
    """Draws the low-dimensional fields of N samples once (float64, seeded)."""

    def __init__(self, prior: Prior, nu: float, L: int, noise: float, N: int, seed: int, H: int = 0,
                 location_law: str = "spiked", value_mode: str = "shared"):
        self.prior, self.nu, self.L, self.noise, self.N = prior, float(nu), L, float(noise), N
        self.location_law, self.value_mode, self.H = location_law, value_mode, H
        F, T = prior.F, n_teacher(prior.F, value_mode)
        g = torch.Generator().manual_seed(int(seed))
        theta = prior.sample(N, g)
        u = torch.randn(N, L, T, generator=g, dtype=torch.float64)
        ar = torch.arange(N)
        if location_law == "spiked":
            eps = torch.randint(L, (N,), generator=g)
            u[ar, eps, :F] += math.sqrt(nu) * theta
        else:
            logits = nu * torch.einsum("nlf,nf->nl", u[..., :F], theta)
            eps = torch.multinomial(torch.softmax(logits, -1), 1, generator=g).squeeze(-1)
        y = label_from_tokens(u[ar, eps], theta, F, value_mode)
        if noise > 0:
            y = y + noise * torch.randn(N, generator=g, dtype=torch.float64)
        gg = torch.randn(N, L, 2 * H, generator=g, dtype=torch.float64) if H > 0 else None
        self.fields = Fields(theta, eps, u, gg, y)


def mirrored(fs: Fields, F: int) -> Fields:
    """Antithetic sample set: fs followed by its mirror image theta -> -theta, u[..., :F] -> -u[..., :F]
    (same eps, g, y).  [reconstruction] For a prior symmetric under theta -> -theta and value_mode "shared"
    the mirror is a sample of the same law, and the MC drift of M vanishes exactly on the M = 0 manifold, so
    the finite-sample MC error does not itself break the k -> -k symmetry (it would act as a constant
    O(1/sqrt(N)) force on the unstable plateau and set the ODE's exit time)."""
    u = fs.u.clone()
    u[..., :F] = -u[..., :F]
    cat = lambda a, b: None if a is None else torch.cat([a, b], 0)
    return Fields(torch.cat([fs.theta, -fs.theta], 0), torch.cat([fs.eps, fs.eps], 0), torch.cat([fs.u, u], 0),
                  cat(fs.g, fs.g), torch.cat([fs.y, fs.y], 0))


def mirrored_each(fs: Fields, features) -> Fields:
    """Antithetic sample set, mirrored in each listed feature *separately*: 2^len(features) copies of fs, one
    per sign pattern (theta_f -> -theta_f, u[..., f] -> -u[..., f] for the flipped features; same eps, g, y).
    [reconstruction] For a prior symmetric in each theta_f (the diagonal Gaussian) and value_mode "shared"
    each copy is a sample of the same law, and the MC drift of the feature-f overlaps A[:, f] vanishes
    exactly wherever A[:, f] = 0, whatever the other overlaps: the feature-f block of the ODE then moves only
    through the instability of the state it starts from, never through MC error."""
    parts = [fs]
    for f in features:
        flipped = []
        for p in parts:
            u, th = p.u.clone(), p.theta.clone()
            u[..., f] = -u[..., f]
            th[:, f] = -th[:, f]
            flipped.append(Fields(th, p.eps, u, p.g, p.y))
        parts = parts + flipped
    cat = lambda xs: None if xs[0] is None else torch.cat(xs, 0)
    return Fields(cat([p.theta for p in parts]), cat([p.eps for p in parts]), cat([p.u for p in parts]),
                  cat([p.g for p in parts]), cat([p.y for p in parts]))


def project_out(A: torch.Tensor, Q: torch.Tensor, features) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlaps after removing from every student vector its component along the teacher directions
    `features`: A[:, f] = 0 and Q - a a^T for each removed column a (the orthogonal parts are unchanged)."""
    A, Q = A.clone(), Q.clone()
    for f in features:
        a = A[:, f:f + 1].clone()
        Q = Q - a @ a.T
        A[:, f] = 0.0
    return A, 0.5 * (Q + Q.T)


def feature_jacobian(fs: Fields, A: torch.Tensor, Q: torch.Tensor, b: torch.Tensor, activation: str, lr: float,
                     feature: int, delta: float = 1e-3, values: str = "free") -> np.ndarray:
    """J (2H, 2H): the linearization d(dA[:, f]/dt) / dA[:, f] of the ODE's feature-f block at a state with
    A[:, f] = 0, by central differences on common random numbers.

    [reconstruction] At A[:, f] = 0 the feature-f overlaps of all 2H student vectors form an invariant block
    for a prior symmetric in theta_f: moving a vector along k*_f changes Q only at second order, and the drift
    of A[:, f] is odd in A[:, f].  So the state is stable along feature f iff every eigenvalue of J has a
    negative real part, and a positive one is the growth rate of feature f from that state.  The lr^2 term
    acts on Q only, so J is the same for the finite-lr ODE and gradient flow."""
    n = A.shape[0]
    J = np.zeros((n, n))
    for j in range(n):
        Ap, Am = A.clone(), A.clone()
        Ap[j, feature] += delta
        Am[j, feature] -= delta
        dp = drift(fs, Ap, Q, b, activation, lr, sgd_noise=False, values=values)[0][:, feature]
        dm = drift(fs, Am, Q, b, activation, lr, sgd_noise=False, values=values)[0][:, feature]
        J[:, j] = ((dp - dm) / (2 * delta)).numpy()
    return J


def growth_rate(fs_batches, A, Q, b, activation: str, lr: float, feature: int, values: str = "free") -> dict:
    """Top eigenvalue (largest real part) of the feature-f Jacobian, from independent MC batches: the value
    for the pooled Jacobian (mean of the batch Jacobians), its SE from the spread of the batch values, and
    the second eigenvalue of the pooled Jacobian."""
    Js = [feature_jacobian(f, A, Q, b, activation, lr, feature, values=values) for f in fs_batches]
    top = [float(np.max(np.linalg.eigvals(J).real)) for J in Js]
    ev = np.sort(np.linalg.eigvals(np.mean(Js, 0)).real)[::-1]
    se = float(np.std(top, ddof=1) / math.sqrt(len(top))) if len(top) > 1 else math.nan
    return dict(lam=float(ev[0]), lam_se=se, lam2=float(ev[1]) if len(ev) > 1 else math.nan)


def _psd_sqrt(M: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a (numerically) PSD matrix (negative eigenvalues clipped to 0)."""
    w, V = torch.linalg.eigh(0.5 * (M + M.T))
    return (V * w.clamp_min(0.0).sqrt()) @ V.T


def student_fields(fs: Fields, A: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """omega (N, L, 2H) = A u + (Q - A A^T)^{1/2} g."""
    omega = fs.u @ A.T
    if fs.g is not None:
        omega = omega + fs.g @ _psd_sqrt(Q - A @ A.T)
    return omega


def risk(fs: Fields, A, Q, b, activation: str) -> tuple[float, float]:
    """Population risk E[(f - y)^2] at overlaps (A, Q, b): (MC mean, MC standard error)."""
    A, Q = torch.as_tensor(A, dtype=torch.float64), torch.as_tensor(Q, dtype=torch.float64)
    H = A.shape[0] // 2
    omega = student_fields(fs, A, Q)
    bias = torch.as_tensor(b, dtype=torch.float64).expand(omega.shape[0], H) if learns_bias(activation) else None
    sigma = attention(omega[..., :H], activation, bias)
    e2 = ((sigma * omega[..., H:]).sum((-2, -1)) - fs.y) ** 2
    return float(e2.mean()), float(e2.std() / math.sqrt(e2.numel()))


def constrain_drift(dA: torch.Tensor, dQ: torch.Tensor, A: torch.Tensor, C: torch.Tensor, u: torch.Tensor,
                    values: str, lr: float, F: int):
    """The drift of a student whose values are not free [reconstruction]:

    fixed: v_h = N_h v* never move, so only the key overlaps drift (M, the key-value-direction overlaps B_h =
           A[h, F], and R): dA[H:] = 0, dP = 0, and the key-value cross overlaps k_h . v_h' / D = B_h N_h'
           follow the keys exactly, dC = dA[:H] A[H:]^T (no lr^2 term: the values do not move);
    tied:  v_h = a v* for all h, a >= 0 one learned scalar with da/dt = -lr E[sum_lh c_v u_l[F]] (one coordinate:
           no lr^2 term), so dA[H+h, F] = da, dP = 2 a da, dC = dA[:H] A[H:]^T + A[:H] dA[H:]^T.
    The key block (dA[:H], dR with its lr^2 term) is the free student's."""
    if values == "free":
        return dA, dQ
    H = A.shape[0] // 2
    dA, dQ = dA.clone(), dQ.clone()
    dA[H:] = 0.0
    if values == "tied":
        N = C.shape[0]
        da = -lr * torch.einsum("nlh,nl->", C[..., H:], u[..., F]) / N
        dA[H:, F] = da
    cross = dA[:H] @ A[H:].T + A[:H] @ dA[H:].T
    dQ[:H, H:] = cross
    dQ[H:, :H] = cross.T
    dQ[H:, H:] = dA[H:] @ A[H:].T + A[H:] @ dA[H:].T
    return dA, dQ


def drift(fs: Fields, A: torch.Tensor, Q: torch.Tensor, b: torch.Tensor, activation: str, lr: float,
          sgd_noise: bool = True, values: str = "free", lr_bias: float | None = None):
    """(dA/dt, dQ/dt, db/dt, risk) of online SGD at (A, Q, b) by Monte Carlo (see module docstring);
    ``values`` = free | fixed | tied (:func:`constrain_drift`); the bias drifts at ``lr_bias`` (None: lr)."""
    H = A.shape[0] // 2
    omega = student_fields(fs, A, Q)                              # (N, L, 2H)
    N = omega.shape[0]
    bias = b.expand(N, H) if learns_bias(activation) else None
    f, r, c_k, c_v, c_b = forward_backward(omega[..., :H], omega[..., H:], fs.y, activation, bias)
    C = torch.cat([c_k, c_v], -1)                                 # (N, L, 2H)
    dA = -lr * torch.einsum("nla,nlj->aj", C, fs.u) / N
    cw = torch.einsum("nla,nlb->ab", C, omega) / N
    dQ = -lr * (cw + cw.T)
    if sgd_noise:
        dQ = dQ + lr ** 2 * torch.einsum("nla,nlb->ab", C, C) / N
    dA, dQ = constrain_drift(dA, dQ, A, C, fs.u, values, lr, fs.theta.shape[1])
    db = -(lr if lr_bias is None else lr_bias) * c_b.mean(0) if learns_bias(activation) else torch.zeros_like(b)
    return dA, dQ, db, float((r ** 2).mean())


def integrate_ode(fs: Fields, A0, Q0, b0, activation: str, lr: float, t_max: float, dt: float,
                  log_dt: float, sgd_noise: bool = True, values: str = "free", lr_bias: float | None = None) -> dict:
    """Euler integration of the overlap ODE from (A0, Q0, b0); returns arrays logged every log_dt:
    t (nt,), risk (nt,), A (nt, 2H, T), Q (nt, 2H, 2H), b (nt, H)."""
    A = torch.as_tensor(A0, dtype=torch.float64).clone()
    Q = torch.as_tensor(Q0, dtype=torch.float64).clone()
    b = torch.as_tensor(b0, dtype=torch.float64).clone()
    per_log = max(1, int(round(log_dt / dt)))
    n_logs = int(math.ceil(t_max / log_dt - 1e-9))
    ts, risks, As, Qs, bs = [], [], [], [], []
    for k in range(n_logs * per_log + 1):
        dA, dQ, db, rk = drift(fs, A, Q, b, activation, lr, sgd_noise, values, lr_bias)
        if k % per_log == 0:
            ts.append(k * dt)
            risks.append(rk)
            As.append(A.numpy().copy())
            Qs.append(Q.numpy().copy())
            bs.append(b.numpy().copy())
        if k == n_logs * per_log:
            break
        A, Q, b = A + dt * dA, Q + dt * dQ, b + dt * db
        Q = 0.5 * (Q + Q.T)
        check_finite("ODE overlaps", Q, k)
    return dict(t=np.array(ts), risk=np.array(risks), A=np.stack(As), Q=np.stack(Qs), b=np.stack(bs))


# ---- Bayes ------------------------------------------------------------------------------------------------
def posterior_mean(fs: Fields, prior: Prior, nu: float, value_mode: str = "shared",
                   location_law: str = "spiked") -> torch.Tensor:
    """E[y | X] (N,) from the teacher fields u (exact posterior over (eps, theta)).

    Discrete prior: exact for both location laws.  Gaussian prior: closed form, spiked law only."""
    u, F = fs.u, prior.F
    if prior.is_discrete:
        pts, w = prior.support()                                  # (J, F), (J,)
        proj = torch.einsum("nlf,jf->nlj", u[..., :F], pts)       # theta_j . u_l
        if location_law == "spiked":
            logw = math.sqrt(nu) * proj + (w.log() - 0.5 * nu * (pts ** 2).sum(-1))
            post = torch.softmax(logw.reshape(u.shape[0], -1), -1).reshape(proj.shape)
        else:
            post = torch.softmax(nu * proj, dim=1) * w             # p_j softmax_l(nu theta_j . u_l)
        if value_mode == "shared":
            return torch.einsum("nlj,nl->n", post, u[..., F])
        return torch.einsum("nlj,jf,nlf->n", post, pts, u[..., F:2 * F])
    if location_law != "spiked":
        raise NotImplementedError("the Bayes predictor for a Gaussian prior is implemented for the spiked law")
    mu, C = prior.mean_cov()
    Ci = torch.linalg.inv(C)
    S = torch.linalg.inv(nu * torch.eye(F, dtype=torch.float64) + Ci)  # posterior covariance of theta
    bl = math.sqrt(nu) * u[..., :F] + Ci @ mu                      # (N, L, F)
    logp = 0.5 * torch.einsum("nlf,fg,nlg->nl", bl, S, bl)
    post = torch.softmax(logp, -1)                                 # P(eps = l | X)
    if value_mode == "shared":
        return (post * u[..., F]).sum(-1)
    theta_mean = bl @ S.T                                          # E[theta | eps = l, X]
    return (post * (theta_mean * u[..., F:2 * F]).sum(-1)).sum(-1)


def bayes_softmax_construction(prior: Prior, nu: float, value_mode: str = "shared"):
    """Overlaps of the Bayes-softmax student with one head per support point (spiked law):
    A (2H, T) with k_h = sqrt(nu) k^(theta_h), v_h = v*(theta_h); Q = A A^T (no orthogonal part);
    b_h = log p_h - nu |theta_h|^2 / 2."""
    pts, w = prior.support()
    J, F = pts.shape
    T = n_teacher(F, value_mode)
    A = torch.zeros(2 * J, T, dtype=torch.float64)
    A[:J, :F] = math.sqrt(nu) * pts
    if value_mode == "shared":
        A[J:, F] = 1.0
    else:
        A[J:, F:2 * F] = pts
    b = w.log() - 0.5 * nu * (pts ** 2).sum(-1)
    return A, A @ A.T, b


def _aligned_attention(fs: Fields, keys: torch.Tensor, activation: str, bias) -> torch.Tensor:
    """sigma (N, L, H) of heads with keys given as teacher overlaps keys (H, F) (no orthogonal part)."""
    chi = fs.u[..., :keys.shape[1]] @ keys.T
    H = keys.shape[0]
    b = None if bias is None else torch.as_tensor(bias, dtype=torch.float64).expand(chi.shape[0], H)
    return attention(chi, activation, b)


def _value_features(fs: Fields, sigma: torch.Tensor, F: int, value_mode: str) -> torch.Tensor:
    """g (N, H*V): per-head attended value coordinates; the prediction is g @ a for fitted scales a."""
    vals = fs.u[..., F:F + 1] if value_mode == "shared" else fs.u[..., F:2 * F]   # (N, L, V)
    return torch.einsum("nlh,nlv->nhv", sigma, vals).reshape(sigma.shape[0], -1)


def value_scales(G: torch.Tensor, y: torch.Tensor, values: str = "free", value0: float | None = None) -> torch.Tensor:
    """Value scales a (H*V,) of an aligned configuration, the prediction being G @ a [follows student_values]:
    free: per-head least squares; tied: one common scale >= 0 (least squares on the head sum, clipped at 0);
    fixed: every head's value = value0 (no fit)."""
    if values == "fixed":
        return torch.full((G.shape[1],), float(value0), dtype=G.dtype)
    if values == "tied":
        g = G.sum(1)
        a = float((g @ y) / (g @ g).clamp_min(1e-300))
        return torch.full((G.shape[1],), max(a, 0.0), dtype=G.dtype)
    return torch.linalg.lstsq(G, y[:, None]).solution[:, 0]


def fit_aligned(fit: Fields, keys_dir: torch.Tensor, activation: str, F: int, value_mode: str,
                beta_grid, bias_grid=None, refine: bool = True, values: str = "free", value0: float | None = None):
    """Best teacher-aligned configuration on the fit samples: keys beta * keys_dir (H, F), a common logit
    bias (entries with a learnable bias) and the value scales of :func:`value_scales`.
    Grid search over (beta, bias) then Nelder-Mead refinement.  Returns dict(beta, bias, a, fit_risk)."""
    from scipy.optimize import minimize

    def loss(beta, bias):
        sig = _aligned_attention(fit, beta * keys_dir, activation, bias)
        G = _value_features(fit, sig, F, value_mode)
        a = value_scales(G, fit.y, values, value0)
        return float(((G @ a - fit.y) ** 2).mean()), a

    with_bias = bias_grid is not None
    best = (math.inf, 0.0, 0.0)
    for beta in beta_grid:
        for bias in (bias_grid if with_bias else [None]):
            v, _ = loss(float(beta), bias)
            if v < best[0]:
                best = (v, float(beta), bias)
    beta, bias = best[1], (float(best[2]) if with_bias else None)
    if refine:
        x0 = [beta] + ([bias] if with_bias else [])
        obj = (lambda x: loss(x[0], x[1])[0]) if with_bias else (lambda x: loss(x[0], None)[0])
        res = minimize(obj, x0, method="Nelder-Mead", options=dict(xatol=1e-3, fatol=1e-7, maxiter=200))
        if res.fun < best[0]:
            beta, bias = float(res.x[0]), (float(res.x[1]) if with_bias else None)
    v, a = loss(beta, bias)
    return dict(beta=beta, bias=bias, a=a, fit_risk=v)


def aligned_errors(test: Fields, keys: torch.Tensor, activation: str, bias, a: torch.Tensor, F: int,
                   value_mode: str) -> torch.Tensor:
    """Per-sample squared errors (N,) of an aligned configuration on the test samples."""
    sig = _aligned_attention(test, keys, activation, bias)
    return (_value_features(test, sig, F, value_mode) @ a - test.y) ** 2
