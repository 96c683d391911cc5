"""`attnlab compare DIR_A DIR_B`: claims whose verdicts or values changed, tables whose numbers differ; exit 1
when a verdict flipped, 0 otherwise, 2 on bad input."""
import json
import shutil

import pandas as pd
import pytest

import attnlab
from attnlab.compare import compare_runs, compare_tables, values_differ


@pytest.fixture
def two_runs(sleepy, tmp_path):
    """Two identical runs of the fixture study (a, b), and a run with another scale (c)."""
    kw = dict(preset="smoke", executor="serial", progress=False)
    a = attnlab.run("sleepy", out=tmp_path / "a", **kw).dir
    b = tmp_path / "b"
    shutil.copytree(a, b)
    c = attnlab.run("sleepy", out=tmp_path / "c", scale=3.0, **kw).dir
    return a, b, c


def _main(capsys, *args):
    from attnlab.cli import main

    code = main(["compare", *map(str, args)])
    return code, capsys.readouterr()


def test_identical_runs(two_runs, capsys):
    a, b, _ = two_runs
    code, cap = _main(capsys, a, b)
    assert code == 0 and "no verdict flipped; no difference" in cap.out


def test_flipped_verdict_exits_1(two_runs, capsys):
    a, b, _ = two_runs
    claims = json.loads((b / "claims.json").read_text())
    claims[1].update(status="fail", passed=False, value=7.5)
    (b / "claims.json").write_text(json.dumps(claims))
    code, cap = _main(capsys, a, b)
    assert code == 1
    assert "FLIPPED  mean_is_small: pass -> fail" in cap.out and "7.5" in cap.out
    assert "1 verdict(s) flipped" in cap.out
    assert compare_runs(a, b).flipped[0].key == "mean_is_small"


def test_changed_values_and_tables_are_printed_but_exit_0(two_runs, capsys):
    a, _, c = two_runs
    code, cap = _main(capsys, a, c)
    assert code == 0
    assert "VALUE    mean_is_small" in cap.out
    assert "DIFFERS  values: 9 of 36 cells differ: value (9" in cap.out
    # a loose enough tolerance hides them (scale 1 -> 3: relative changes of 2/3)
    code, cap = _main(capsys, a, c, "--rtol", "0.7")
    assert code == 0 and "VALUE" not in cap.out and "DIFFERS" not in cap.out


def test_timing_columns_and_ignored_columns_are_left_out(two_runs, capsys):
    a, b, _ = two_runs
    path = b / "tables" / "values.parquet"
    df = pd.read_parquet(path)
    df["wall_s"] = 1.0 + df.index
    df["label"] = "other"
    df.to_parquet(path)
    pa = a / "tables" / "values.parquet"
    da = pd.read_parquet(pa)
    da["wall_s"] = 0.5
    da["label"] = "one"
    da.to_parquet(pa)
    code, cap = _main(capsys, a, b)
    assert "wall_s" not in cap.out.split("ignored columns")[0] and "label (9)" in cap.out
    code, cap = _main(capsys, a, b, "--ignore", "label")
    assert "DIFFERS" not in cap.out and "ignored columns: label, wall_s" in cap.out


def test_shape_changes(sleepy, tmp_path, capsys):
    kw = dict(preset="smoke", executor="serial", progress=False)
    a = attnlab.run("sleepy", out=tmp_path / "a", **kw).dir
    b = attnlab.run("sleepy", out=tmp_path / "b", n_tasks=4, **kw).dir
    code, cap = _main(capsys, a, b)
    assert code == 0 and "values: rows 9 -> 12" in cap.out


def test_bad_input_exits_2(two_runs, sleepy, tmp_path, capsys):
    a, _, _ = two_runs
    code, cap = _main(capsys, a, tmp_path / "absent")
    assert code == 2 and cap.err.startswith("error: ") and "absent" in cap.err
    code, cap = _main(capsys, a, a, "--rtol", "-1")
    assert code == 2 and "--rtol" in cap.err
    s = attnlab.sweep("sleepy", grid={"scale": [1, 2]}, out=tmp_path / "s", preset="smoke", executor="serial",
                      progress=False).dir
    code, cap = _main(capsys, a, s)
    assert code == 2 and "of a kind" in cap.err
    code, cap = _main(capsys, a)
    assert code == 2


def test_values_differ():
    assert not values_differ(1.0, 1.0 + 1e-9, 1e-6, 0.0)
    assert values_differ(1.0, 1.1, 1e-6, 0.0) and not values_differ(1.0, 1.1, 0.2, 0.0)
    assert not values_differ(float("nan"), float("nan"), 0, 0) and values_differ(float("nan"), 1.0, 0, 0)
    assert values_differ({"T=16": 1.0}, {"T=16": 2.0}, 1e-6, 0) and values_differ({"a": 1}, {"b": 1}, 0, 0)
    assert not values_differ({"T=16": 1.0, "T=64": None}, {"T=16": 1.0, "T=64": None}, 0, 0)
    assert values_differ(None, 1.0, 0, 0) and not values_differ("x", "x", 0, 0)
    assert not values_differ(True, True, 0, 0) and values_differ(True, False, 0, 0)


def test_compare_tables_counts_cells():
    a = pd.DataFrame({"x": [1.0, 2.0, float("nan")], "name": ["p", "q", None]})
    b = pd.DataFrame({"x": [1.0, 2.5, float("nan")], "name": ["p", "r", None]})
    change = compare_tables("t", a, b, 1e-6, 0.0)
    assert change.cells == 2 and change.columns == {"x": (1, 0.5), "name": (1, None)}
    assert compare_tables("t", a, a.copy(), 0, 0) is None


def test_sweeps_compare_by_point(sleepy, tmp_path, capsys):
    a = attnlab.sweep("sleepy", zip={"n_tasks": [1, 2], "scale": [1, 2]}, out=tmp_path / "a", preset="smoke",
                      executor="serial", progress=False).dir
    b = tmp_path / "b"
    shutil.copytree(a, b)
    claims = json.loads((b / "claims.json").read_text())
    flipped = next(c for c in claims if c["point"] == "n_tasks=2_scale=2.0" and c["id"] == "values_are_finite")
    flipped.update(status="undecided", passed=None)
    (b / "claims.json").write_text(json.dumps(claims))
    code, cap = _main(capsys, a, b)
    assert code == 1 and "FLIPPED  n_tasks=2_scale=2.0/values_are_finite: pass -> undecided" in cap.out
