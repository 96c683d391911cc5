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
    assert isinstance(STUDY.normalization_matrix("bayes_softmax", "smoke"), str)  # axes heads_and_keys


REF_COLUMNS = ["id", "quantity", "paper_value", "paper_low", "paper_high", "units", "source", "source_tag",
               "applies_to", "table", "column", "where", "agg", "judge", "tolerance", "tolerance_reason", "note"]
QUICK_ONLY = {"Pstar_lnL_exponent"}   # needs P* at >= 3 values of L (the smoke preset has one)


def _reference() -> pd.DataFrame:
    from importlib import resources

    text = resources.files(STUDY.package).joinpath("reference.csv").read_text(encoding="utf-8")
    import io
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])


def test_reference_csv_format():
    ref = _reference()
    assert list(ref.columns) == REF_COLUMNS
    assert ref.id.is_unique and ref.id.str.fullmatch(r"[a-zA-Z0-9_]+").all()
    assert set(ref.source_tag) <= {"paper", "secondary"}
    assert set(ref.judge) <= {"ratio", "range", "at_least", "at_most", "sign", "qualitative"}
    assert set(ref["agg"].dropna()) <= {"mean", "min", "max", "median", "std", "first"}
    for r in ref.itertuples():
        assert r.quantity and r.source and r.table and r.column, r.id
        if r.judge == "ratio":
            assert float(r.tolerance) > 1 and r.tolerance_reason, r.id
            assert float(r.paper_value) > 0, r.id


def test_smoke_claims_and_reference_rows_read_real_tables(smoke):
    """Every reference row's table and column exist in the smoke run (or the row is measured only at quick /
    paper presets); claims values are numbers or flat dicts."""
    ref = _reference()
    claim_ids = {c.id for c in STUDY.claims()}
    for r in ref.itertuples():
        if r.table == "claims":
            assert r.column in claim_ids, r.id
            continue
        path = smoke.out / "tables" / f"{r.table}.parquet"
        if r.id in QUICK_ONLY:
            assert not path.exists() or r.column in pd.read_parquet(path).columns, r.id
            continue
        assert path.exists(), (r.id, r.table)
        df = pd.read_parquet(path)
        assert r.column in df.columns, (r.id, r.column)
        for part in (r.where.split(";") if isinstance(r.where, str) and r.where else []):
            k, v = part.split("=")
            assert k in df.columns, (r.id, k)
    claims = json.loads((smoke.out / "claims.json").read_text())
    for c in claims:
        v = c["value"]
        assert v is None or isinstance(v, (int, float, str)) or (
            isinstance(v, dict) and all(isinstance(x, (int, float, str)) for x in v.values())), c["id"]


def test_runtime_registered_normalization_runs_in_the_matrix():
    from attnlab import normalizations as nz

    nz.register("softmax_half", lambda s, dim, mask: nz.normalize(s / 2, "softmax", dim=dim, mask=mask),
                sums_to_one=True, formula="softmax(s / 2)")
    try:
        m = STUDY.normalization_matrix("softmax_half", "smoke")
    finally:
        nz.unregister("softmax_half")
    import math
    assert isinstance(m, dict) and m and all(math.isfinite(v) for v in m.values())


def test_adam_divergence_is_caught_with_step_and_quantity():
    """issue 16 item 2: adam_lr=1e30 used to finish with test_mse 1e117; now the task raises."""
    from attnlab.config import build_config
    from attnlab.errors import DivergenceError

    cfg = build_config(STUDY.config_cls, STUDY.presets, "smoke", {"adam_lr": 1e30})
    task = [t for t in STUDY.tasks(cfg) if t.key == "adam-softmax"][0]
    with pytest.raises(DivergenceError, match=r"Adam objective exploded at step \d+"):
        STUDY.run_task(cfg, task)


def test_langevin_divergence_is_caught():
    import torch

    from attnlab.errors import DivergenceError
    from attnlab.studies.copy_transition import CopyHeads, Geometry, langevin, one_hot, sample_tokens, statistics

    L, V, P = 8, 4, 20
    geo = Geometry(L, "cyclic")
    X = CopyHeads.layout(one_hot(sample_tokens(P, L, V, 0), V, dtype=torch.float32)[None])
    model = CopyHeads(1, L, V, "linear", geo, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    C = statistics(sample_tokens(10, L, V, 1), V)
    with pytest.raises(DivergenceError, match=r"Langevin objective (exploded at|is not finite at) step \d+"):
        langevin(model, X, 10.0, 200, 100, 10, torch.Generator().manual_seed(1), C, 10 * L)


def test_check_objective_catches_growth_and_nan():
    import torch

    from attnlab.errors import DivergenceError
    from attnlab.studies.copy_transition.train import check_objective

    start = torch.tensor([10.0, 5.0])
    check_objective("MALA energy", torch.tensor([50.0, 4.0]), start, 3)
    with pytest.raises(DivergenceError, match="MALA energy exploded at step 7"):
        check_objective("MALA energy", torch.tensor([1e9, 4.0]), start, 7)
    with pytest.raises(DivergenceError, match="step 9"):
        check_objective("MALA energy", torch.tensor([float("nan"), 4.0]), start, 9)
