"""Smoke run of gd-heads through the runner: every documented table and column, claims.json with every claim
decided or undecided with a reason, the figures, and determinism of a task."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from attnlab.studies.gd_heads import STUDY
from attnlab.studies.gd_heads.claims import CLAIMS
from attnlab.config import build_config

REQUIRED = {
    "curvature": ["H", "seed", "init", "grad_norm", "hessian_norm"],
    "rates": ["H", "eta", "K", "seed", "train_loss", "distance_from_init"],
    "generalization": ["H", "n", "K", "seed", "train_loss", "test_loss", "test_error"],
    "realizability": ["H", "K", "gamma", "lambda", "min_margin", "target_margin"],
    "weak_convexity": ["H", "K", "lambda_min", "kappa", "beta2"],
    "bound": ["K", "train_loss", "bound"],
    "lazy": ["H", "test_dev"],
    "margins": ["H", "zeta", "gamma", "gamma_U_sigma0", "gamma_U_theory"],
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    from attnlab.runner import run_study

    out = tmp_path_factory.mktemp("gdh") / "run"
    return run_study("gd-heads", preset="smoke", out=out, executor="serial", progress=False), out


def test_smoke_tables_and_columns(smoke_run):
    res, out = smoke_run
    for name, cols in REQUIRED.items():
        df = pd.read_parquet(out / "tables" / f"{name}.parquet")
        assert len(df) > 0, name
        assert set(cols) <= set(df.columns), (name, set(cols) - set(df.columns))
        documented = STUDY.tables_doc[name]
        assert all(c in documented for c in cols), name


def test_smoke_claims_and_figures(smoke_run):
    res, out = smoke_run
    claims = json.loads((out / "claims.json").read_text())
    assert [c["id"] for c in claims] == [c.id for c in CLAIMS]
    for c in claims:
        assert c["status"] in ("pass", "fail", "undecided"), c
        if c["status"] == "undecided":
            assert c["detail"], c
    figs = json.loads((out / "figures" / "figures.json").read_text())
    assert len(figs) == 8
    for f in figs:
        assert (out / "figures" / f["file"]).stat().st_size > 1000 and f["caption"]


def test_task_is_deterministic():
    cfg = build_config(STUDY.config_cls, STUDY.presets, "smoke")
    task = next(t for t in STUDY.tasks(cfg) if t.key.startswith("ntk-H1-"))
    a, b = STUDY.run_task(cfg, task), STUDY.run_task(cfg, task)
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k])


def test_bench_quick_runs():
    r = STUDY.benchmark(quick=True)
    assert r.ratios["speedup"] > 0
    assert float(r.notes.split("=")[-1]) < 1e-12          # batched and loop gradients agree to rounding


def test_normalization_matrix_smoke():
    m = STUDY.normalization_matrix("softmax", "smoke")
    assert set(m) >= {"hessian_slope", "grad_slope", "ntk_margin", "train_loss"}
