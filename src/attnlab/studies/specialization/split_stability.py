"""Is an uneven split (3/1) of the heads between the flipped modes a stable state of the student's dynamics?

[reconstruction, issue 19] The paper says misplaced heads "rearrange, by performing an excursion, so that at
the end the split is even".  Our SGD never shows it: seeds that split 3/1 stay 3/1.  This module asks why, on
the overlap ODE (:mod:`theory`) of the split experiment (flipped spike F = 1, p = 1/2, nu, H heads, softmax),
for a student with fixed or tied values (keys learned):

1. **relax** from a chosen split (heads at M_h = +-SPLIT_START along k*, their orthogonal parts from split
   replica 0's init) with the finite-lr ODE for split_horizon; record whether a head changed mode on the way
   (switch_t: the ODE's own excursion) and the final split;
2. **full Jacobian** of the ODE drift at the relaxed state over the free order parameters (fixed values:
   the key overlaps A[:H] and R = k.k'/D; tied: plus the shared value a), central differences on common
   random numbers, 4 independent MC batches -> top eigenvalue lam_full +- SE.  The relaxed state is not a
   fixed point (the keys keep growing slowly, |drift| ~ 1e-3), and this spectrum has near-neutral modes
   (|lam| ~ 1e-4 at quick, at the even split as well): mostly the keys' overlaps B_h with the value direction v*
   (top_B_share), not the split;
3. **the flip direction**: move the least committed head h of the larger mode along k* (M_h -> m, its
   orthogonal part and value-overlap B_h kept; R updated exactly) and read the force f(m) = dM_h/dt on a grid
   from its own M_h down to the other mode's mean M:
   - lam_flip = f'(M_h) (restoring rate of the split along the flip, +- SE over the batches);
   - f_mid = f(0): > 0 means a head pushed to the midpoint between the modes returns to its own mode;
   - m_sep: the first zero of f below M_h (the separatrix on this path; NaN: none on the path, the head
     returns from anywhere on it);
   - barrier = int_{m_sep}^{M_h} f dm (the 1-D potential barrier, drift units; NaN without m_sep);
   - diffusion = lr^2 Var(g) / D: the SGD noise on M_h per unit t at the study's D (per step
     dM_h = -(lr/D) g with g = sum_l c_k[l, h] u_l[0], D steps per unit t), mean over the path;
     diffusion_state: the same at the state (to compare with the SGD runs' increments of M_h);
   - escape_exponent = 2 int_{m_sep}^{M_h} f / diffusion(m) dm: the Arrhenius exponent of a noise-driven
     escape along the path (escape time ~ exp(escape_exponent); it grows in proportion to D);
   - kick_m: M_h after relaxing split_horizon / 3 from m = 0 (the nonlinear check of f_mid).

verdict: "unstable" if the relaxation changed the split, or lam_flip > Z SE; "stable" if the split is kept
and lam_flip < -Z SE (a head displaced along the flip returns: the split is a stable state of the flow, whose
basin along the path ends at m_sep); else "marginal".  lam_full is reported beside it: its near-neutral top
modes are the slow drift of the state (the even split, the SGD attractor, has them too), not the split.
By the theta -> -theta symmetry (exact on the mirrored MC samples) 1/3 has the numbers of 3/1.

4. **SGD from the uneven split** (:func:`sgd_from_pattern`): every split replica's init with its keys placed at
   the uneven split, online SGD at the study's D for split_horizon / 3: sgd_kept / sgd_switched replicas and
   the median time of the switch (table `split_pattern_sgd`: the trajectories).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import torch

from ... import rng
from ...claims import Z
from .analysis import SPLIT_OVERLAP
from .models import forward_backward
from .theory import FieldSampler, drift, integrate_ode, mirrored, risk, student_fields

SPLIT_START = 0.5        # |M_h| of the heads at the start of the relaxation (past SPLIT_OVERLAP: assigned)
GRID = 25                # points of the flip-force profile
DELTA = 1e-4             # central-difference step of the Jacobians
# the students compared [issue 19]; N_h = 2/H: an even split over the two modes reads out v* exactly
STUDENTS = (("fixed", "1/H"), ("fixed", "2/H"), ("fixed", "1"), ("tied", "auto"))


def student_label(values: str, fixed_value: str) -> str:
    return "tied" if values == "tied" else f"fixed N_h={fixed_value}"


def patterns(H: int) -> list[tuple[str, tuple[int, ...]]]:
    """The uneven split (H-1)/1 and the even split H/2 / H/2, as sign patterns of the heads."""
    return [(f"{H - 1}/1", (1,) * (H - 1) + (-1,)), (f"{H // 2}/{H - H // 2}", (1,) * (H // 2) + (-1,) * (H - H // 2))]


def consistent(A: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """Q with its key-value and value-value blocks set from A (fixed / tied values lie along v*, so
    k_h . v_h' / D = A[h] . A[H+h'] and v_h . v_h' / D = A[H+h] . A[H+h'])."""
    H = A.shape[0] // 2
    Q = Q.clone()
    Q[:H, H:] = A[:H] @ A[H:].T
    Q[H:, :H] = Q[:H, H:].T
    Q[H:, H:] = A[H:] @ A[H:].T
    return Q


def with_keys_along(A: torch.Tensor, Q: torch.Tensor, h: int, m: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Head h's key moved along k* to M_h = m (its orthogonal part and B_h kept): R updated exactly."""
    A, Q = A.clone(), Q.clone()
    H = A.shape[0] // 2
    m_old = float(A[h, 0])
    dm = m - m_old
    diag = float(Q[h, h]) + dm * (m_old + m)        # |k_h + dm k*|^2 / D
    row = (Q[h, :H] + dm * A[:H, 0]).clone()        # (k_h + dm k*) . k_h' / D
    Q[h, :H] = row
    Q[:H, h] = row
    Q[h, h] = diag
    A[h, 0] = m
    return A, consistent(A, Q)


