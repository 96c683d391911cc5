"""Config of the copy-transition study: defaults, validation, presets."""
from __future__ import annotations

import dataclasses

from ...config import StudyConfig
from ...errors import ConfigError

BOUNDARIES = ("cyclic", "drop_first", "causal")


@dataclasses.dataclass(frozen=True)
class CopyTransitionConfig(StudyConfig):
    """Model, theory and simulation settings (defaults: brief section 3; scales are the `quick` ones).

    Theory grid: P / L log-spaced in [theory_P_min, theory_P_max] with theory_n_P points, for each L in
    theory_Ls and each attention.  Sampling (MALA, Langevin) runs at L = sample_L on P = factor * P_ref with
    P_ref = P* (softmax) or P_c (linear) of the theory at sample_L; Adam runs on a log grid of adam_n_P points
    of P / P_ref in [adam_factor_min, adam_factor_max].  `seeds` = chains per (P, start) and Adam seeds.
    Softmax MALA also runs at each L of hysteresis_Ls on P = hysteresis_factors * P*(L), one P per task; at
    sample_L MALA and Langevin run `sample_block` P values per task.
    """

    V: int = 8
    kappa: float = 1.0
    sigma_w2: float = 1.0
    sigma_a2: float = 1.0
    boundary: str = "cyclic"
    ansatz: str = "one_parameter"    # softmax logits: one_parameter (a, others 0) | shift_invariant (gap a,
    #                                  row-centred) | per_row (each target row its own gap a_t: mask-aware)
    attentions: tuple[str, ...] = ("softmax", "linear")
    # theory
    theory_Ls: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048)
    theory_P_min: float = 0.05
    theory_P_max: float = 500.0
    theory_n_P: int = 100
    landscape_factors: tuple[float, ...] = (0.9, 0.97, 1.0, 1.05, 1.15)
    variant_Ls: tuple[int, ...] = (32, 64, 128, 256, 512)   # softmax P* under cyclic/causal x both ansatze
    variant_rows_max_L: int = 64     # the causal per-row ansatz (an L-dimensional minimization per P) up to this L
    variant_n_P: int = 100           # grid that brackets each variant's window (spinodals, P* then bisected)
    # reduced-posterior MALA (W integrated out)
    sample_L: int = 32
    # inside the window: 0.98, 1.02, 1.05 P* have barriers >= 10 nats from both minima at L = 32 (1.08 P*: 5)
    sample_factors: tuple[float, ...] = (0.1, 0.3, 0.6, 0.8, 0.98, 1.02, 1.05, 1.3, 2.0, 4.0)
    mala_burn: int = 1000
    mala_steps: int = 1500
    mala_thin: int = 10
    copy_logit: float = 0.0          # copy-start logit a of the softmax chains; 0 = 3 ln L (brief 6.1)
    sample_block: int = 5            # P values per MALA / Langevin task (their chains batched in one program)
    # hysteresis at further L (softmax MALA from both starts): P = factor * P*(theory at that L)
    hysteresis_Ls: tuple[int, ...] = ()
    # L = 64: window [0.87, 1.44] P*; barriers (min of both sides) 81, 687, 94 nats at 0.9, 1.0, 1.3 P*
    hysteresis_factors: tuple[float, ...] = (0.7, 0.9, 1.0, 1.3, 1.8)
    n_test: int = 2000
    # equilibrium P* from sampling: umbrella integration along the gap G (free_energy.py), softmax only
    fe_Ls: tuple[int, ...] = (32, 64)
    fe_factors: tuple[float, ...] = (0.97, 1.0, 1.03)   # P / P*(theory)
    fe_windows: int = 20
    fe_k: float = 4.0                # spring constant k = fe_k L^2
    fe_seeds: int = 3                # nested data sets (the interval of P* is over them)
    fe_burn: int = 150
    fe_steps: int = 300
    # full-network Langevin on (S, W)
    langevin_factors: tuple[float, ...] = (0.3, 1.0, 3.0)
    langevin_chains: int = 2         # chains per start and P (float32, raw data: cost O(P L^2 V) per step)
    langevin_steps: int = 1000
    langevin_burn: int = 500
    langevin_lr: float = 2e-4
    # Adam (full batch, weight decay = the prior)
    adam_factor_min: float = 0.3
    adam_factor_max: float = 3.0
    adam_n_P: int = 21
    adam_linear_factor_min: float = 0.3   # linear Adam grid: P / P_MAP (joint-MAP onset kappa V) in [min, max]
    adam_linear_factor_max: float = 8.0
    adam_steps: int = 1500
    adam_lr: float = 0.02
    adam_record_every: int = 50
    parametrization: str = "free"    # free S | factorized S = W_Q^T W_K / width
    width: int = 32

    def validate(self) -> None:
        super().validate()
        self.check_positive("V", "kappa", "sigma_w2", "sigma_a2", "theory_Ls", "theory_P_min", "theory_P_max",
                            "theory_n_P", "sample_L", "sample_factors", "mala_steps", "mala_thin", "n_test",
                            "langevin_factors", "langevin_chains", "langevin_steps", "langevin_lr", "adam_factor_min",
                            "adam_factor_max", "adam_n_P", "adam_steps", "adam_lr", "adam_record_every", "width",
                            "landscape_factors", "fe_factors", "fe_windows", "fe_k", "fe_steps", "sample_block",
                            "variant_n_P")
        self.check_nonnegative("fe_seeds", "fe_burn")
        if self.fe_windows < 8 or self.fe_steps < 20:
            raise ConfigError("fe_windows", "umbrella integration needs >= 8 windows and >= 20 steps")
        self.check_nonnegative("mala_burn", "langevin_burn", "copy_logit")
        self.check_choice("boundary", set(BOUNDARIES))
        self.check_choice("ansatz", {"one_parameter", "shift_invariant", "per_row"})
        self.check_choice("attentions", {"softmax", "linear"})
        self.check_choice("parametrization", {"free", "factorized"})
        if not self.attentions:
            raise ConfigError("attentions", "needs at least one attention")
        if self.V < 2:
            raise ConfigError("V", f"must be >= 2, got {self.V}")
        if self.adam_linear_factor_max <= self.adam_linear_factor_min or self.adam_linear_factor_min <= 0:
            raise ConfigError("adam_linear_factor_max", "must exceed adam_linear_factor_min > 0")
        if self.variant_n_P < 8:
            raise ConfigError("variant_n_P", f"must be >= 8, got {self.variant_n_P}")
        if self.hysteresis_Ls and not self.hysteresis_factors:
            raise ConfigError("hysteresis_factors", "needs at least one factor when hysteresis_Ls is set")
        for name in ("theory_Ls", "variant_Ls", "fe_Ls", "hysteresis_Ls"):
            if any(L < 4 for L in getattr(self, name)):
                raise ConfigError(name, "every L must be >= 4")
        if self.sample_L < 4:
            raise ConfigError("sample_L", f"must be >= 4, got {self.sample_L}")
        if self.theory_P_max <= self.theory_P_min:
            raise ConfigError("theory_P_max", "must exceed theory_P_min")
        if self.theory_n_P < 8:
            raise ConfigError("theory_n_P", f"must be >= 8, got {self.theory_n_P}")
        if self.adam_factor_max <= self.adam_factor_min:
            raise ConfigError("adam_factor_max", "must exceed adam_factor_min")
        if self.adam_n_P < 2:
            raise ConfigError("adam_n_P", f"must be >= 2, got {self.adam_n_P}")
        if self.langevin_burn >= self.langevin_steps:
            raise ConfigError("langevin_burn", "must be smaller than langevin_steps")


