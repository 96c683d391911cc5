"""The normalization matrix study on fixture studies: tasks, every row kind, config errors, claims, heatmaps."""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_fixtures.env import fixture_registry  # noqa: E402,F401 - pytest fixture

from attnlab import normalizations  # noqa: E402
from attnlab.config import build_config  # noqa: E402
from attnlab.errors import ConfigError  # noqa: E402
from attnlab.matrix import COLUMNS, STUDY, check_complete, check_softmax_baseline, evaluate_pair  # noqa: E402
from attnlab.report.heatmap import matrix_heatmaps, row_scaled  # noqa: E402
from attnlab.study import Study  # noqa: E402


def _config(**over):
    return build_config(STUDY.config_cls, STUDY.presets, "smoke", over)


def _run(config) -> dict[str, pd.DataFrame]:
    parts: dict[str, list] = {}
    for task in STUDY.tasks(config):
        for k, df in STUDY.run_task(config, task).items():
            parts.setdefault(k, []).append(df)
    return STUDY.finalize(config, {k: pd.concat(v, ignore_index=True) for k, v in parts.items()})


def test_tasks_are_all_pairs(fixture_registry):
    config = _config()
    tasks = STUDY.tasks(config)
    pairs = [(t.params["study"], t.params["normalization"]) for t in tasks]
    assert pairs == [(s, n) for s in ("rfx-alpha", "rfx-beta") for n in normalizations.available()]
    assert len({t.key for t in tasks}) == len(tasks)
    assert all(re.fullmatch(r"[A-Za-z0-9_.=-]+", t.key) for t in tasks)


def test_matrix_rows_every_kind(fixture_registry):
    tables = _run(_config())
    df = tables["matrix"]
    assert list(df.columns) == COLUMNS
    by = {(r.study, r.normalization): r for r in df.itertuples() if r.metric in ("", "max_weight", "top_weight")}
    assert by["rfx-alpha", "softmax"].status == "ok" and by["rfx-alpha", "softmax"].applicable
    na = by["rfx-alpha", "bayes_softmax"]
    assert (na.status, na.applicable) == ("not_applicable", False) and "single-head" in na.reason
    assert by["rfx-beta", "linear"].status == "not_applicable" and "unbounded" in by["rfx-beta", "linear"].reason
    assert by["rfx-beta", "ssmax"].status == "not_applicable" and "defined for" in by["rfx-beta", "ssmax"].reason
    div = by["rfx-beta", "sigmoid"]
    assert div.status == "diverged" and div.applicable and math.isnan(div.value) and "step 3" in div.reason
    # numbers are the experiment's: softmax rows sum to 1, softmax1 rows (with the sink) to less
    alpha = df[(df.study == "rfx-alpha") & (df.metric == "row_sum")].set_index("normalization")["value"]
    assert alpha["softmax"] == pytest.approx(1.0) and alpha["softmax1"] < 1.0
    # every (study, normalization) pair has a row; timing table has one row per pair
    assert len(set(zip(df.study, df.normalization))) == 2 * len(normalizations.available())
    assert len(tables["matrix_timing"]) == 2 * len(normalizations.available())
    # deterministic
    pd.testing.assert_frame_equal(df, _run(_config())["matrix"])


def test_restricting_studies_and_normalizations(fixture_registry):
    df = _run(_config(studies=("rfx-beta",), normalizations=("ssmax", "softmax")))["matrix"]
    assert list(zip(df.study, df.normalization)) == [("rfx-beta", "softmax"), ("rfx-beta", "ssmax")]


@pytest.mark.parametrize("over,field", [({"scale": "huge"}, "scale"), ({"studies": ("nope",)}, "studies"),
                                        ({"normalizations": ("softmax2",)}, "normalizations"),
                                        ({"normalizations": ("softmax", "softmax")}, "normalizations")])
