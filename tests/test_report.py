"""The HTML report: content, escaping, corrupt input, reproduce dirs, and a run through the real runner."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_fixtures.env import fixture_registry  # noqa: E402,F401 - pytest fixture
from report_fixtures.rundirs import make_reproduce_dir, make_run_dir  # noqa: E402

from attnlab.errors import UserError  # noqa: E402
from attnlab.report import write_report  # noqa: E402
from attnlab.report.load import verdict_of  # noqa: E402

MATRIX = {"studies": ("rfx-alpha", "rfx-beta")}


def _html(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_single_run_page_has_every_part(tmp_path, fixture_registry):
    run = make_run_dir("rfx-alpha", tmp_path / "run")
    page = _html(write_report(run))
    assert (run / "report.html").exists()
    assert 'id="overview"' in page and 'class="claims"' in page
    for verdict in ("pass", "fail", "undecided", "error"):  # the fixture's four claims, colour-coded
        assert f'class="v v-{verdict}"' in page
    for claim in ("entropy_below_log_n", "entropy_above_log_n", "needs_more_seeds", "broken_check"):
        assert claim in page
    assert "Fixture alpha: softmax entropy" in page and "fixture (no paper)" in page      # from the Study
    assert "Entropy of softmax attention over Gaussian scores" in page                    # summary
    assert page.count('src="data:image/png;base64,') == 1
    assert "Entropy of softmax rows &lt;b&gt;vs&lt;/b&gt; the log n bound." in page      # caption, escaped
    assert "abc123" in page and "1.2 s" in page and "serial" in page                      # provenance
    assert "<code>n_keys</code>" in page                                                  # resolved config
    assert "http://" not in page and "https://" not in page and "<script" not in page      # self-contained


def test_config_strings_are_escaped(tmp_path, fixture_registry):
    evil = '<script>alert("x")</script>'
    run = make_run_dir("rfx-alpha", tmp_path / "run", overrides={"label": evil})
    page = _html(write_report(run))
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<script" not in page


def test_claim_and_run_strings_are_escaped(tmp_path, fixture_registry):
    run = make_run_dir("rfx-alpha", tmp_path / "run")
    claims = json.loads((run / "claims.json").read_text())
    claims[0]["detail"] = "<img src=x onerror=alert(1)>"
    claims[0]["id"] = "<b>id</b>"
    (run / "claims.json").write_text(json.dumps(claims))
    meta = json.loads((run / "config.json").read_text())
    meta["git_commit"] = "<i>commit</i>"
    (run / "config.json").write_text(json.dumps(meta))
    page = _html(write_report(run))
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
    assert "&lt;b&gt;id&lt;/b&gt;" in page and "&lt;i&gt;commit&lt;/i&gt;" in page


def _corrupt(kind: str, root: Path) -> Path:
    if kind == "missing":
        return root / "nope"
    if kind == "file":
        (root / "f").write_text("x")
        return root / "f"
    d = root / "d"
    d.mkdir()
    if kind == "empty":
        return d
    if kind == "config_json":
        (d / "config.json").write_text("{not json")
    elif kind == "config_no_study":
        (d / "config.json").write_text(json.dumps({"preset": "smoke"}))
    elif kind == "claims_json":
        (d / "config.json").write_text(json.dumps({"study": "x"}))
        (d / "claims.json").write_text(json.dumps({"id": "not a list"}))
    elif kind == "figures_json":
        (d / "config.json").write_text(json.dumps({"study": "x"}))
        (d / "figures").mkdir()
        (d / "figures" / "figures.json").write_text("[{]")
    elif kind == "reproduce_json":
        (d / "reproduce.json").write_text(json.dumps({"studies": "all"}))
    elif kind == "binary_config":
        (d / "config.json").write_bytes(b"\xff\xfe\x00garbage")
    return d


@pytest.mark.parametrize("kind", ["missing", "file", "empty", "config_json", "config_no_study", "claims_json",
                                  "figures_json", "reproduce_json", "binary_config"])
def test_bad_dir_raises_user_error_and_writes_nothing(tmp_path, kind):
    path = _corrupt(kind, tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(UserError):
        write_report(path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_figure_problems_are_shown_not_embedded(tmp_path, fixture_registry):
    run = make_run_dir("rfx-alpha", tmp_path / "run")
    (run / "figures" / "fake.png").write_text("not a png")
    entries = json.loads((run / "figures" / "figures.json").read_text())
    entries += [{"file": "fake.png", "caption": "c1"}, {"file": "gone.png", "caption": "c2"},
                {"file": "../config.json", "caption": "c3"}]
    (run / "figures" / "figures.json").write_text(json.dumps(entries))
    page = _html(write_report(run))
    assert page.count("<img ") == 1
    assert "not a PNG file" in page and "missing or unreadable" in page and "outside the figures folder" in page


def test_reproduce_dir_with_matrix(tmp_path, fixture_registry):
    out = make_reproduce_dir(tmp_path / "rep", ["rfx-alpha", "rfx-beta"], MATRIX)
    rep = json.loads((out / "reproduce.json").read_text())
    # `attnlab reproduce --matrix` lists the matrix run too, and a study whose dir vanished must still render
    rep["studies"] += [{"study": "matrix", "dir": "matrix", "status": "done", "exit_code": 0, "wall_time_s": 1},
                       {"study": "ghost", "dir": "ghost", "status": "failed", "exit_code": 1, "wall_time_s": 0}]
    (out / "reproduce.json").write_text(json.dumps(rep))
    page = _html(write_report(out))
    assert page.count('class="study"') == 4                     # alpha, beta, ghost, matrix (once)
    assert "This run could not be read" in page and "exit code 1" in page
    assert 'class="matrix"' in page and ">n/a<" in page and ">diverged<" in page
    assert "single-head task: a joint softmax over heads has nothing to join" in page   # reason, not skipped
    assert page.count('src="data:image/png;base64,') == 3     # alpha's figure + two heatmaps
    nav = re.findall(r'<nav>(.*?)</nav>', page)[0]
    assert [m for m in re.findall(r">([^<]+)</a>", nav)] == ["overview", "rfx-alpha", "rfx-beta", "ghost", "matrix"]


@pytest.mark.parametrize("claim,verdict", [({"status": "pass"}, "pass"), ({"passed": False}, "fail"),
                                           ({"passed": None}, "undecided"), ({"status": "error"}, "error"),
                                           ({"status": "weird", "passed": True}, "pass")])
def test_verdict_of(claim, verdict):
    assert verdict_of(claim) == verdict


def test_report_of_real_runner_runs(tmp_path, fixture_registry):
    """Smoke: the runner's own run dirs (study and matrix) render; the matrix run has its tables/claims/figures."""
    from attnlab.runner import run_study

    res = run_study("rfx-alpha", preset="smoke", out=tmp_path / "alpha", executor="serial", progress=False)
    page = _html(write_report(res.out))
    assert "entropy_below_log_n" in page and page.count("<img ") == 1

    m = run_study("matrix", preset="smoke", overrides=MATRIX, out=tmp_path / "matrix", executor="serial",
                  progress=False)
    import pandas as pd

    df = pd.read_parquet(m.out / "tables" / "matrix.parquet")
    assert list(df.columns) == ["study", "normalization", "applicable", "status", "reason", "metric", "value"]
    claims = json.loads((m.out / "claims.json").read_text())
    assert {c["id"]: c["status"] for c in claims} == {"matrix_complete": "pass",
                                                      "softmax_baseline_everywhere": "pass"}
    figs = json.loads((m.out / "figures" / "figures.json").read_text())
    assert [f["file"] for f in figs] == ["matrix_rfx-alpha.png", "matrix_rfx-beta.png"]
    assert all((m.out / "figures" / f["file"]).stat().st_size > 1000 for f in figs)
    page = _html(write_report(m.out))
    assert 'class="matrix"' in page and page.count("<img ") == 2


def test_matrix_table_groups_reasons_and_keeps_header():
    import pandas as pd

    from attnlab.matrix import COLUMNS
    from attnlab.report.render import matrix_html

    rows = [("s1", n, True, "error", "ImportError: x | Traceback <line>", "", float("nan")) for n in ("a", "b")]
    rows += [("s2", "a", True, "ok", "", "m", 0.5), ("s2", "b", False, "not_applicable", "why <not>", "", float("nan"))]
    html = matrix_html(pd.DataFrame(rows, columns=COLUMNS))
    assert "<thead><tr><th>study</th><th>metric</th><th>a</th><th>b</th></tr></thead>" in html
    assert html.count("ImportError: x") == 3          # two cell tooltips + one grouped list entry
    assert "<code>a</code>, <code>b</code> (error)" in html and "Traceback &lt;line&gt;" in html
    assert 'title="why &lt;not&gt;"' in html and ">0.5<" in html


def test_check_traceback_folds_into_details(tmp_path, fixture_registry):
    page = _html(write_report(make_run_dir("rfx-alpha", tmp_path / "run")))
    assert "check raised ZeroDivisionError: division by zero<details><summary>traceback</summary><pre>Traceback" in page
