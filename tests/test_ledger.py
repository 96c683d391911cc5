"""The ledger (attnlab.ledger): reference.csv parsing and validation, lookups in a run's tables, every judge
with every judgement, the run's ledger.parquet, `attnlab ledger DIR`, the paper's points for figures, and
the five studies' own reference.csv files (when present)."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_fixtures.env import fixture_registry  # noqa: E402,F401 - pytest fixture
from report_fixtures.rundirs import make_reproduce_dir, make_run_dir  # noqa: E402

from attnlab import ledger as L  # noqa: E402
from attnlab.errors import UserError  # noqa: E402

HEADER = ",".join(L.COLUMNS)


def csv_text(*rows: dict) -> str:
    """A reference.csv text with the given cells (the rest empty); defaults make a valid ratio row."""
    lines = [HEADER]
    for i, r in enumerate(rows):
        cells = {"id": f"row_{i}", "quantity": "q", "paper_value": "2", "source": "Table 2", "source_tag": "paper",
                 "table": "t", "column": "y", "judge": "ratio", "tolerance": "1.5", "tolerance_reason": "seed std",
                 **r}
        lines.append(",".join(f'"{cells.get(c, "")}"' for c in L.COLUMNS))
    return "\n".join(lines) + "\n"


def row(**cells) -> L.ReferenceRow:
    return L.parse_reference(csv_text(cells))[0]


TABLES = {"t": pd.DataFrame({"h": [1, 1, 2, 2, 4], "T": [16, 64, 16, 64, 16],
                             "model": ["gpt2", "gpt2", "smol", "smol", "smol"],
                             "y": [2.0, 4.0, 0.5, np.nan, -3.0], "flag": [1, 1, 0, 1, 1],
                             "txt": ["a", "b", "c", "d", "e"]})}
CLAIMS = [{"id": "ok", "status": "pass"}, {"id": "bad", "status": "fail"},
          {"id": "open", "status": "undecided", "detail": "needs seeds"}, {"id": "boom", "status": "error"},
          {"id": "old", "passed": True}]


# ---- parsing ------------------------------------------------------------------------------------------------
def test_parses_every_judge_and_fills_defaults():
    rows = L.parse_reference(csv_text(
        {"id": "a"}, {"id": "b", "judge": "range", "paper_value": "", "paper_low": "1", "paper_high": "3",
                      "tolerance": "", "tolerance_reason": ""},
        {"id": "c", "judge": "at_least", "paper_value": "1", "tolerance": "", "tolerance_reason": ""},
        {"id": "d", "judge": "at_most", "paper_value": "", "paper_high": "1", "tolerance": "",
         "tolerance_reason": ""},
        {"id": "e", "judge": "sign", "paper_value": "-1", "tolerance": "", "tolerance_reason": ""},
        {"id": "f", "judge": "qualitative", "paper_value": "", "table": "claims", "column": "ok", "tolerance": "",
         "tolerance_reason": "", "source_tag": "secondary", "where": "h=1; T=16"}))
    assert [r.judge for r in rows] == list(L.JUDGES)
    assert rows[0].agg == "mean" and rows[0].tolerance == 1.5 and rows[0].line == 2
    assert rows[5].where == (("h", "1"), ("T", "16")) and rows[5].source_tag == "secondary"
    assert [r.paper_text() for r in rows] == ["2", "1 to 3", "≥ 1", "≤ 1", "negative", "holds"]


def test_quoted_commas_bom_and_blank_lines():
    text = "\ufeff" + csv_text({"quantity": "NMSE, h=1, T=16", "note": "a, b"}) + ",,,,,,,,,,,,,,,,\n"
    (r,) = L.parse_reference(text)
    assert r.quantity == "NMSE, h=1, T=16" and r.note == "a, b"


@pytest.mark.parametrize("cells,message", [
    ({"id": "bad-id"}, "id must be a snake_case identifier"), ({"id": "1st"}, "id must be"),
    ({"judge": "closeness"}, "judge 'closeness' unknown"),
    ({"agg": "sum"}, "agg 'sum' unknown"),
    ({"paper_value": "two"}, "column paper_value: 'two' is not a number"),
    ({"paper_value": "nan"}, "not a finite number"),
    ({"tolerance": ""}, "needs a tolerance factor > 1"),
    ({"tolerance": "0.5"}, "needs a tolerance factor > 1"),
    ({"paper_value": "0"}, "needs a non-zero paper_value"),
    ({"tolerance_reason": ""}, "a tolerance needs its tolerance_reason"),
    ({"judge": "range", "paper_low": "3", "paper_high": "1"}, "paper_low <= paper_high"),
    ({"judge": "range", "paper_low": "3"}, "needs paper_low and paper_high"),
    ({"judge": "at_least", "paper_value": ""}, "needs paper_low or paper_value"),
    ({"judge": "at_most", "paper_value": ""}, "needs paper_high or paper_value"),
    ({"judge": "sign", "paper_value": "0"}, "needs a non-zero paper_value"),
    ({"source_tag": "reconstruction"}, "source_tag 'reconstruction' must be one of paper, secondary"),
    ({"where": "h1"}, "'h1' is not key=value"),
    ({"table": ""}, "column table is empty"),
    ({"quantity": ""}, "column quantity is empty"),
])
def test_bad_row_names_file_line_and_id(cells, message):
    with pytest.raises(L.ReferenceDataError) as e:
        L.parse_reference(csv_text({"id": "good"}, {"id": "the_row", **cells}), "pkg/reference.csv")
    text = str(e.value)
    assert message in text and text.startswith("pkg/reference.csv, line 3 (id ")
    if cells.get("id") is None:
        assert "(id the_row)" in text


def test_bad_headers_and_duplicates():
    with pytest.raises(L.ReferenceDataError, match="header lacks column.*judge"):
        L.parse_reference(HEADER.replace(",judge", "") + "\n")
    with pytest.raises(L.ReferenceDataError, match="unknown column.*figure"):
        L.parse_reference(HEADER + ",figure\n")
    with pytest.raises(L.ReferenceDataError, match="empty file"):
        L.parse_reference("")
    with pytest.raises(L.ReferenceDataError, match=r"line 3 \(id a\): duplicate id \(first on line 2\)"):
        L.parse_reference(csv_text({"id": "a"}, {"id": "a"}))
    with pytest.raises(L.ReferenceDataError, match="more fields than the header"):
        L.parse_reference(HEADER + "\n" + "x," * len(L.COLUMNS) + "extra\n")
    assert isinstance(L.ReferenceDataError("x"), UserError)        # the CLI: exit 2 with one error line


# ---- measuring ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cells,ours", [
    ({}, 0.875),                                         # mean over the finite values (NaN left out)
    ({"where": "h=1"}, 3.0), ({"where": "h=1.0;T=64"}, 4.0), ({"where": "model=smol", "agg": "min"}, -3.0),
    ({"agg": "max"}, 4.0), ({"agg": "median"}, 1.25), ({"agg": "first"}, 2.0),
    ({"agg": "std", "where": "h=1"}, math.sqrt(2.0)), ({"column": "flag", "agg": "min"}, 0.0),
])
def test_measure_filters_and_aggregates(cells, ours):
    got, why = L.measure(row(**cells), TABLES)
    assert got == pytest.approx(ours) and why


@pytest.mark.parametrize("cells,reason", [
    ({"table": "absent"}, "no table absent"),
    ({"column": "z"}, "no column z in table t"),
    ({"where": "heads=1"}, "no column heads (in where) in table t"),
    ({"where": "h=3"}, "no rows of table t where h=3"),
    ({"where": "model=gpt3"}, "no rows of table t where model=gpt3"),
    ({"where": "h=2;T=64"}, "no finite value"),
    ({"agg": "std", "where": "h=4"}, "std needs >= 2 values"),
    ({"agg": "first", "where": "h=2;T=64"}, "no finite value"),
    ({"column": "txt"}, "no finite value"),
    ({"table": "claims", "column": "open"}, "claim open is undecided: needs seeds"),
    ({"table": "claims", "column": "boom"}, "claim boom is error"),
    ({"table": "claims", "column": "nope"}, "no claim nope in this run"),
])
def test_not_measured_says_why(cells, reason):
    ours, why = L.measure(row(**cells), TABLES, CLAIMS)
    assert ours is None and reason in why
    df = L.build_ledger([row(**cells)], TABLES, CLAIMS, "s")
    assert df["judgement"].tolist() == [L.NOT_MEASURED] and reason in df["reason"][0]


def test_claim_verdicts_are_one_and_zero():
    q = {"table": "claims", "judge": "qualitative", "paper_value": "", "tolerance": "", "tolerance_reason": ""}
    assert L.measure(row(column="ok", **q), {}, CLAIMS)[0] == 1.0
    assert L.measure(row(column="old", **q), {}, CLAIMS)[0] == 1.0       # claims.json without "status"
    assert L.measure(row(column="bad", **q), {}, CLAIMS)[0] == 0.0


# ---- judging ------------------------------------------------------------------------------------------------
NO_TOL = {"tolerance": "", "tolerance_reason": ""}


@pytest.mark.parametrize("cells,ours,judgement", [
    ({}, 2.9, L.AGREES), ({}, 1.2, L.SAME_ORDER), ({}, 19.0, L.SAME_ORDER), ({}, 0.1, L.DISAGREES),
    ({}, 25.0, L.DISAGREES), ({}, -2.0, L.DISAGREES), ({}, 0.0, L.DISAGREES),
    ({"paper_value": "-2"}, -2.5, L.AGREES),
    ({"judge": "range", "paper_value": "", "paper_low": "1", "paper_high": "3", **NO_TOL}, 1.0, L.AGREES),
    ({"judge": "range", "paper_value": "", "paper_low": "1", "paper_high": "3", **NO_TOL}, 5.9, L.SAME_ORDER),
    ({"judge": "range", "paper_value": "", "paper_low": "1", "paper_high": "3", **NO_TOL}, 0.5, L.SAME_ORDER),
    ({"judge": "range", "paper_value": "", "paper_low": "1", "paper_high": "3", **NO_TOL}, 0.4, L.DISAGREES),
    ({"judge": "range", "paper_value": "", "paper_low": "1", "paper_high": "3", **NO_TOL}, -1.0, L.DISAGREES),
    ({"judge": "range", "paper_value": "", "paper_low": "0", "paper_high": "3", **NO_TOL}, -0.1, L.DISAGREES),
    ({"judge": "at_least", "paper_value": "", "paper_low": "0.5", **NO_TOL}, 0.5, L.AGREES),
    ({"judge": "at_least", "paper_value": "0.5", **NO_TOL}, 0.49, L.DISAGREES),
    ({"judge": "at_most", "paper_value": "", "paper_high": "0.1", **NO_TOL}, 0.1, L.AGREES),
    ({"judge": "at_most", "paper_value": "0.1", **NO_TOL}, 0.2, L.DISAGREES),
    ({"judge": "sign", "paper_value": "-0.5", **NO_TOL}, -7.0, L.AGREES),
    ({"judge": "sign", "paper_value": "-0.5", **NO_TOL}, 0.3, L.DISAGREES),
    ({"judge": "sign", "paper_value": "-0.5", **NO_TOL}, 0.0, L.DISAGREES),
    ({"judge": "qualitative", "paper_value": "", **NO_TOL}, 1.0, L.AGREES),
    ({"judge": "qualitative", "paper_value": "", **NO_TOL}, 0.0, L.DISAGREES),
    ({"judge": "qualitative", "paper_value": "", **NO_TOL}, 0.7, L.DISAGREES),
    ({}, None, L.NOT_MEASURED), ({"judge": "qualitative", "paper_value": "", **NO_TOL}, None, L.NOT_MEASURED),
])
def test_every_judge_gives_every_judgement(cells, ours, judgement):
    got, ratio, diff, how = L.judge(row(**cells), ours)
    assert got == judgement, how
    r = row(**cells)
    if ours is not None and r.paper_value not in (None, 0) and r.judge != "qualitative":
        assert ratio == pytest.approx(ours / r.paper_value) and diff == pytest.approx(ours - r.paper_value)


def test_ledger_rows_columns_and_types():
    rows = L.parse_reference(csv_text({"id": "a", "where": "h=1", "tolerance": "1.2"}, {"id": "b", "table": "nope"},
                                      {"id": "c", "table": "claims", "column": "bad", "judge": "qualitative",
                                       "paper_value": "", **NO_TOL}))
    df = L.build_ledger(rows, TABLES, CLAIMS, "demo")
    assert list(df.columns) == L.LEDGER_COLUMNS
    assert df["judgement"].tolist() == [L.SAME_ORDER, L.NOT_MEASURED, L.DISAGREES]
    assert df["ours"][0] == 3.0 and df["ratio"][0] == 1.5 and df["difference"][0] == 1.0
    assert math.isnan(df["ours"][1]) and df["study"].unique().tolist() == ["demo"]
    assert df["ours"].dtype == float and df["ratio"].dtype == float
    assert L.counts(df) == {L.AGREES: 0, L.SAME_ORDER: 1, L.DISAGREES: 1, L.NOT_MEASURED: 1}


@pytest.mark.parametrize("x,text", [(17.8123, "17.8"), (8.349, "8.35"), (0.018884, "0.0189"), (1.47e-5, "1.47e-5"),
                                    (5.0, "5"), (3, "3"), (1234.6, "1235"), (999.7, "1000"), (2.5e7, "2.5e7"),
                                    (-0.5, "-0.5"), (float("inf"), "∞"), (True, "yes"), (None, "—"), (0.0, "0")])
def test_numbers_have_three_significant_digits(x, text):
    assert L.num(x) == text


# ---- runs, directories, the CLI -----------------------------------------------------------------------------
def test_run_writes_ledger_and_cli_prints_it(tmp_path, fixture_registry, capsys):
    from attnlab.cli import main
    from attnlab.runner import run_study

    res = run_study("rfx-alpha", preset="smoke", out=tmp_path / "alpha", executor="serial", progress=False,
                    quiet=True)
    df = pd.read_parquet(res.out / L.LEDGER_FILE)
    assert len(df) == 9 and set(df["judgement"]) == set(L.JUDGEMENTS)
    by = df.set_index("id")["judgement"]
    assert by["entropy_below_log_n"] == L.AGREES and by["entropy_above_log_n"] == L.DISAGREES
    assert by["mean_entropy_order"] == L.SAME_ORDER and by["attention_weights"] == L.NOT_MEASURED
    assert main(["ledger", str(res.out)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rfx-alpha: 9 of the paper's numbers and statements: 4 agree, 1 same order, 2 disagree")
    table = [ln for ln in out.splitlines()[1:12]]
    starts = [ln.index("judgement") if "judgement" in ln else None for ln in table[:1]]
    assert starts[0] is not None
    assert all(ln[starts[0]:].split("  ")[0].strip() in L.JUDGEMENTS for ln in table[2:11]), table  # aligned
    assert "attention_weights: no table attention" in out
    assert main(["ledger", str(tmp_path / "none")]) == 2
    # a beta run (no reference data) gets an empty ledger
    res = run_study("rfx-beta", preset="smoke", out=tmp_path / "beta", executor="serial", progress=False, quiet=True)
    assert len(pd.read_parquet(res.out / L.LEDGER_FILE)) == 0


def test_dir_ledger_of_reproduce_and_plain_folders(tmp_path, fixture_registry):
    out = make_reproduce_dir(tmp_path / "rep", ["rfx-alpha", "rfx-beta"])
    df = L.dir_ledger(out)
    assert len(df) == 9 and set(df["study"]) == {"rfx-alpha"}
    # a results/paper-like folder (no reproduce.json), whose run predates the ledger: rebuilt from its tables
    paper = tmp_path / "paper"
    make_run_dir("rfx-alpha", paper / "rfx-alpha", ledger=False)
    assert not (paper / "rfx-alpha" / L.LEDGER_FILE).exists()
    again = L.dir_ledger(paper)
    pd.testing.assert_frame_equal(again, df.reset_index(drop=True))
    with pytest.raises(UserError, match="neither a run directory"):
        L.dir_ledger(tmp_path)


def test_invalid_reference_keeps_the_run(tmp_path, fixture_registry, monkeypatch, capsys):
    """A broken reference.csv loses the ledger, not the finished run, and says so on stderr."""
    from attnlab.runner import run_study

    monkeypatch.setattr(L.reference, "reference_text", lambda study: ("id,quantity\n", "x/reference.csv"))
    res = run_study("rfx-alpha", preset="smoke", out=tmp_path / "a", executor="serial", progress=False, quiet=True)
    assert (res.out / "claims.json").exists() and not (res.out / L.LEDGER_FILE).exists()
    assert "ledger: error for rfx-alpha: x/reference.csv: header lacks column(s)" in capsys.readouterr().err


def test_study_package_defaults_to_the_class_package(fixture_registry):
    from attnlab.studies import get_study

    assert L.study_package(get_study("rfx-alpha")) == "report_fixtures.alpha_ref"   # Study.package
    assert L.study_package(get_study("rfx-beta")) == "report_fixtures"               # the module's package
    assert L.load_reference("rfx-beta") == []


# ---- the paper's points for figures ----------------------------------------------------------------------------
def test_paper_points_and_plot(fixture_registry):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = L.paper_points("rfx-alpha")
    assert "seeds_statement" not in set(pts["id"])                      # qualitative: nothing to draw
    first = pts.set_index("id").loc["mean_entropy"]
    assert first["value"] == 2.3 and first["n_keys"] == 16 and first["source"] == "Table 1, n=16"
    sel = L.paper_points("rfx-alpha", ["min_entropy", "mean_entropy"])
    assert sel["id"].tolist() == ["min_entropy", "mean_entropy"]
    with pytest.raises(KeyError, match="no_such_row"):
        L.paper_points("rfx-alpha", ["no_such_row"])
    fig, ax = plt.subplots()
    art = L.plot_paper_points(ax, sel, x="n_keys", y="low")
    assert art is not None
    assert L.plot_paper_points(ax, L.paper_points("rfx-alpha", ["mean_entropy"]), x="n_keys") is not None
    _, labels = ax.get_legend_handles_labels()
    assert labels == ["paper", "paper"]
    plt.close(fig)


# ---- the five studies' reference data -----------------------------------------------------------------------
STUDIES = ["specialization", "copy-transition", "head-count", "gd-heads", "selectivity"]


@pytest.mark.parametrize("name", STUDIES)
def test_study_reference_csv_parses(name):
    """Each study's reference.csv (when it ships one) follows docs/reference-data.md, and every row that
    reads a claim names one of the study's claims."""
    from attnlab.studies import get_study

    study = get_study(name)
    found = L.reference_text(study)
    if found is None:
        pytest.skip(f"{name} ships no reference.csv yet")
    rows = L.parse_reference(*found)
    assert rows, f"{found[1]} has no rows"
    claim_ids = {c.id for c in study.claims()}
    for r in rows:
        if r.table == "claims":
            assert r.column in claim_ids, f"{found[1]} line {r.line} (id {r.id}): no claim {r.column} in {name}"