def pattern_state(A0: torch.Tensor, Q0: torch.Tensor, signs, m0: float = SPLIT_START):
    """Keys at M_h = signs_h m0 with the orthogonal parts (and B_h) of the init (A0, Q0)."""
    A, Q = A0.clone(), Q0.clone()
    for h, s in enumerate(signs):
        A, Q = with_keys_along(A, Q, h, s * m0)
    return A, Q


# ---- the full Jacobian over the free order parameters ----------------------------------------------------
def _pack(A, Q, values):
    H = A.shape[0] // 2
    iu = torch.triu_indices(H, H)
    parts = [A[:H].reshape(-1), Q[:H, :H][iu[0], iu[1]]]
    if values == "tied":
        parts.append(A[H:H + 1, -1])
    return torch.cat(parts)


def _unpack(x, A0, Q0, values):
    H, T = A0.shape[0] // 2, A0.shape[1]
    A, Q = A0.clone(), Q0.clone()
    A[:H] = x[:H * T].reshape(H, T)
    iu = torch.triu_indices(H, H)
    R = torch.zeros(H, H, dtype=x.dtype)
    R[iu[0], iu[1]] = x[H * T:H * T + iu.shape[1]]
    Q[:H, :H] = R + R.T - torch.diag(torch.diag(R))
    if values == "tied":
        A[H:, -1] = x[-1]
    return A, consistent(A, Q)


def full_jacobian(fs, A, Q, b, lr: float, values: str, delta: float = DELTA) -> np.ndarray:
    """d(drift)/d(state) over the free order parameters (see the module docstring), finite-lr ODE."""
    x = _pack(A, Q, values)
    n = len(x)
    J = np.zeros((n, n))
    for j in range(n):
        e = torch.zeros(n, dtype=x.dtype)
        e[j] = delta
        d = []
        for s in (1.0, -1.0):
            Ap, Qp = _unpack(x + s * e, A, Q, values)
            dA, dQ, _, _ = drift(fs, Ap, Qp, b, "softmax", lr, values=values)
            d.append(_pack(dA, dQ, values))
        J[:, j] = ((d[0] - d[1]) / (2 * delta)).numpy()
    return J


def top_eigen(Js: list[np.ndarray], H: int, T: int) -> dict:
    """Top eigenvalue (largest real part) of the pooled Jacobian, its SE from the batches' top eigenvalues,
    the second one, and top_B_share: the share (sum of |components|) of the top eigenvector on the keys'
    overlaps B_h = k_h . v* / D with the value direction (the coordinates A[h, T-1] of :func:`_pack`)."""
    top = [float(np.max(np.linalg.eigvals(J).real)) for J in Js]
    w, V = np.linalg.eig(np.mean(Js, 0))
    o = np.argsort(-w.real)
    v = np.abs(V[:, o[0]])
    return dict(lam_full=float(w.real[o[0]]), lam_full_se=float(np.std(top, ddof=1) / math.sqrt(len(top))),
                lam_full2=float(w.real[o[1]]), top_B_share=float(v[[h * T + T - 1 for h in range(H)]].sum() / v.sum()))


