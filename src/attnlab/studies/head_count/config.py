"""Config and presets of the head-count study (arXiv 2510.06662).

Field names match the columns of ``tables/nmse.parquet`` where they overlap (D, d, h, T, n, N, layers,
width_mode), so ``attnlab run head-count --set D=3`` and ``attnlab sweep head-count --grid h=1,2,3`` work.
``h`` / ``T`` (when set) override the grid tuples ``hs`` / ``Ts``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

from ...config import StudyConfig
from ...errors import ConfigError
from ...normalizations import available

VARIANTS = ("D3_total", "total_E32", "layers2")
WIDTH_MODES = ("per_head", "total")
WIDTH_ALIASES = {"fixed": "total"}   # `--set width_mode=fixed`: fixed total width E (paper Table 3)
SCHEDULES = ("onecycle", "cosine", "constant")


@dataclasses.dataclass(frozen=True)
class HeadCountConfig(StudyConfig):
    """The head-count study's config: the D-retrieval task, the (h, T) grid of Table 2, the CLS-query model, its
    training, and the Fig. 1b and variant experiments (field names match the ``nmse`` table's columns)."""

    # ---- the task: y = sum_{i<=D} max_t a_i^T x_t, x_t ~ N(0, I_d) [paper Sec. 6.1]
    D: int = 4                      # number of retrieved features (maxima) of the target
    d: int = 4                      # token dimension
    a_seed: int = 1234              # seed of the fixed unit vectors a_i [reconstruction: values not given]
    n_train: int = 8000             # training sequences per T [paper]
    n_val: int = 2000               # validation sequences per T [paper]
    # ---- the grid of the main experiment (Fig. 1a / Table 2)
    hs: tuple[int, ...] = (1, 2, 3, 4, 5)
    Ts: tuple[int, ...] = (16, 64)
    h: Optional[int] = None         # when set, replaces hs (single point; for `attnlab sweep --grid h=...`)
    T: Optional[int] = None         # when set, replaces Ts
    # ---- the model (paper eq. 4, App. B.1.1)
    n: int = 8                      # per-head width (width_mode="per_head")
    E: int = 32                     # total width (width_mode="total": n = ceil(E / h))
    width_mode: str = "per_head"    # "per_head" (n fixed, E = n h) | "total" (E fixed, n = ceil(E/h)); "fixed" = "total"
    N: int = 32                     # MLP width of the encoder and of the head FFN
    layers: int = 1                 # attention layers; the CLS token is the query of the last one
    beta: float = 1.0               # inverse temperature multiplying the scores (1/sqrt(n) is absorbed)
    normalization: str = "softmax"  # registry name (attnlab.normalizations)
    cls_skip: bool = True           # the c0 + W_O concat(...) skip of eq. 4
    token_residual: bool = True     # layers > 1: z + attn(z) in the token layers (False: the earlier attn(z))
    # ---- training [reconstruction: the paper gives no optimizer details]
    epochs: int = 60
    batch: int = 128
    lr: float = 3e-3
    schedule: str = "onecycle"
    weight_decay: float = 0.0
    patience: int = 0               # early stopping: stop after this many epochs without a better val NMSE (0: off)
    restarts: int = 1               # initialisations per run, each screened for screen_epochs; the best trains on
    screen_epochs: int = 8          # epochs of the restart screen (used only when restarts > 1)
    # ---- Fig. 1b: NMSE vs the MLP width N (at T = min(Ts))
    Ns: tuple[int, ...] = ()
    N_hs: tuple[int, ...] = (3, 4)
    # ---- the paper's variants (Tables 3-5), each at T = variant_T with variant_seeds seeds
    variants: tuple[str, ...] = ()
    variant_T: int = 16
    variant_seeds: int = 1
    # ---- theory / no-training checks
    construction_samples: int = 10000   # random inputs for the h = D construction (C7)
    betas: tuple[float, ...] = (10.0, 100.0, 1000.0)
    variance_samples: int = 100000      # Monte Carlo sequences for Var(y) (C10)

    def __post_init__(self):
        if self.width_mode in WIDTH_ALIASES:        # one name in tables and keys: the alias becomes "total"
            object.__setattr__(self, "width_mode", WIDTH_ALIASES[self.width_mode])

    # ---- derived ------------------------------------------------------------------------------------
    @property
    def grid_hs(self) -> tuple[int, ...]:
        return (self.h,) if self.h is not None else self.hs

    @property
    def grid_Ts(self) -> tuple[int, ...]:
        return (self.T,) if self.T is not None else self.Ts

    def validate(self) -> None:
        super().validate()
        self.check_positive("D", "d", "n_train", "n_val", "hs", "Ts", "h", "T", "n", "E", "N", "layers",
                            "beta", "epochs", "batch", "lr", "restarts", "N_hs", "variant_T", "variant_seeds",
                            "construction_samples", "betas", "variance_samples")
        self.check_positive("Ns")
        self.check_nonnegative("weight_decay", "patience", "a_seed", "screen_epochs")
        for name in ("D", "d", "n_train", "n_val", "n", "E", "N", "layers", "epochs", "batch", "h", "T",
                     "variant_T", "variant_seeds", "patience", "restarts", "screen_epochs", "construction_samples", "variance_samples"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise ConfigError(name, f"must be an integer, got {v!r}")
        if not self.hs:
            raise ConfigError("hs", "needs at least one head count")
        if not self.Ts:
            raise ConfigError("Ts", "needs at least one sequence length")
        if self.n_val < 2:
            raise ConfigError("n_val", f"must be >= 2 (NMSE needs a variance), got {self.n_val}")
        self.check_choice("width_mode", set(WIDTH_MODES))
        self.check_choice("schedule", set(SCHEDULES))
        self.check_choice("variants", set(VARIANTS))
        if self.normalization not in available():
            raise ConfigError("normalization", f"must be one of {available()}, got {self.normalization!r}")
        if len(set(self.variants)) != len(self.variants):
            raise ConfigError("variants", f"repeated entries in {self.variants}")
        if self.T is not None and self.T < 1 or any(t < 1 for t in self.Ts):
            raise ConfigError("Ts", "sequence lengths must be >= 1")
        if not math.isfinite(self.beta):
            raise ConfigError("beta", "must be finite")


def per_head_width(width_mode: str, h: int, n: int, E: int) -> int:
    """n for a model of h heads: n itself (per_head) or ceil(E / h) (total) [paper Table 3]."""
    return n if width_mode == "per_head" else math.ceil(E / h)


# Variant name -> overrides of the model/task [paper Tables 3-5; D = 3 target and d are reconstruction].
VARIANT_SETTINGS: dict[str, dict] = {
    "D3_total": {"D": 3, "width_mode": "total", "E": 32, "layers": 1},
    "total_E32": {"D": 4, "width_mode": "total", "E": 32, "layers": 1},
    "layers2": {"D": 4, "width_mode": "total", "E": 32, "layers": 2},
}

PRESETS: dict[str, dict] = {
    # seconds: the h = D-1 vs D contrast at one short T, small data, one seed (tests use it)
    "smoke": {"hs": [3, 4], "Ts": [16], "seeds": 1, "n_train": 1500, "n_val": 500, "epochs": 12,
              "batch": 64, "construction_samples": 2000, "variance_samples": 20000},
    # minutes on 2 cores: h = 1..5 at T in {16, 64}, 2 seeds (min over seeds) of 3 restarts each (screened for
    # 8 epochs, the best trains on: escapes the duplicate-head plateau), the brief's scaled-down setting (8k/2k
    # sequences, 60 epochs, Adam one-cycle lr 3e-3, batch 128: long enough that the steps below D test the
    # model, not the budget), the three variants at T = 16, Fig. 1b N sweep
    "quick": {"hs": [1, 2, 3, 4, 5], "Ts": [16, 64], "seeds": 2, "restarts": 3, "screen_epochs": 8,
              "n_train": 8000, "n_val": 2000, "epochs": 60, "Ns": [16, 64], "N_hs": [3, 4],
              "variants": list(VARIANTS), "variant_T": 16, "variant_seeds": 1},
    # paper scale (Table 2 grid + Tables 3-5 + Fig. 1b; GPU / cluster, or one T block at a time on CPU:
    # `--set Ts=8`): T up to 128, 8k/2k sequences, 4 seeds (mean +- std and min, as the paper), each the best
    # of 3 screened restarts, 200 epochs (patience 40)
    "paper": {"hs": [1, 2, 3, 4, 5], "Ts": [8, 16, 32, 64, 128], "seeds": 4, "n_train": 8000, "n_val": 2000,
              "epochs": 200, "Ns": [8, 16, 64, 128], "N_hs": [1, 2, 3, 4, 5], "restarts": 3, "screen_epochs": 8,
              "variants": list(VARIANTS), "variant_T": 32, "variant_seeds": 3, "patience": 40},
}
