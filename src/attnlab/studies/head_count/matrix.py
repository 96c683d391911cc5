"""Normalization matrix hook: the study's normalization-sensitive experiment (the h = D-1 vs h = D contrast of
Fig. 1a at one T) trained under one registry normalization; headline metrics = both NMSEs and their ratio.

Every registry entry applies: the CLS-query model normalizes by the entry's declared axes (over the T tokens,
or jointly over heads and tokens) and gives entries that declare a bias a learnable per-head logit."""
from __future__ import annotations

from ...config import build_config
from ...errors import UserError
from ...normalizations import info
from .config import PRESETS, HeadCountConfig
from .experiments import train_point, training_points


def normalization_cell(normalization: str, scale: str = "smoke") -> dict[str, float] | str:
    if scale not in ("smoke", "quick"):
        raise UserError(f"scale {scale!r}: must be smoke or quick")
    info(normalization)                      # unknown names raise here, with the available ones
    cfg = build_config(HeadCountConfig, PRESETS, scale,
                       {"normalization": normalization, "hs": [3, 4], "Ts": [16], "seeds": 1, "Ns": [],
                        "variants": []})
    out = {}
    for p in training_points(cfg):
        row = train_point(cfg, p)["nmse"].iloc[0]
        out[f"nmse_h{p['h']}"] = float(row["nmse_val"])
    out["drop_ratio_h3_h4"] = out["nmse_h3"] / out["nmse_h4"]
    return out
