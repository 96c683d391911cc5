"""Online SGD for many replicas at once: one fresh sample per step and replica, t = steps / D.

The hot loop advances R independent replicas (seeds) in one batched tensor program with hand-written
gradients (checked against autograd in the tests).  Weights are kept as W = [k_1..k_H, v_1..v_H] / sqrt(D),
shape (R, 2H, D), so that the local fields are plain products and the order parameters are

    A = W[:, :, :T]     (R, 2H, T)   student-teacher overlaps s . t / D   (M_hf = A[:, h, f], N_h = A[:, H+h, F])
    Q = W W^T           (R, 2H, 2H)  student-student overlaps s . s' / D  (R_hh' , P_hh', C_hh')

Per step [reconstruction, brief 3.3], with c = dloss/d(local fields) from :func:`models.forward_backward`:

    W <- W - (lr / D) c^T X          (X: (R, L, D) the fresh tokens)
    b <- b - (lr / D) c_b            (per-head logit bias, O(1) parameter on the t = n/D clock)

The test error logged at time t is the mean of (f - y)^2 over the fresh samples of the window
(t - log_dt, t], each evaluated *before* its update: an unbiased online estimate of the population risk.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ...errors import ConfigError, check_finite
from .data import Prior, label_from_tokens, n_teacher
from ...normalizations import info
from .models import entry_of, forward_backward, learns_bias

DTYPES = {"float32": torch.float32, "float64": torch.float64}
STUDENT_VALUES = ("free", "fixed", "tied")
FIXED_VALUES = ("auto", "1/H", "2/H", "1")


@dataclasses.dataclass(frozen=True)
class SGDSetup:
    """Everything one online-SGD run needs (besides the seeds and the horizon)."""

    D: int
    L: int
    H: int
    prior: Prior
    nu: float
    noise: float
    lr: float
    activation: str = "softmax"
    location_law: str = "spiked"
    value_mode: str = "shared"
    init_scale: float = 0.1
    dtype: str = "float32"
    device: str = "cpu"
    student_values: str = "free"      # free | fixed | tied (see :func:`value_scale`)
    fixed_value: str = "auto"         # fixed values' overlap N_h: auto | 1/H | 2/H | 1
    lr_bias: float | None = None      # learning rate of the per-head bias (None: lr)
    lr_tau: float = 0.0               # lr(t) = lr / (1 + t / lr_tau); 0: constant lr

    def __post_init__(self):
        if self.student_values not in STUDENT_VALUES:
            raise ConfigError("student_values", f"must be one of {STUDENT_VALUES}, got {self.student_values!r}")
        if self.student_values != "free" and self.value_mode != "shared":
            raise ConfigError("student_values", "fixed or tied values need the teacher's value_mode=shared "
                                                "(one readout direction v*)")
        if self.fixed_value not in FIXED_VALUES:
            raise ConfigError("fixed_value", f"must be one of {FIXED_VALUES}, got {self.fixed_value!r}")

    @property
    def T(self) -> int:
        return n_teacher(self.prior.F, self.value_mode)

    def value0(self) -> float:
        """N_h of the fixed values, and the initial shared value of the tied ones.

        fixed, ``auto`` [our reading]: 1/H for an entry normalized per head over the tokens (so H heads
        that attend alike read out the token average once), 1 for an entry normalized jointly over heads and
        tokens (the Bayes-softmax construction's v_h = v*); ``1/H`` and ``1`` force that value; ``2/H``: an even
        split of the heads over two modes reads out v* exactly (the split-stability comparison).
        tied: starts at ``init_scale`` (the norm of a free value at init) along v*."""
        if self.student_values == "tied":
            return float(self.init_scale)
        if self.fixed_value == "1":
            return 1.0
        if self.fixed_value == "1/H":
            return 1.0 / self.H
        if self.fixed_value == "2/H":           # an even split over two modes reads out v* exactly
            return 2.0 / self.H
        return 1.0 if info(entry_of(self.activation)[0]).axes == "heads_and_keys" else 1.0 / self.H

    def lr_at(self, t: float) -> float:
        return self.lr / (1.0 + t / self.lr_tau) if self.lr_tau > 0 else self.lr

    @property
    def torch_dtype(self):
        return DTYPES[self.dtype]


def init_weights(setup: SGDSetup, seeds) -> tuple[torch.Tensor, torch.Tensor]:
    """W (R, 2H, D) = s / sqrt(D) with every coordinate of k_h, v_h ~ N(0, init_scale^2) (so |k|^2/D ~
    init_scale^2), drawn per replica from its own seed (a replica's init does not depend on R); b (R, H) = 0.
    Fixed / tied values: v_h = value0 * v* instead (the keys' draws are the same as with free values)."""
    rows = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        rows.append(torch.randn(2 * setup.H, setup.D, generator=g, dtype=torch.float64))
    W = torch.stack(rows) * (setup.init_scale / math.sqrt(setup.D))
    if setup.student_values != "free":           # values along the teacher's readout v* = sqrt(D) e_F
        W[:, setup.H:, :] = 0.0
        W[:, setup.H:, setup.prior.F] = setup.value0()
    W = W.to(dtype=setup.torch_dtype, device=setup.device)
    b = torch.zeros(len(rows), setup.H, dtype=setup.torch_dtype, device=setup.device)
    return W, b


def order_parameters(W: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A (R, 2H, T), Q (R, 2H, 2H) from W (R, 2H, D) (float64 copies)."""
    W64 = W.double()
    return W64[:, :, :T].clone(), W64 @ W64.transpose(1, 2)


class ChunkSampler:
    """Draws the data of S consecutive steps for R replicas in one call: X (S, R, L, D), y (S, R).

    Teacher coordinates: keys 0..F-1, values F.. (see :mod:`data`)."""

    def __init__(self, setup: SGDSetup, R: int, S: int, gen: torch.Generator):
        self.s, self.R, self.S, self.gen = setup, R, S, gen
        dt, dev = setup.torch_dtype, setup.device
        self.X = torch.empty(S, R, setup.L, setup.D, dtype=dt, device=dev)
        self.ar_s = torch.arange(S, device=dev)[:, None]
        self.ar_r = torch.arange(R, device=dev)[None, :]

    def draw(self):
        s, S, R, g = self.s, self.S, self.R, self.gen
        F = s.prior.F
        X = torch.randn(self.X.shape, generator=g, dtype=self.X.dtype, device=self.X.device, out=self.X)
        theta = s.prior.sample(S * R, g, dtype=X.dtype, device=X.device).reshape(S, R, F)
        if s.location_law == "spiked":
            eps = torch.randint(s.L, (S, R), generator=g, device=X.device)
            X[self.ar_s, self.ar_r, eps, :F] += math.sqrt(s.nu) * theta
        else:  # max law: eps ~ softmax_l(nu theta . x_l[:F])
            logits = s.nu * torch.einsum("srlf,srf->srl", X[..., :F], theta)
            eps = torch.multinomial(torch.softmax(logits.reshape(S * R, s.L), -1), 1,
                                    generator=g).reshape(S, R)
        y = label_from_tokens(X[..., :s.T][self.ar_s, self.ar_r, eps], theta, F, s.value_mode)  # (S, R)
        if s.noise > 0:
            y = y + s.noise * torch.randn(S, R, generator=g, dtype=X.dtype, device=X.device)
        return X, y


def _snapshot(b: torch.Tensor) -> np.ndarray:
    """A float64 numpy *copy* of the live bias (``b.double().cpu().numpy()`` is a view of b itself when b is
    already float64 on the cpu, so every logged bias would equal the final one)."""
    return b.detach().to(device="cpu", dtype=torch.float64, copy=True).numpy()


def chunk_size(setup: SGDSetup, R: int, budget: int = 2 ** 21) -> int:
    """Steps per data chunk: about ``budget`` numbers per chunk."""
    return int(max(1, min(1024, budget // (R * setup.L * setup.D))))


@dataclasses.dataclass
class SGDLog:
    """Logged trajectories: t (nt,), risk (R, nt), A (R, nt, 2H, T), Q (R, nt, 2H, 2H), b (R, nt, H);
    index 0 is t = 0 (risk NaN there: no samples seen yet).  W, b: final weights."""

    t: np.ndarray
    risk: np.ndarray
    A: np.ndarray
    Q: np.ndarray
    b: np.ndarray
    W: torch.Tensor
    bias: torch.Tensor


def run_sgd(setup: SGDSetup, seeds, t_max: float, log_dt: float, data_seed: int,
            W0: torch.Tensor | None = None, b0: torch.Tensor | None = None) -> SGDLog:
    """Online SGD of len(seeds) replicas up to t_max = steps / D, logging every log_dt.

    Replica r starts from init_weights(seeds[r]) (or W0, b0); the data stream is drawn from ``data_seed``."""
    if t_max <= 0 or log_dt <= 0:
        raise ConfigError("horizon", f"t_max and log_dt must be positive, got {t_max}, {log_dt}")
    W, b = init_weights(setup, seeds) if W0 is None else (W0.clone(), b0.clone())
    R, H, D, T = W.shape[0], setup.H, setup.D, setup.T
    use_b = learns_bias(setup.activation)
    gen = torch.Generator(device=setup.device).manual_seed(int(data_seed))
    steps_per_log = max(1, int(round(log_dt * D)))
    n_logs = int(math.ceil(t_max / log_dt - 1e-9))
    total = steps_per_log * n_logs
    S = chunk_size(setup, R)
    sampler = ChunkSampler(setup, R, S, gen)
    alpha = -setup.lr / D
    alpha_b = -(setup.lr if setup.lr_bias is None else setup.lr_bias) / D
    values, F, tau = setup.student_values, setup.prior.F, setup.lr_tau > 0
    risk = np.full((R, n_logs + 1), np.nan)
    A0, Q0 = order_parameters(W, T)
    As, Qs, bs = [A0.cpu().numpy()], [Q0.cpu().numpy()], [_snapshot(b)]
    acc = torch.zeros(R, dtype=W.dtype, device=W.device)
    fields = torch.empty(R, setup.L, 2 * H, dtype=W.dtype, device=W.device)
    C = torch.zeros_like(fields)
    Xc = yc = None
    for step in range(total):
        j = step % S
        if j == 0:
            Xc, yc = sampler.draw()
        X = Xc[j]                                               # (R, L, D)
        torch.bmm(X, W.transpose(1, 2), out=fields)             # (R, L, 2H) = [chi | z]
        _, r, c_k, c_v, c_b = forward_backward(fields[..., :H], fields[..., H:], yc[j], setup.activation,
                                               b if use_b else None)
        acc.addcmul_(r, r)
        if tau:
            lr_t = setup.lr_at(step / D)
            alpha, alpha_b = -lr_t / D, -(lr_t if setup.lr_bias is None else setup.lr_bias * lr_t / setup.lr) / D
        C[..., :H] = c_k                                        # C = [c_k | c_v]  (R, L, 2H)
        if values == "free":
            C[..., H:] = c_v
        W.baddbmm_(C.transpose(1, 2), X, alpha=alpha)           # W -= lr/D c^T X  (fixed/tied: keys only)
        if values == "tied":                                    # a <- max(0, a - lr/D sum_lh c_v x_l[F])
            ga = (c_v.sum(-1) * X[..., F]).sum(-1)              # (R,)
            a = (W[:, H, F] + alpha * ga).clamp_min(0.0)
            W[:, H:, F] = a[:, None]
        if use_b:
            b.add_(c_b, alpha=alpha_b)
        if (step + 1) % steps_per_log == 0:
            k = (step + 1) // steps_per_log
            check_finite("online risk", acc, step + 1)
            risk[:, k] = (acc.double() / steps_per_log).cpu().numpy()
            acc.zero_()
            A, Q = order_parameters(W, T)
            check_finite("weights", Q, step + 1)
            As.append(A.cpu().numpy())
            Qs.append(Q.cpu().numpy())
            bs.append(_snapshot(b))
    t = np.arange(n_logs + 1) * steps_per_log / D
    return SGDLog(t=t, risk=risk, A=np.stack(As, 1), Q=np.stack(Qs, 1), b=np.stack(bs, 1), W=W, bias=b)


def sgd_step_reference(setup: SGDSetup, W: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor):
    """One batched SGD step by autograd (the test's reference for the manual gradients)."""
    from .models import attention, learns_bias

    W = W.detach().clone().requires_grad_(True)
    bb = b.detach().clone().requires_grad_(True)
    H = setup.H
    fields = torch.bmm(X, W.transpose(1, 2))
    sigma = attention(fields[..., :H], setup.activation, bb if learns_bias(setup.activation) else None)
    f = (sigma * fields[..., H:]).sum((-2, -1))
    loss = 0.5 * ((f - y) ** 2).sum()
    loss.backward()
    # d loss / d W  where W = s / sqrt(D): the SGD step on s is s -= lr * dloss/ds = lr * dloss/dW / sqrt(D),
    # i.e. W -= lr / D * dloss/dW.
    gb = bb.grad if bb.grad is not None else torch.zeros_like(b)
    gW = W.grad.clone()
    lr_b = setup.lr if setup.lr_bias is None else setup.lr_bias
    if setup.student_values == "fixed":
        gW[:, H:] = 0.0
    elif setup.student_values == "tied":                 # W[:, H+h, F] = a for every h: da = sum_h dW[H+h, F]
        F = setup.prior.F
        a = (W[:, H, F] - setup.lr / setup.D * gW[:, H:, F].sum(-1)).clamp_min(0.0).detach()
        Wn = W.detach() - setup.lr / setup.D * gW
        Wn[:, H:, :] = 0.0
        Wn[:, H:, F] = a[:, None]
        return Wn, b - lr_b / setup.D * gb
    return W.detach() - setup.lr / setup.D * gW, b - lr_b / setup.D * gb
