"""Smoke run of the `specialization` study through the runner (serial executor)."""
import json

import pandas as pd

import pytest
import torch

from attnlab.runner import run_study


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)       # like the runner's workers; avoids oversubscription on a shared machine
    yield
    torch.set_num_threads(old)


def test_smoke_run(tmp_path, one_thread):
    res = run_study("specialization", preset="smoke", out=tmp_path / "run", executor="serial", progress=False)
    out = tmp_path / "run"
    for t in ("activations", "dynamics", "pruning", "bayes"):
        assert (out / "tables" / f"{t}.parquet").exists()
    act = res.tables["activations"]
    for col in ("prior", "nu", "L", "H", "noise", "activation", "risk", "stderr"):
        assert col in act.columns
    flipped = act[act["prior"] == "flipped"]
    assert set(flipped["activation"]) >= {"bayes", "bayes_softmax", "softmax", "softmax1_nobias", "softmax1"}
    dyn = res.tables["dynamics"]
    for col in ("source", "D", "seed", "t", "risk", "name", "head", "feature", "value"):
        assert col in dyn.columns
    assert set(dyn["source"]) == {"sgd", "ode", "gradient_flow"}
    for t in ("exits", "split_counts", "split_events", "pruning_summary"):   # the analysis tables
        assert (out / "tables" / f"{t}.parquet").exists()
    claims = json.loads((out / "claims.json").read_text())
    assert len(claims) == 12
    for c in claims:
        assert c["status"] in ("pass", "fail", "undecided"), c
        if c["status"] == "undecided":
            assert c["detail"]
    figs = json.loads((out / "figures" / "figures.json").read_text())
    assert len(figs) >= 6
    for f in figs:
        assert (out / "figures" / f["file"]).exists() and f["caption"]
    _check_reference(res.tables, {c["id"] for c in claims})


QUICK_ONLY = {"prune_count_softmax1", "prune_count_bayes_softmax"}   # H = 6 rows: train_H = 3 at smoke
DATA_DEPENDENT = {"excursion_seeds"}     # rows only where a seed splits unevenly first (not measured otherwise)


def _check_reference(tables, claim_ids):
    """reference.csv (docs/reference-data.md): parses, ids unique, every row's table/column (or claim) exists in a
    smoke run's tables, and its `where` rows exist -- except the rows measured only at the quick/paper presets."""
    from attnlab.ledger import load_reference
    from attnlab.studies.specialization import STUDY

    rows = load_reference("specialization")
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids)) and len(rows) >= 10
    for r in rows:
        assert r.source_tag in ("paper", "secondary") and r.judge in (
            "ratio", "range", "at_least", "at_most", "sign", "qualitative"), r
        if r.table == "claims":
            assert r.column in claim_ids, r
            continue
        assert r.table in STUDY.tables_doc and r.table in tables and r.column in tables[r.table].columns, r
        df = tables[r.table]
        where = dict(r.where)
        for k, v in where.items():
            assert k in df.columns, r
            col = df[k]
            num = pd.to_numeric(col, errors="coerce")
            df = df[(num == float(v)) if num.notna().all() else (col.astype(str) == v)]
        if r.id not in DATA_DEPENDENT:
            assert (len(df) > 0) != (r.id in QUICK_ONLY), (r.id, len(df))
