"""head-count: the smoke preset end to end through the runner, and the benchmark's quick mode."""
import json

import pandas as pd

from attnlab.runner import run_study
from attnlab.studies.head_count import STUDY

NMSE_COLUMNS = ["D", "d", "h", "T", "n", "N", "layers", "width_mode", "seed", "nmse_val", "nmse_train", "epochs",
                "params_ffn", "params_total"]


def test_smoke_run(tmp_path):
    res = run_study("head-count", preset="smoke", out=tmp_path / "run", executor="serial", progress=False)
    out = tmp_path / "run"
    nmse = pd.read_parquet(out / "tables" / "nmse.parquet")
    assert set(NMSE_COLUMNS) <= set(nmse.columns)
    assert sorted(nmse["h"]) == [3, 4] and (nmse["nmse_val"] > 0).all() and (nmse["nmse_val"] < 1.5).all()
    for table in ("summary", "construction", "memorization", "bound_exponent", "target_variance", "history"):
        assert (out / "tables" / f"{table}.parquet").exists(), table
    claims = json.loads((out / "claims.json").read_text())
    assert [c["id"] for c in claims] == [c.id for c in STUDY.claims()]
    for c in claims:
        assert c["status"] in ("pass", "fail", "undecided"), c
        if c["status"] == "undecided":
            assert c["detail"], c
    by_id = {c["id"]: c for c in claims}
    for cid in ("construction_error_within_bound", "memorization_head_averages_sequence",
                "lower_bound_exponent_bookkeeping", "nmse_normalization"):
        assert by_id[cid]["status"] == "pass", by_id[cid]
    figs = json.loads((out / "figures" / "figures.json").read_text())
    assert figs and all((out / "figures" / f["file"]).exists() and f["caption"] for f in figs)
    assert res.exit_code == 0
    # reference data: every row's table/column exists in the smoke tables, or the table is one the smoke preset
    # (one T, h in {3, 4}, no N sweep) cannot fill: measured only at quick / paper ("not measured" at smoke)
    import csv
    from importlib import resources
    text = resources.files("attnlab.studies.head_count").joinpath("reference.csv").read_text(encoding="utf-8")
    smoke_absent = {"T_trend", "n_sweep", "reversal", "reversal_onset"}
    for r in csv.DictReader(text.splitlines()):
        if r["table"] == "claims":
            assert r["column"] in by_id, r
            continue
        path = out / "tables" / f"{r['table']}.parquet"
        if path.exists() and len(pd.read_parquet(path)):
            assert r["column"] in pd.read_parquet(path).columns, r
        else:
            assert r["table"] in smoke_absent, r
    pvo = pd.read_parquet(out / "tables" / "paper_vs_ours.parquet")
    assert sorted(zip(pvo["h"], pvo["T"])) == [(3, 16), (4, 16)]


def test_benchmark_quick():
    r = STUDY.benchmark(quick=True)
    assert min(r.rates.values()) > 0 and set(r.rates) == {"train_tokens_per_s", "gemm_bound_tokens_per_s",
                                                           "mha_baseline_tokens_per_s"}
    assert 0 < r.ratios["fraction_of_gemm_bound"] and r.ratios["speedup"] > 0 and r.threads == 1


def test_step_gemms_cover_the_step_shapes():
    from attnlab.studies.head_count.bench import step_gemms
    ops = dict(step_gemms(B=4, T=3, d=2, N=5, h=2, n=3))
    assert ops["enc1"]().shape == (12, 5) and ops["pool"]().shape == (4, 2, 6) and ops["heads"]().shape == (2, 4, 3)
    assert len(ops) == 23
