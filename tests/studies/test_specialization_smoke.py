"""Smoke run of the `specialization` study through the runner (serial executor)."""
import json

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
    for t in ("exits", "split_counts"):                 # the analysis tables
        assert (out / "tables" / f"{t}.parquet").exists()
    claims = json.loads((out / "claims.json").read_text())
    assert len(claims) == 9
    for c in claims:
        assert c["status"] in ("pass", "fail", "undecided"), c
        if c["status"] == "undecided":
            assert c["detail"]
    figs = json.loads((out / "figures" / "figures.json").read_text())
    assert len(figs) == 6
    for f in figs:
        assert (out / "figures" / f["file"]).exists() and f["caption"]
