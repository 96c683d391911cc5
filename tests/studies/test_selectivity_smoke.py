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
    "critical_n": {"model", "L", "critical_N", "alpha", "reading", "expectation"},
    "critical_n_fraction": {"model", "L", "alpha", "reading", "expectation", "test", "critical_N", "fraction",
                            "log_ratio", "log_ratio_low", "log_ratio_high", "decides"},
    "critical_tests": {"model", "L", "N", "reading", "expectation", "ks_p", "paired_p", "log_ratio", "dz"},
    "gradient_summary": {"model", "logits", "agg", "eps", "slope_small_T", "g_times_4T", "drop", "decides"},
    "distance_slope": {"model", "slope"},
    "separability_summary": {"model", "N", "median"},
    "separability": {"model", "layer", "head", "L", "N", "ratio", "lower", "count_lower", "upper", "bound_violations"},
    "gradient": {"model", "logits", "T", "eps", "g_max", "g_mean", "g_rowmax"},
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
    assert len(claims) == 12
    for c in claims:
        assert c["status"] in ("pass", "fail", "undecided"), c          # never "error"
        if c["status"] == "undecided":
            assert c["detail"], c
    by_id = {c["id"]: c for c in claims}
    for exact in ("attention_weights_within_lemma1_bounds", "softmax_jacobian_norm_at_most_half_over_T",
                  "multihead_coverage_arithmetic", "gradient_sensitivity_within_bounds",
                  "separability_above_theorem2_lower_bound"):
        assert by_id[exact]["status"] == "pass", by_id[exact]
        assert by_id[exact]["kind"] == "consistency"
    fr = pd.read_parquet(out / "tables" / "critical_n_fraction.parquet")
    assert set(fr["reading"]) == {"A", "B"}                             # both readings of d~ are scanned
    main = fr[(fr["expectation"] == "main") & fr["critical_N"].notna()]
    assert ((main["resolution"] == 1) | main["N_below"].isna()).all()  # bisected to +-1 (or the smallest N accepts)
    assert "deciding reading B" in by_id["critical_N_size_matches_paper"]["detail"]
    g = pd.read_parquet(out / "tables" / "gradient.parquet")
    assert {"raw", "scaled", "probs", "synthetic"} <= set(g["logits"])
    assert "raw/row_mean" in by_id["gradient_sensitivity_scales_as_inverse_T"]["detail"]
    from attnlab.ledger.runs import ledger_for, read_run_tables
    from attnlab.studies.selectivity import STUDY

    led = ledger_for(STUDY, read_run_tables(out), claims).set_index("id")
    assert led.loc["critical_n_size", "judgement"] != "not measured at this preset"        # claims: measured
    assert led.loc["coverage_H3", "judgement"] == "agrees"
    assert led.loc["critical_frac_smollm2_B", "judgement"] == "not measured at this preset"  # no SmolLM2 at smoke
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
