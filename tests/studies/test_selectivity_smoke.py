"""selectivity: the smoke preset end to end through the runner (synthetic + a tiny random GPT-2-shaped model)."""
import json

import pandas as pd
import pytest

from attnlab.errors import UserError
from attnlab.runner import run_study

COLUMNS = {
    "jacobian": {"T", "case", "spectral_norm_times_T", "diag_max_times_T"},
    "distance": {"model", "layer", "head", "L", "N", "d_sum", "d_norm", "d_bound", "d_expected_mc",
                 "d_expected_main"},
    "critical_n": {"model", "L", "critical_N", "alpha"},
    "separability": {"model", "layer", "head", "L", "N", "ratio"},
    "gradient": {"model", "T", "eps", "g_max", "g_mean"},
    "normalizers": {"model", "normalizer", "metric", "N", "value"},
    "lemma1": {"normalizer", "T", "L", "within"},
    "synthetic_distance": {"L", "N", "d_sum", "d_bound", "d_expected_mc", "d_expected_main"},
    "coverage": {"p", "H", "coverage"},
    "sqrt5": {"eps", "T", "dalpha_T_over_eps"},
}


def test_smoke_run(tmp_path):
    out = tmp_path / "run"
    r = run_study("selectivity", preset="smoke", out=out, executor="serial", progress=False, quiet=True)
    assert r.exit_code == 0 and not r.failed_tasks
    for name, cols in COLUMNS.items():
        df = pd.read_parquet(out / "tables" / f"{name}.parquet")
        assert len(df) > 0, name
        assert cols <= set(df.columns), (name, cols - set(df.columns))
    claims = json.loads((out / "claims.json").read_text())
    assert len(claims) == 9
    for c in claims:
        assert c["status"] in ("pass", "fail", "undecided"), c          # never "error"
        if c["status"] == "undecided":
            assert c["detail"], c
    by_id = {c["id"]: c for c in claims}
    for exact in ("attention_weights_within_lemma1_bounds", "softmax_jacobian_norm_at_most_half_over_T",
                  "multihead_coverage_arithmetic"):
        assert by_id[exact]["status"] == "pass", by_id[exact]
    figs = json.loads((out / "figures" / "figures.json").read_text())
    assert len(figs) >= 6
    for f in figs:
        assert (out / "figures" / f["file"]).stat().st_size > 1000 and f["caption"]
    d = pd.read_parquet(out / "tables" / "distance.parquet")
    assert d["bound_violations"].sum() == 0


def test_missing_model_is_a_user_error(tmp_path):
    from attnlab.studies.selectivity.pretrained import load_model

    with pytest.raises(UserError, match="models"):
        load_model(str(tmp_path / "no-such-model"))
    with pytest.raises(UserError, match="models"):                     # rejected before anything is written
        run_study("selectivity", preset="smoke", overrides={"models": ("no-such-org/no-such-model",)},
                  out=tmp_path / "bad", executor="serial", progress=False, quiet=True)
    assert not (tmp_path / "bad").exists()
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="models"):
        load_model(str(tmp_path / "corrupt"))
