"""Fixture study ``rfx-beta``: tries three normalizations in the matrix: softmax works, linear says why it
does not apply, sigmoid diverges (raises DivergenceError); every other normalization is outside its list."""
from __future__ import annotations

import pandas as pd
import torch

from attnlab import normalizations
from attnlab.errors import check_finite
from attnlab.study import Study, Task


class Beta(Study):
    name = "rfx-beta"
    title = "Fixture beta"
    paper = "fixture (no paper)"
    summary = "Fixture for the normalization matrix."

    def tasks(self, config):
        return [Task("only")]

    def run_task(self, config, task):
        return {"t": pd.DataFrame({"x": [1.0]})}

    def normalization_matrix(self, normalization, scale="smoke"):
        if normalization == "linear":
            return "scores are unbounded: linear weights need a normalizer this task lacks"
        if not normalizations.info(normalization).sums_to_one and normalization != "sigmoid":
            return "the fixture reads weights as a distribution: entries that do not sum to one do not apply"
        if normalization not in ("softmax", "sigmoid"):
            return "the fixture's experiment is defined for softmax and sigmoid only"
        s = torch.linspace(-2, 2, 5)
        w = normalizations.normalize(s, normalization)
        if normalization == "sigmoid":
            check_finite("fixture loss", torch.tensor(float("nan")), step=3)
        return {"top_weight": float(w.max())}


STUDY = Beta()