# ---- the flip direction ---------------------------------------------------------------------------------
def flip_force(fs, A, Q, b, h: int, lr: float) -> tuple[float, float]:
    """(f, Var g): the drift dM_h/dt = -lr E[g] of head h's key overlap and the variance of the per-sample
    g = sum_l c_k[l, h] u_l[0] (SGD moves M_h by -(lr/D) g per step)."""
    H = A.shape[0] // 2
    omega = student_fields(fs, A, Q)
    _, _, c_k, _, _ = forward_backward(omega[..., :H], omega[..., H:], fs.y, "softmax")
    g = (c_k[..., h] * fs.u[..., 0]).sum(-1)
    return float(-lr * g.mean()), float(g.var())


def flip_rate(batches, A, Q, b, h: int, lr: float) -> tuple[float, float]:
    """(lam_flip, SE): d(dM_h/dt)/dM_h at head h's M_h, moving along k* (:func:`with_keys_along`), by central
    differences on each MC batch; SE from the spread of the batch values."""
    m_h = float(A[h, 0])
    eps = 1e-3 * max(abs(m_h), 1.0)
    rates = [(flip_force(fs, *with_keys_along(A, Q, h, m_h + eps), b, h, lr)[0]
              - flip_force(fs, *with_keys_along(A, Q, h, m_h - eps), b, h, lr)[0]) / (2 * eps) for fs in batches]
    return float(np.mean(rates)), float(np.std(rates, ddof=1) / math.sqrt(len(rates)))


def moved_head(M: np.ndarray) -> tuple[int, int, float]:
    """(h, sign of its mode, mean M of the other mode): the least committed head of the larger mode (ties:
    the + mode)."""
    pos, neg = M > 0, M < 0
    s = 1 if pos.sum() >= neg.sum() else -1
    mine = np.flatnonzero(M * s > 0)
    h = int(mine[np.argmin(np.abs(M[mine]))])
    other = M[M * s < 0]
    return h, s, float(other.mean()) if len(other) else -s * float(np.abs(M).mean())


def flip_profile(batches, A, Q, b, h: int, lr: float, m_to: float, D: int) -> dict:
    """The force profile of head h along k* from its M_h to m_to (module docstring, step 3)."""
    m_h = float(A[h, 0])
    grid = np.linspace(m_h, m_to, GRID)
    f = np.zeros((len(batches), GRID))
    var = np.zeros_like(f)
    for i, m in enumerate(grid):
        Am, Qm = with_keys_along(A, Q, h, float(m))
        for k, fs in enumerate(batches):
            f[k, i], var[k, i] = flip_force(fs, Am, Qm, b, h, lr)
    sq = math.sqrt(len(batches))
    fm = f.mean(0)
    lam, lam_se = flip_rate(batches, A, Q, b, h, lr)
    # f at the midpoint m = 0
    mid = np.array([flip_force(fs, *with_keys_along(A, Q, h, 0.0), b, h, lr)[0] for fs in batches])
    # separatrix: first sign change of f (restoring -> repelling) below M_h, in the direction of m_to
    s = np.sign(m_h - m_to)                        # f * s > 0: pushes back toward M_h
    bad = np.flatnonzero(fm * s <= 0)
    bad = bad[bad > 0]
    if len(bad):
        i = int(bad[0])
        w = fm[i - 1] / (fm[i - 1] - fm[i])
        m_sep = float(grid[i - 1] + w * (grid[i] - grid[i - 1]))
        seg_m, seg_f = np.append(grid[:i], m_sep), np.append(fm[:i], 0.0)
    else:
        i, m_sep = GRID, math.nan
        seg_m, seg_f = grid, fm
    # no separatrix on the path: no other state to escape to along it (barrier and exponent NaN)
    dif = lr ** 2 * var.mean(0) / D                             # SGD noise on M_h per unit t, on the grid
    barrier = float(abs(np.trapezoid(seg_f, seg_m))) if math.isfinite(m_sep) else math.nan
    # Arrhenius exponent with the noise where it acts: 2 int f / D(m) dm (stationary density of
    # dM = f dt + sqrt(D(m)) dW), D(m_sep) by linear interpolation
    seg_d = np.append(dif[:i], np.interp(m_sep, grid[::-1], dif[::-1])) if math.isfinite(m_sep) else dif
    exponent = float(abs(np.trapezoid(2 * seg_f / seg_d, seg_m))) if math.isfinite(m_sep) else math.nan
    diffusion = float(dif[:i].mean())                           # over the path M_h -> m_sep
    return dict(head=h, m_head=m_h, m_other=m_to, lam_flip=lam, lam_flip_se=lam_se, f_mid=float(mid.mean()),
                f_mid_se=float(mid.std(ddof=1) / sq), m_sep=m_sep, barrier=barrier, diffusion=diffusion,
                diffusion_state=float(dif[0]), escape_exponent=exponent,
                profile_m=",".join(f"{x:.4g}" for x in grid), profile_f=",".join(f"{x:.4g}" for x in fm))


