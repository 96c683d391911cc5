"""The scripts in examples/ run, at smoke scale (issue 18, item 3). Each is loaded from its file and its
``main(argv)`` called in this process (what ``python examples/<name>.py ARGS`` does, without a new interpreter)."""
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name: str):
    """The ``main`` of examples/<name>.py."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"example_{name}")["main"]


def test_every_example_is_tested():
    tested = {"custom_normalization", "table2_cell", "selectivity_of_my_text", "dask_sweep", "restyle_figure"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_custom_normalization_reaches_all_five_studies(tmp_path, capsys):
    from attnlab import normalizations

    try:
        r = example("custom_normalization")(["--out", str(tmp_path / "matrix")])
    finally:
        normalizations.unregister("relu2max")
    m = r.tables["matrix"]
    new = m[m.normalization == "relu2max"]
    assert set(new.study) == {"specialization", "copy-transition", "head-count", "gd-heads", "selectivity"}
    assert set(new.status) <= {"ok", "not_applicable"} and (new.status == "ok").sum() > 0
    assert "relu2max of logits" in capsys.readouterr().out


def test_table2_cell_then_restyle_its_figure(tmp_path, capsys):
    run = example("table2_cell")(["--smoke", "--out", str(tmp_path / "cell")])
    summary = run.tables["summary"]
    assert list(summary[summary.experiment == "main"][["h", "T"]].itertuples(index=False, name=None)) == [(4, 16)]
    out = capsys.readouterr().out
    assert "Table 2, h=4, T=16: our mean validation NMSE" in out
    png = example("restyle_figure")([str(run.dir), "--out", str(tmp_path / "mine.png")])
    assert png.exists() and png.stat().st_size > 1000


def test_selectivity_of_my_text_smoke(capsys):
    rows = example("selectivity_of_my_text")(["--smoke", "a short text of my own, about attention"])
    assert len(rows) == 2 and all(0 < r["mass_1"] <= 1 and r["eff"] >= 1 for r in rows)


@pytest.mark.slow
def test_selectivity_of_my_text_on_smollm2(capsys):
    rows = example("selectivity_of_my_text")(["The cat sat on the mat because it was warm."])
    assert len(rows) == 30
    assert all(0 < r["mass_1"] <= 1 and r["mass_1"] <= r["mass_4"] <= 1 for r in rows)


def test_dask_sweep_smoke(tmp_path, capsys):
    s = example("dask_sweep")(["--smoke", "--out", str(tmp_path / "sweep")])
    assert list(s.points) == ["D=2_h=2", "D=3_h=3"] and s.status == "done"
    assert s.meta["executor"] == "dask" and s.meta["zip"] == {"D": [2, 3], "h": [2, 3]}
