"""copy-transition: the smoke preset through the runner, end to end."""
import json

import pandas as pd
import pytest

from attnlab.runner import run_study
from attnlab.studies.copy_transition import STUDY

COLUMNS = {
    "transition": ["attention", "L", "V", "kappa", "sigma_w2", "sigma_a2", "P_star", "P_spinodal_low",
                   "P_spinodal_high", "P_c"],
    "theory_curve": ["attention", "L", "P", "a", "m", "q", "residual", "n_minima"],
    "sampling": ["method", "init", "attention", "L", "P", "seed", "m", "residual", "test_mse"],
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("ct") / "run"
    return run_study("copy-transition", preset="smoke", out=out, executor="serial", progress=False, quiet=True)


def test_smoke_tables_have_documented_columns(smoke):
    for name, cols in COLUMNS.items():
        df = pd.read_parquet(smoke.out / "tables" / f"{name}.parquet")
        assert set(cols) <= set(df.columns), name
        assert len(df)
    s = pd.read_parquet(smoke.out / "tables" / "sampling.parquet")
    assert set(s.method) == {"mala", "langevin", "adam"} and set(s.init) == {"uniform", "copy"}
    assert set(STUDY.tables_doc) >= {p.stem for p in (smoke.out / "tables").glob("*.parquet")}


def test_smoke_claims_all_decided_or_explained(smoke):
    claims = json.loads((smoke.out / "claims.json").read_text())
    assert [c["id"] for c in claims] == [c.id for c in STUDY.claims()]
    for c in claims:
        assert c["status"] in ("pass", "fail", "undecided"), c
        if c["status"] == "undecided":
            assert c["detail"]


def test_smoke_figures_exist(smoke):
    figs = json.loads((smoke.out / "figures" / "figures.json").read_text())
    assert len(figs) >= 5
    for f in figs:
        assert (smoke.out / "figures" / f["file"]).stat().st_size > 0 and f["caption"]


def test_benchmark_quick_runs():
    r = STUDY.benchmark(quick=True)
    assert set(r.ratios) == {"flat_in_P", "speedup_vs_full_P1e4"}
    assert all(v > 0 for v in r.rates.values())


def test_normalization_matrix_smoke():
    m = STUDY.normalization_matrix("sparsemax", "smoke")
    assert isinstance(m, dict) and all(k.startswith(("m_P", "residual_P", "test_mse_P", "accept")) for k in m)
    assert isinstance(STUDY.normalization_matrix("bayes_softmax", "smoke"), str)
