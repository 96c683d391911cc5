"""Simulation: train one model on the sum-of-maxima task and measure its validation NMSE.

Protocol [reconstruction: the paper gives no optimizer details, brief Sec. 7]: Adam, one-cycle (or cosine /
constant) learning-rate schedule, MSE on standardised targets (training mean and std), NMSE = MSE / Var(y)
on the original scale; the model kept is the one with the best validation NMSE (early stopping after
``patience`` epochs without improvement when patience > 0).
"""
from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import torch

from ...errors import check_finite
from .models import HeadCountModel


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    epochs: int = 60
    batch: int = 128
    lr: float = 3e-3
    schedule: str = "onecycle"
    weight_decay: float = 0.0
    patience: int = 0


@dataclasses.dataclass
class TrainResult:
    nmse_val: float           # best validation NMSE
    nmse_train: float         # training NMSE of the kept (best-validation) model
    epochs: int               # epochs run (< settings.epochs when early stopping fired)
    best_epoch: int
    history: list[float]      # validation NMSE after each epoch
    wall_s: float
    cpu_s: float              # CPU seconds of this process (load-independent cost)


def _nmse_t(pred: torch.Tensor, y: torch.Tensor) -> float:
    """NMSE = mean((pred - y)^2) / Var(y) in float64 [paper App. B.1.1]."""
    pred, y = pred.double(), y.double()
    return float(((pred - y) ** 2).mean() / y.var(unbiased=False))


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Model output on x (B, T, d) in chunks -> (B,)."""
    return torch.cat([model(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])


def _scheduler(opt, settings: TrainSettings, steps: int):
    if settings.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=steps)
    if settings.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def train(model: HeadCountModel, x_tr: torch.Tensor, y_tr: torch.Tensor, x_va: torch.Tensor,
          y_va: torch.Tensor, settings: TrainSettings, seed: int) -> TrainResult:
    """Adam on MSE(model(x), standardised y). x_*: (B, T, d), y_*: (B,). Raises DivergenceError on NaN/inf."""
    start, cpu0 = time.perf_counter(), time.process_time()
    g = torch.Generator().manual_seed(seed)
    mu, sd = y_tr.mean(), y_tr.std()
    ys_tr = (y_tr - mu) / sd                                           # standardised targets
    n = x_tr.shape[0]
    steps_per_epoch = -(-n // settings.batch)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = _scheduler(opt, settings, settings.epochs * steps_per_epoch)
    best, best_state, best_epoch, history = float("inf"), None, -1, []
    epoch = 0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=g)
        total = torch.zeros(())
        for i in range(0, n, settings.batch):
            idx = perm[i:i + settings.batch]
            loss = torch.mean((model(x_tr[idx]) - ys_tr[idx]) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.detach()
        check_finite("training loss", total, step=epoch)
        model.eval()
        val = _nmse_t(predict(model, x_va) * sd + mu, y_va)
        check_finite("validation NMSE", val, step=epoch)
        history.append(val)
        if val < best:
            best, best_epoch = val, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif settings.patience and epoch - best_epoch >= settings.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    nmse_train = _nmse_t(predict(model, x_tr) * sd + mu, y_tr)
    return TrainResult(nmse_val=best, nmse_train=nmse_train, epochs=epoch, best_epoch=best_epoch,
                       history=history, wall_s=time.perf_counter() - start,
                       cpu_s=time.process_time() - cpu0)


def seed_of(*parts) -> int:
    """A deterministic 63-bit seed from a tuple of ints/strings."""
    ints = [p if isinstance(p, int) else int.from_bytes(str(p).encode()[:8].ljust(8, b"\0"), "little")
            for p in parts]
    return int(np.random.SeedSequence(ints).generate_state(1, dtype=np.uint64)[0] >> 1)