def first_switch(t: np.ndarray, M: np.ndarray) -> tuple[float, int]:
    """First logged t at which a head assigned to one mode (|M_h| > SPLIT_OVERLAP) is assigned to the other
    (the excursion of the split analysis, on an ODE trajectory M (nt, H)); (NaN, -1) if none."""
    best = (math.nan, -1)
    sgn = np.where(M > SPLIT_OVERLAP, 1, np.where(M < -SPLIT_OVERLAP, -1, 0))
    for h in range(M.shape[1]):
        nz = np.flatnonzero(sgn[:, h])
        for a, c in zip(nz, nz[1:]):
            if sgn[a, h] != sgn[c, h]:
                if not best[0] <= t[c]:
                    best = (float(t[c]), h)
                break
    return best


def verdict(kept: bool, lam: float, lam_se: float) -> str:
    """stable | unstable | marginal (module docstring)."""
    if not kept or lam - Z * lam_se > 0:
        return "unstable"
    if lam + Z * lam_se < 0:
        return "stable"
    return "marginal"


def analyse_pattern(cfg, fs, batches, A0, Q0, b0, values: str, name: str, signs) -> dict:
    """One row of table `split_stability`: relax from the split `signs`, then the Jacobian and the flip."""
    H, lr = cfg.H, cfg.lr
    A, Q = pattern_state(A0, Q0, signs)
    out = integrate_ode(fs, A, Q, b0, "softmax", lr, cfg.split_horizon, cfg.variance_ode_dt, cfg.log_dt,
                        values=values)
    M = out["A"][:, :H, 0]
    switch_t, switch_head = first_switch(out["t"], M)
    Af, Qf, bf = (torch.as_tensor(out[x][-1]) for x in ("A", "Q", "b"))
    Mf = Af[:H, 0].numpy()
    pos, neg = int((Mf > SPLIT_OVERLAP).sum()), int((Mf < -SPLIT_OVERLAP).sum())
    kept = bool(np.isnan(switch_t) and pos == sum(s > 0 for s in signs) and neg == sum(s < 0 for s in signs))
    dA, dQ, _, _ = drift(fs, Af, Qf, bf, "softmax", lr, values=values)
    risks = [risk(x, Af, Qf, bf, "softmax") for x in batches]
    row = dict(pattern=name, relax=float(out["t"][-1]), start_m=SPLIT_START, final_pos=pos, final_neg=neg,
               kept=int(kept), switch_t=switch_t, switch_head=switch_head,
               final_M=",".join(f"{x:.4g}" for x in Mf), value=float(Af[H, -1]),
               risk=float(np.mean([r[0] for r in risks])),
               risk_se=float(math.sqrt(sum(r[1] ** 2 for r in risks)) / len(risks)),
               flow=float(max(dA[:H].abs().max(), dQ[:H, :H].abs().max())))
    row.update(top_eigen([full_jacobian(x, Af, Qf, bf, lr, values) for x in batches], H, Af.shape[1]))
    h, s, m_other = moved_head(Mf)
    row.update(flip_profile(batches, Af, Qf, bf, h, lr, m_other, cfg.D))
    Ak, Qk = with_keys_along(Af, Qf, h, 0.0)
    kick = integrate_ode(fs, Ak, Qk, bf, "softmax", lr, cfg.split_horizon / 3, cfg.variance_ode_dt,
                         cfg.split_horizon / 3, values=values)
    row["kick_m"] = float(kick["A"][-1, h, 0])
    row["verdict"] = verdict(kept, row["lam_flip"], row["lam_flip_se"])
    return row


