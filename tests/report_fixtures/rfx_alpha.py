"""Fixture study ``rfx-alpha``: entropy of attention weights of Gaussian scores (a real, tiny computation).

Its claims cover every verdict (pass, fail, undecided, error) so the report's colour coding is exercised.
Its matrix experiment: weights of N(0,1) scores over ``n_keys`` keys; bayes_softmax is not applicable.
"""
from __future__ import annotations

import dataclasses
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch

from attnlab import normalizations
from attnlab.claims import Claim, Verdict
from attnlab.config import StudyConfig
from attnlab.errors import ConfigError
from attnlab.study import Figure, Study, Task


@dataclasses.dataclass(frozen=True)
class AlphaConfig(StudyConfig):
    n_keys: int = 16
    rows: int = 64
    label: str = "plain"

    def validate(self):
        super().validate()
        if self.n_keys < 2:
            raise ConfigError("n_keys", f"must be >= 2, got {self.n_keys}")


def _weights(name: str, n_keys: int, rows: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(rows, n_keys, generator=g, dtype=torch.float64)  # (rows, n_keys)
    return normalizations.normalize(s, name)


def _entropy(tables, config) -> Verdict:
    h = tables["entropy"]["entropy"].max()
    return Verdict(bool(h <= math.log(config.n_keys) + 1e-12), float(h), math.log(config.n_keys), "max entropy vs log n")


def _sums(tables, config) -> Verdict:
    """A consistency check whose value is a bare list and threshold a dict: the report must name their parts."""
    w = _weights("softmax", config.n_keys, 4, config.seed).sum(-1)  # (4,)
    return Verdict(bool(torch.allclose(w, torch.ones_like(w))), [float(x) for x in w[:2]],
                   {"abs_err": "<= 1e-12", "rows": 2}, "row sums of two rows")


class Alpha(Study):
    name = "rfx-alpha"
    title = "Fixture alpha: softmax entropy"
    paper = "fixture (no paper)"
    summary = "Entropy of softmax attention over Gaussian scores; a fixture for the report tests."
    config_cls = AlphaConfig
    presets = {"smoke": {"rows": 16}, "quick": {}, "paper": {"rows": 256}}
    tables_doc = {"entropy": "seed, n_keys, entropy"}
    package = "report_fixtures.alpha_ref"   # its reference.csv (the ledger tests)

    def tasks(self, config):
        return [Task(f"seed={i}", {"seed": i}) for i in range(config.seeds)]

    def run_task(self, config, task):
        w = _weights("softmax", config.n_keys, config.rows, config.seed + task.params["seed"])
        h = -(w * w.clamp_min(1e-300).log()).sum(-1)  # (rows,)
        return {"entropy": pd.DataFrame({"seed": task.params["seed"], "n_keys": config.n_keys,
                                         "entropy": h.numpy()})}

    def claims(self):
        return [
            Claim("entropy_below_log_n", "Softmax entropy is at most log n.", "paper", _entropy),
            Claim("entropy_above_log_n", "Softmax entropy exceeds log n (false on purpose).", "secondary",
                  lambda t, c: Verdict(bool(t["entropy"]["entropy"].min() > math.log(c.n_keys)),
                                       float(t["entropy"]["entropy"].min()), math.log(c.n_keys), "min entropy")),
            Claim("needs_more_seeds", "Undecidable on one seed.", "reconstruction",
                  lambda t, c: Verdict(None, None, None, "needs >= 2 seeds")),
            Claim("broken_check", "A check that raises.", "reconstruction",
                  lambda t, c: 1 / 0),
            Claim("weights_sum_to_one", "Softmax rows sum to one (an identity).", "paper", _sums,
                  kind="consistency"),
        ]

    def figures(self, tables, config, outdir):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.hist(tables["entropy"]["entropy"], bins=10, label="simulation")
        ax.axvline(math.log(config.n_keys), color="k", label="log n (bound)")
        ax.set_xlabel("entropy")
        ax.set_ylabel("rows")
        ax.legend()
        fig.tight_layout()
        fig.savefig(outdir / "entropy.png", dpi=60)
        plt.close(fig)
        return [Figure("entropy.png", "Entropy of softmax rows <b>vs</b> the log n bound.")]

    def normalization_matrix(self, normalization, scale="smoke"):
        if normalization == "bayes_softmax":
            return "single-head task: a joint softmax over heads has nothing to join"
        rows = 32 if scale == "smoke" else 256
        w = _weights(normalization, 8, rows, 0)  # (rows, 8)
        return {"max_weight": float(w.max(-1).values.mean()), "row_sum": float(w.sum(-1).mean())}


STUDY = Alpha()
