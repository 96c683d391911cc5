"""Config and presets of the `specialization` study.

Parameter values are ours (CPU-sized, brief sections 5-6), not the paper's, which we could not read."""
from __future__ import annotations

import dataclasses

from ...config import StudyConfig
from ...errors import ConfigError



@dataclasses.dataclass(frozen=True)
class SpecializationConfig(StudyConfig):
    """Fields (column names of the tables where they overlap: nu, L, H, noise, D, seed, activation).

    Common:       L tokens, noise = label-noise std Delta of the SGD experiments, lr = SGD learning rate eta,
                  init_scale = |k|/sqrt(D) = |v|/sqrt(D) at init, dtype of the SGD engine, log_dt = logging
                  interval in t = steps/D, location_law (spiked | max), value_mode (the teacher's value:
                  shared | theta); student_values (the student's values: fixed = held at N_h v*, keys learned;
                  tied = one shared learned value a v*, a >= 0; free = every v_h learned), fixed_value (N_h of
                  fixed values: auto = 1/H per-head normalizations, 1 joint ones | 1/H | 2/H | 1); lr_bias_ratio = the
                  bias's learning rate / lr; lr_tau: lr(t) = lr / (1 + t / lr_tau) (0: constant).
    activations:  teacher-aligned risks, flipped spike F=1, H=2, Delta=0, at each of nus; act_samples MC
                  samples (fit on act_samples/2 independent ones); act_refine: Nelder-Mead
                  refinement after the (beta, bias) grid search.
    plateau:      flipped spike mu=0, nu, H heads; SGD at each D of Ds with plateau_seeds seeds up to
                  plateau_horizon (one task per D and group of plateau_group seeds); the finite-lr overlap ODE from the
                  inits of the first ode_seeds seeds at every D of Ds (and ode_D), the gradient-flow ODE from
                  seed 0 at D = ode_D; ode_samples (antithetic) MC samples per drift, Euler step ode_dt.
    variance:     Gaussian theta ~ N(0, diag(variance_sigma^2)), nu = variance_nu, each H of variance_Hs, D, `seeds` seeds,
                  up to variance_horizon, activations softmax and bayes_softmax; the finite-lr ODE from the inits
                  of the first variance_ode_seeds replicas up to variance_ode_horizon (Euler step
                  variance_ode_dt, ode_samples MC samples mirrored per feature), and the growth rates of each
                  feature at its unspecialized and one-feature states (the latter relaxed for variance_relax),
                  from stability_samples MC samples in 4 batches.
    split:        flipped spike mu=0, p=1/2, nu, H heads, D, `seeds` seeds, up to split_horizon.
    train:        flipped spike mu=(1,0), delta=(0,1) (F=2), nu, train_H heads, D, `seeds` seeds, each of
                  train_activations, up to train_horizon; then pruning evaluated with eval_samples MC samples.
    """

    seeds: int = 10
    L: int = 4
    noise: float = 0.1
    lr: float = 0.3
    init_scale: float = 0.1
    dtype: str = "float32"
    log_dt: float = 1.0
    location_law: str = "spiked"
    value_mode: str = "shared"
    student_values: str = "fixed"
    fixed_value: str = "auto"
    lr_bias_ratio: float = 1.0
    lr_tau: float = 0.0
    # activations experiment
    nus: tuple[float, ...] = (1.0, 4.0, 9.0, 16.0, 25.0)
    act_samples: int = 60000
    act_refine: bool = True
    # plateau + ODE
    nu: float = 16.0
    H: int = 4
    Ds: tuple[int, ...] = (250, 1000, 4000)
    plateau_seeds: int = 10
    plateau_group: int = 4
    plateau_horizon: float = 100.0
    ode_D: int = 1000
    ode_seeds: int = 1
    ode_samples: int = 20000
    ode_dt: float = 0.05
    small_lr: float = 0.05
    # variance ordering, split, training
    D: int = 500
    variance_sigma: tuple[float, ...] = (1.0, 0.5)
    variance_Hs: tuple[int, ...] = (4, 6)
    variance_nu: float = 9.0
    variance_horizon: float = 150.0
    variance_ode_seeds: int = 2
    variance_ode_horizon: float = 600.0
    variance_ode_dt: float = 0.25
    variance_relax: float = 600.0
    stability_samples: int = 100000
    split_horizon: float = 300.0
    train_H: int = 6
    train_activations: tuple[str, ...] = ("softmax", "softmax1_nobias", "softmax1", "bayes_softmax")
    train_horizon: float = 300.0
    eval_samples: int = 20000

    def validate(self) -> None:
        super().validate()
        self.check_positive("L", "lr", "init_scale", "log_dt", "nus", "act_samples", "nu", "H", "Ds",
                            "plateau_seeds", "plateau_group", "plateau_horizon", "small_lr", "ode_D", "ode_seeds", "ode_samples", "ode_dt",
                            "D", "variance_sigma", "variance_Hs", "variance_nu", "variance_horizon", "variance_ode_seeds",
                            "variance_ode_horizon", "variance_ode_dt", "variance_relax", "stability_samples", "split_horizon",
                            "train_H", "train_horizon", "eval_samples")
        self.check_nonnegative("noise")
        self.check_choice("dtype", {"float32", "float64"})
        self.check_choice("location_law", {"spiked", "max"})
        self.check_choice("value_mode", {"shared", "theta"})
        self.check_choice("student_values", {"free", "fixed", "tied"})
        self.check_choice("fixed_value", {"auto", "1/H", "2/H", "1"})
        self.check_nonnegative("lr_bias_ratio", "lr_tau")
        if self.student_values != "free" and self.value_mode != "shared":
            raise ConfigError("student_values", "fixed or tied values need value_mode=shared (one readout v*)")
        from .models import entry_of           # any registry entry (optionally with _nobias) trains
        for a in self.train_activations:
            try:
                entry_of(a)
            except ValueError as e:
                raise ConfigError("train_activations", str(e)) from None
        if self.L < 2:
            raise ConfigError("L", f"must be >= 2 (one signal token and at least one noise token), got {self.L}")
        for name in ("D", "ode_D"):
            if getattr(self, name) < 8:
                raise ConfigError(name, f"must be >= 8, got {getattr(self, name)}")
        if min(self.Ds) < 8:
            raise ConfigError("Ds", f"every D must be >= 8, got {self.Ds}")
        if self.ode_seeds > self.plateau_seeds:
            raise ConfigError("ode_seeds", f"must be <= plateau_seeds ({self.plateau_seeds}), got {self.ode_seeds}")
        if self.variance_ode_seeds > self.seeds:
            raise ConfigError("variance_ode_seeds", f"must be <= seeds ({self.seeds}), got {self.variance_ode_seeds}")
        if self.variance_ode_horizon < self.variance_horizon:
            raise ConfigError("variance_ode_horizon", f"must be >= variance_horizon ({self.variance_horizon}), got "
                                                      f"{self.variance_ode_horizon}")
        if self.variance_ode_dt > self.log_dt:
            raise ConfigError("variance_ode_dt", f"must be <= log_dt ({self.log_dt}), got {self.variance_ode_dt}")
        if self.stability_samples < 4 * 2 ** len(self.variance_sigma):
            raise ConfigError("stability_samples", f"must be >= {4 * 2 ** len(self.variance_sigma)} (4 batches, "
                                                   f"mirrored per feature), got {self.stability_samples}")
        if self.ode_dt > self.log_dt:
            raise ConfigError("ode_dt", f"must be <= log_dt ({self.log_dt}), got {self.ode_dt}")
        if self.train_H < 3:
            raise ConfigError("train_H", f"must be >= 3 (more heads than the F = 2 features), got {self.train_H}")
        if not self.train_activations:
            raise ConfigError("train_activations", "must name at least one activation")


