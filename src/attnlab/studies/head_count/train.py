"""Simulation: train one model on the sum-of-maxima task and measure its validation NMSE.

Protocol [reconstruction: the paper gives no optimizer details, brief Sec. 7]: Adam, one-cycle (or cosine /
constant) learning-rate schedule, MSE on standardised targets (training mean and std), NMSE = MSE / Var(y)
on the original scale; the model kept is the one with the best validation NMSE (early stopping after
``patience`` epochs without improvement when patience > 0).

Restarts (``restarts`` = K > 1, ``screen_epochs`` = E0): K initialisations each train E0 epochs of the same
schedule, and only the one with the best validation NMSE trains on to ``epochs`` [reconstruction: a cheap
form of the paper's minimum over seeds; it targets the plateau where two heads retrieve the same feature,
which a run escapes, if at all, in its first ~10 epochs]. Cost: K E0 + (epochs - E0) epochs.
"""
from __future__ import annotations

import copy
import dataclasses
import time

import torch

from ...errors import check_finite
from .models import HeadCountModel


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Optimizer settings of one training run (Adam with the learning-rate ``schedule``), early stopping
    (``patience``) and the restart screen (``restarts`` inits trained ``screen_epochs`` epochs each; the best one
    trains on)."""

    epochs: int = 60
    batch: int = 128
    lr: float = 3e-3
    schedule: str = "onecycle"
    weight_decay: float = 0.0
    patience: int = 0
    restarts: int = 1        # K initialisations screened for screen_epochs epochs; the best one trains on
    screen_epochs: int = 0


@dataclasses.dataclass
class TrainResult:
    """The outcome of one training run: best validation NMSE, training NMSE, epochs run, the per-epoch
    validation history, and its wall and CPU seconds."""

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


class _Run:
    """One model with its optimizer, schedule, shuffling generator and best-validation state."""

    def __init__(self, model, settings: TrainSettings, seed: int, steps: int):
        self.model, self.settings = model, settings
        self.g = torch.Generator().manual_seed(seed)
        self.opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        self.sched = _scheduler(self.opt, settings, steps)
        self.best, self.best_state, self.best_epoch, self.history, self.epoch = float("inf"), None, -1, [], 0

    def step_epoch(self, x_tr, ys_tr, x_va, y_va, mu, sd) -> None:
        """One epoch of Adam on standardised targets, then the validation NMSE on the original scale."""
        model, b, n = self.model, self.settings.batch, x_tr.shape[0]
        self.epoch += 1
        model.train()
        perm = torch.randperm(n, generator=self.g)
        total = torch.zeros(())
        for i in range(0, n, b):
            idx = perm[i:i + b]
            loss = torch.mean((model(x_tr[idx]) - ys_tr[idx]) ** 2)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            total += loss.detach()
        check_finite("training loss", total, step=self.epoch)
        model.eval()
        val = _nmse_t(predict(model, x_va) * sd + mu, y_va)
        check_finite("validation NMSE", val, step=self.epoch)
        self.history.append(val)
        if val < self.best:
            self.best, self.best_epoch = val, self.epoch
            self.best_state = copy.deepcopy(model.state_dict())


def train(model: HeadCountModel, x_tr: torch.Tensor, y_tr: torch.Tensor, x_va: torch.Tensor,
          y_va: torch.Tensor, settings: TrainSettings, seed: int, candidates=()) -> TrainResult:
    """Adam on MSE(model(x), standardised y). x_*: (B, T, d), y_*: (B,). Raises DivergenceError on NaN/inf.
    ``candidates``: further initialised models (restarts); with settings.restarts > 1 all of them train
    screen_epochs epochs and the best (validation NMSE) continues. Returns the kept model's result; the
    kept model's weights end up in ``model``."""
    start, cpu0 = time.perf_counter(), time.process_time()
    mu, sd = y_tr.mean(), y_tr.std()
    ys_tr = (y_tr - mu) / sd                                           # standardised targets
    steps = settings.epochs * -(-x_tr.shape[0] // settings.batch)
    models = [model, *candidates][:max(1, settings.restarts)]
    runs = [_Run(m, settings, seed + k, steps) for k, m in enumerate(models)]
    screen = min(settings.screen_epochs, settings.epochs) if len(runs) > 1 else 0
    for _ in range(screen):
        for r in runs:
            r.step_epoch(x_tr, ys_tr, x_va, y_va, mu, sd)
    run = min(runs, key=lambda r: r.best)                              # the restart kept
    while run.epoch < settings.epochs:
        run.step_epoch(x_tr, ys_tr, x_va, y_va, mu, sd)
        if settings.patience and run.epoch - run.best_epoch >= settings.patience:
            break
    model.load_state_dict(run.best_state)
    model.eval()
    nmse_train = _nmse_t(predict(model, x_tr) * sd + mu, y_tr)
    return TrainResult(nmse_val=run.best, nmse_train=nmse_train, epochs=run.epoch, best_epoch=run.best_epoch,
                       history=run.history, wall_s=time.perf_counter() - start,
                       cpu_s=time.process_time() - cpu0)