PRESETS = {
    "smoke": dict(theory_Ls=(32,), variant_Ls=(32,), fe_Ls=(16,), fe_seeds=2, fe_windows=12, fe_burn=40,
                  fe_steps=60, theory_n_P=24, theory_P_max=100.0, sample_L=32, seeds=2,
                  sample_factors=(0.3, 1.0, 3.0), mala_burn=100, mala_steps=100, mala_thin=5, n_test=200,
                  langevin_factors=(0.3,), langevin_chains=1, langevin_steps=100, langevin_burn=50, adam_n_P=4,
                  adam_steps=150, adam_record_every=15, landscape_factors=(0.9, 1.0, 1.15)),
    "quick": dict(seeds=3),
    # paper: the brief's protocol (section 6-7) where it gives one; the measured reasons for each size are in
    # docs/studies/copy-transition.md ("Paper preset: sizes and cost")
    "paper": dict(theory_Ls=(32, 64, 128, 256, 512, 1024, 2048), theory_n_P=200,
                  variant_Ls=(32, 64, 128, 256, 512, 1024), variant_rows_max_L=256, variant_n_P=100,
                  fe_Ls=(32, 64), fe_seeds=6, fe_windows=50, fe_burn=1000, fe_steps=2000,
                  fe_factors=(0.96, 0.98, 1.0, 1.02, 1.04), seeds=5, mala_burn=20000,
                  mala_steps=50000, mala_thin=100, n_test=10000, sample_block=3, hysteresis_Ls=(64,),
                  langevin_steps=70000, langevin_burn=20000,
                  langevin_chains=4, langevin_factors=(0.3, 0.6, 0.9, 1.0, 1.1, 1.5, 3.0), adam_n_P=21,
                  adam_steps=20000, adam_lr=0.001, adam_record_every=200,
                  sample_factors=(0.1, 0.2, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.98, 1.02, 1.05, 1.2, 1.3, 2.0, 4.0)),
}