PRESETS = {
    "smoke": dict(seeds=3, nus=(4.0, 25.0), small_lr=0.15, variance_Hs=(4,), act_samples=3000, act_refine=False, Ds=(48, 96), plateau_seeds=2,
                  plateau_horizon=12.0, ode_D=96, ode_samples=2000, ode_dt=0.25, D=48, variance_horizon=12.0,
                  variance_nu=16.0, variance_ode_seeds=1, variance_ode_horizon=24.0, variance_ode_dt=0.5,
                  variance_relax=10.0, stability_samples=8000,
                  split_horizon=12.0, train_H=3, train_horizon=12.0, eval_samples=2000, log_dt=1.0),
    "quick": dict(seeds=10, act_samples=30000, Ds=(100, 400, 1600), plateau_seeds=8, plateau_horizon=70.0,
                  ode_D=400, ode_seeds=4, ode_samples=6000, ode_dt=0.25, small_lr=0.1, D=120, variance_horizon=600.0,
                  variance_nu=16.0, variance_ode_seeds=1, variance_ode_horizon=600.0, variance_ode_dt=0.5,
                  split_horizon=600.0, train_H=6, train_horizon=300.0, eval_samples=20000),
    "paper": dict(seeds=10, act_samples=100000, Ds=(250, 1000, 4000), plateau_seeds=10, plateau_horizon=150.0,
                  ode_D=1000, ode_seeds=4, ode_samples=20000, ode_dt=0.05, D=500, variance_horizon=800.0,
                  variance_nu=9.0, variance_ode_seeds=2, variance_ode_horizon=1000.0, variance_ode_dt=0.5,
                  stability_samples=200000,
                  split_horizon=600.0, train_H=6, train_horizon=300.0, eval_samples=50000),
}