def run_split_stability(cfg, values: str, fixed_value: str) -> dict:
    """Table `split_stability` for one student (values, fixed_value), from the split experiment's setting and
    split replica 0's init: one row per split pattern ((H-1)/1 and the even split).  MC: the relaxation on
    ode_samples mirrored samples, the Jacobians and the flip on 4 batches of stability_samples / 4 each."""
    from .experiments import FLIP1, replica_seeds, setup_for
    from .train import init_weights, order_parameters

    if values not in ("fixed", "tied"):
        raise ValueError("the split stability is computed for fixed or tied values (keys learned)")
    c = dataclasses.replace(cfg, student_values=values, fixed_value=fixed_value)
    setup = setup_for(c, FLIP1, c.D, c.H, c.nu, "softmax")
    W, b = init_weights(setup, replica_seeds(c, "split", 1, c.D))
    A0, Q0 = order_parameters(W, setup.T)
    A0, b0 = A0[0], b[0].double()
    Q0 = consistent(A0, Q0[0])
    mc = lambda n, tag, k=0: mirrored(FieldSampler(FLIP1, c.nu, c.L, c.noise, max(n // 2, 1), rng.derive_seed(
        c.seed, tag, values, fixed_value, c.D, k), H=c.H, location_law=c.location_law).fields, FLIP1.F)
    fs = mc(c.ode_samples, "split-stability-ode")
    batches = [mc(c.stability_samples // 4, "split-stability-mc", k) for k in range(4)]
    rows = []
    label = student_label(values, fixed_value)
    for name, signs in patterns(c.H):
        row = dict(student=label, values=values, fixed_value=fixed_value,
                   N_value=setup.value0(), D=c.D, nu=c.nu, H=c.H, lr=c.lr)
        row.update(analyse_pattern(c, fs, batches, A0, Q0, b0, values, name, signs))
        rows.append(row)
    name, signs = patterns(c.H)[0]
    traj, summary = sgd_from_pattern(c, setup, signs)
    rows[0].update(summary)
    traj = traj.assign(student=label, pattern=name)
    return {"split_stability": pd.DataFrame(rows), "split_pattern_sgd": traj}


def sgd_from_pattern(c, setup, signs) -> tuple[pd.DataFrame, dict]:
    """Online SGD at D from the split `signs` (every split replica's init with its keys moved along k* to
    M_h = signs_h SPLIT_START), for split_horizon / 3: does SGD leave the uneven split through an excursion?
    Returns the trajectories (seed, t, head, M, risk) and sgd_kept / sgd_switched (replicas that keep the
    split / where a head changes mode) with the median switch time."""
    from .experiments import replica_seeds
    from .train import init_weights, run_sgd

    W, b = init_weights(setup, replica_seeds(c, "split", c.seeds, c.D))
    for h, sgn in enumerate(signs):
        W[:, h, 0] = sgn * SPLIT_START
    horizon = c.split_horizon / 3
    log = run_sgd(setup, replica_seeds(c, "split", c.seeds, c.D), horizon, c.log_dt,
                  data_seed=rng.derive_seed(c.seed, "split-pattern", "data", c.D, c.student_values, c.fixed_value),
                  W0=W, b0=b)
    H, nt = c.H, len(log.t)
    M = log.A[:, :, :H, 0]                                        # (R, nt, H)
    traj = pd.DataFrame(dict(seed=np.repeat(np.arange(M.shape[0]), nt * H), t=np.tile(np.repeat(log.t, H), M.shape[0]),
                             head=np.tile(np.arange(H), M.shape[0] * nt), M=M.reshape(-1),
                             risk=np.repeat(log.risk, H, axis=1).reshape(-1)))
    switches = [first_switch(log.t, M[r])[0] for r in range(M.shape[0])]
    want = (sum(x > 0 for x in signs), sum(x < 0 for x in signs))
    kept = [np.isnan(sw) and ((M[r, -1] > SPLIT_OVERLAP).sum(), (M[r, -1] < -SPLIT_OVERLAP).sum()) == want
            for r, sw in enumerate(switches)]
    sw = [x for x in switches if np.isfinite(x)]
    return traj, dict(sgd_horizon=float(log.t[-1]), sgd_replicas=M.shape[0], sgd_kept=int(sum(kept)),
                      sgd_switched=len(sw), sgd_switch_t=float(np.median(sw)) if sw else math.nan)