def test_bad_config_names_the_field(fixture_registry, over, field):
    with pytest.raises(ConfigError) as e:
        _config(**over)
    assert e.value.field == field


class _Broken(Study):
    name = "broken"
    matrix_normalizations = ("softmax", "linear", "sigmoid")

    def normalization_matrix(self, normalization, scale="smoke"):
        if normalization == "softmax":
            raise RuntimeError("bug")
        if normalization == "linear":
            return {"m": "abc"}
        return []


def test_errors_are_rows_not_crashes():
    rows = {n: evaluate_pair(_Broken(), n, "smoke") for n in ("softmax", "linear", "sigmoid")}
    assert all(len(r) == 1 and r[0]["status"] == "error" for r in rows.values())
    assert "RuntimeError: bug" in rows["softmax"][0]["reason"]
    assert "not a number" in rows["linear"][0]["reason"]
    assert "expected a non-empty dict" in rows["sigmoid"][0]["reason"]


def _table(rows):
    return {"matrix": pd.DataFrame([dict(zip(COLUMNS, r)) for r in rows], columns=COLUMNS)}


def test_claim_checks_pass_and_fail(fixture_registry):
    config = _config(normalizations=("softmax", "linear"))
    good = _table([("rfx-alpha", "softmax", True, "ok", "", "m", 1.0), ("rfx-alpha", "linear", False,
                   "not_applicable", "why", "", np.nan), ("rfx-beta", "softmax", True, "ok", "", "m", 2.0),
                   ("rfx-beta", "linear", True, "diverged", "nan", "", np.nan)])
    assert check_complete(good, config).passed is True
    assert check_softmax_baseline(good, config).passed is True
    errored = _table([*good["matrix"].itertuples(index=False, name=None)][:3]
                     + [("rfx-beta", "linear", True, "error", "boom", "", np.nan)])
    v = check_complete(errored, config)
    assert v.passed is False and v.value == 1
    missing = _table([*good["matrix"].itertuples(index=False, name=None)][:3])
    assert check_complete(missing, config).passed is False
    no_softmax = _table([("rfx-alpha", "softmax", True, "ok", "", "m", 1.0),
                         ("rfx-beta", "softmax", True, "ok", "", "m", np.inf)])
    v = check_softmax_baseline(no_softmax, config)
    assert v.passed is False and v.value == 1
    assert check_softmax_baseline(good, _config(normalizations=("linear",))).passed is None


def test_row_scaled_matches_naive():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 7))
    v[1, 2] = np.nan
    v[3] = 5.0
    got = row_scaled(v)
    for i in range(4):
        for j in range(7):
            row = v[i][np.isfinite(v[i])]
            if not np.isfinite(v[i, j]):
                assert np.isnan(got[i, j])
            elif row.max() == row.min():
                assert got[i, j] == 0.5
            else:
                assert got[i, j] == pytest.approx((v[i, j] - row.min()) / (row.max() - row.min()))


def test_heatmaps_written(tmp_path, fixture_registry):
    figs = matrix_heatmaps(_run(_config())["matrix"], tmp_path)
    assert [f.file for f in figs] == ["matrix_rfx-alpha.png", "matrix_rfx-beta.png"]
    assert all((tmp_path / f.file).read_bytes().startswith(b"\x89PNG") for f in figs)
    assert "7 of 8" in figs[0].caption and "1 of 8" in figs[1].caption


def test_no_study_selected_gives_empty_table_and_undecided_claims(fixture_registry, monkeypatch, tmp_path):
    monkeypatch.setenv("ATTNLAB_STUDIES", "")
    config = _config()
    assert STUDY.tasks(config) == []
    tables = STUDY.finalize(config, {})
    assert list(tables["matrix"].columns) == COLUMNS and tables["matrix"].empty
    assert check_complete(tables, config).passed is None
    assert check_softmax_baseline(tables, config).passed is None
    assert STUDY.figures(tables, config, tmp_path) == []
