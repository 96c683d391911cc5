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
    "initialization": ["init", "init_eta", "gamma", "attn_relevant", "train_loss", "test_loss"],
    "fits": ["fit", "slope", "low", "high"],
    "summary": ["quantity", "value"],
    "gen_summary": ["protocol", "sigma", "n", "gap", "gap_norm"],
    "init_effects": ["init", "metric", "diff", "low", "high"],
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
    assert len(figs) == 9
    for f in figs:
        assert (out / "figures" / f["file"]).stat().st_size > 1000 and f["caption"]


def test_task_is_deterministic():
    cfg = build_config(STUDY.config_cls, STUDY.presets, "smoke")
    task = next(t for t in STUDY.tasks(cfg) if t.key.startswith("ntk-H1-"))
    a, b = STUDY.run_task(cfg, task), STUDY.run_task(cfg, task)
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k])


def test_anatomy():
    from attnlab.studies.gd_heads import EXPERIMENTS, study
    assert STUDY is study.STUDY and STUDY.experiments is EXPERIMENTS and STUDY.package == "attnlab.studies.gd_heads"
    cfg = build_config(STUDY.config_cls, STUDY.presets, "smoke")
    assert {t.kind for t in STUDY.tasks(cfg)} == set(EXPERIMENTS)
    assert len({t.key for t in STUDY.tasks(cfg)}) == len(STUDY.tasks(cfg))


def test_bench_quick_runs():
    r = STUDY.benchmark(quick=True)
    assert r.ratios["speedup"] > 0
    assert float(r.notes.split("=")[-1]) < 1e-12          # batched and loop gradients agree to rounding


def test_normalization_matrix_smoke():
    m = STUDY.normalization_matrix("softmax", "smoke")
    assert set(m) >= {"hessian_slope", "grad_slope", "ntk_margin", "train_loss"}


def test_reference_csv(smoke_run):
    """reference.csv follows docs/reference-data.md; every row's table and column exist in a smoke run (claims
    rows name a claim), and its `where` rows are present, except the rows measured only at the quick preset."""
    import csv
    from importlib import resources

    from attnlab.ledger import parse_reference, reference_text

    text = resources.files("attnlab.studies.gd_heads").joinpath("reference.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert rows and len({r["id"] for r in rows}) == len(rows)
    assert list(rows[0]) == ["id", "quantity", "paper_value", "paper_low", "paper_high", "units", "source", "source_tag",
                             "applies_to", "table", "column", "where", "agg", "judge", "tolerance", "tolerance_reason",
                             "note"]
    assert {r["source_tag"] for r in rows} <= {"paper", "secondary"}
    assert {r["judge"] for r in rows} <= {"ratio", "range", "at_least", "at_most", "sign", "qualitative"}
    assert len(parse_reference(*reference_text(STUDY))) == len(rows)
    _, out = smoke_run
    claim_ids = {c.id for c in CLAIMS}
    quick_only = {"hessian_slope_W0_03"}          # W0_curv = (0,) at the smoke preset
    for r in rows:
        if r["table"] == "claims":
            assert r["column"] in claim_ids, r["id"]
            continue
        df = pd.read_parquet(out / "tables" / f"{r['table']}.parquet")
        assert r["column"] in df.columns, r["id"]
        for cond in filter(None, r["where"].split(";")):
            k, v = cond.split("=", 1)
            assert k in df.columns, r["id"]
            try:
                df = df[pd.to_numeric(df[k]) == float(v)]
            except ValueError:
                df = df[df[k].astype(str) == v]
        assert (len(df) > 0) != (r["id"] in quick_only), r["id"]


def test_huge_step_fails_every_gd_task_with_divergence(tmp_path):
    """`attnlab run gd-heads --preset smoke --set eta=1e30` (issue 16 item 2): every task that runs GD with
    eta fails with DivergenceError naming the step and the quantity; none "succeeds" with losses of 1e29-1e60.
    The rate sweep (which uses `etas`, not eta) is cut to one step size to keep the test short."""
    from attnlab.runner import run_study

    res = run_study("gd-heads", preset="smoke", out=tmp_path / "run", executor="serial", progress=False,
                    quiet=True, sets=["eta=1e30", "etas=1", "K_rates=5,10,20", "K_rates_large_eta=20"])
    assert res.exit_code == 1
    failed = set(res.failed_tasks)
    cfg = build_config(STUDY.config_cls, STUDY.presets, "smoke")
    gd_kinds = {"wc", "gen", "lazy", "init"}
    assert {t.key for t in STUDY.tasks(cfg) if t.kind in gd_kinds} <= failed
    log = (tmp_path / "run" / "logs" / f"{sorted(failed)[0]}.log").read_text()
    assert "DivergenceError" in log and "exploded at step" in log
