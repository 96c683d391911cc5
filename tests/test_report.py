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
    assert 'id="overview"' in page and 'class="claims stack"' in page and 'id="ledger"' in page
    for verdict in ("pass", "fail", "undecided", "error"):  # the fixture's four findings, colour-coded
        assert f'class="v v-{verdict}"' in page
    for claim in ("entropy_below_log_n", "entropy_above_log_n", "needs_more_seeds", "broken_check",
                  "weights_sum_to_one"):
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
    assert [m for m in re.findall(r">([^<]+)</a>", nav)] == ["at a glance", "the papers beside ours", "findings",
                                                           "consistency checks", "figures", "rfx-alpha", "rfx-beta",
                                                           "ghost", "matrix"]


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


# ---- a report written for people: the ledger, named values, kinds, prose, figure index, results/paper ------
def _cells(page: str, label: str) -> list[str]:
    return re.findall(rf'<td data-label="{label}"[^>]*>(.*?)</td>', page, flags=re.S)


def test_ledger_at_the_top_with_counts_and_sources(tmp_path, fixture_registry):
    page = _html(write_report(make_reproduce_dir(tmp_path / "rep", ["rfx-alpha", "rfx-beta"])))
    top = page[page.index('id="overview"'):page.index('id="findings"')]
    assert "<b>4 of 9</b> agree" in top and "we reproduce <b>4</b>" in top
    for badge in ("4 agree", "1 same order", "2 disagree", "2 not measured at this preset"):
        assert badge in top
    assert top.count('<table class="ledger stack">') == 2       # alpha: measured + folded; beta ships none
    assert "<summary>2 not measured at this preset (why, for each)</summary>" in top
    assert "This study ships no reference data" in top
    assert "Table 1, n=16" in top and '<span class="tag">paper</span>' in top and "N(0,1) scores, 16 keys" in top
    assert "2.3 nats" in top and "2.35 nats" in top and "1.02×" in top        # paper, ours, ours/paper
    assert 'within 1.5× <a href="#tol-0-1"' in top                             # tolerance, its reason once
    assert '<li id="tol-0-1" value="1">Tolerance: fixture: the paper&#x27;s seed spread</li>' in top
    assert "no table attention" in top                                      # why not measured
    assert top.index('id="overview"') < top.index('id="ledger"')


def test_values_are_named_parts_never_bare_lists_or_dicts(tmp_path, fixture_registry):
    run = make_run_dir("rfx-alpha", tmp_path / "run")
    claims = json.loads((run / "claims.json").read_text())
    claims[0]["value"] = {"T=16": 17.8123, "T=64": 8.349}
    claims[0]["threshold"] = "drop >= 1.5x at every T (brief's pre-registered threshold)"
    claims[1]["value"] = {"bayes_softmax": [1.0, 1.0, 0.007503], "softmax": [0.7801, 0.01888]}
    claims[1]["threshold"] = {"ordered": ">= 0.9", "gap": 0.5}
    claims[2]["value"] = [0.7801, 0.01888]
    claims[2]["threshold"] = "inf"
    (run / "claims.json").write_text(json.dumps(claims))
    page = _html(write_report(run))
    values = _cells(page, "value") + _cells(page, "threshold")
    assert values and not [v for v in values if "[" in v or "{" in v], values
    assert '<span class="k">T=16:</span> 17.8' in page and '<span class="k">T=64:</span> 8.35' in page
    assert '<span class="k">bayes_softmax #3:</span> 0.0075' in page
    assert '<span class="k">#1:</span> 0.78' in page and '<span class="k">#2:</span> 0.0189' in page
    assert "drop ≥ 1.5x at every T" in page and '<span class="k">ordered:</span> ≥ 0.9' in page
    assert '<span class="k">#1:</span> 1</span>' in page        # the fixture's own list value, through the runner


def test_consistency_checks_apart_and_prose(tmp_path, fixture_registry):
    page = _html(write_report(make_run_dir("rfx-alpha", tmp_path / "run")))
    findings = page[page.index('id="findings"'):page.index('id="checks"')]
    checks = page[page.index('id="checks"'):page.index('id="figures"')]
    assert "weights_sum_to_one" in checks and "weights_sum_to_one" not in findings
    assert "entropy_below_log_n" in findings and "entropy_below_log_n" not in checks
    section = page[page.index('id="run-0"'):]
    assert section.index("<h3>Findings</h3>") < section.index("<h3>Consistency checks</h3>")
    lead = re.findall(r'<p class="lead">(.*?)</p>', section, flags=re.S)[0]
    assert lead.startswith("At the smoke preset, 1 of 4 findings pass; 1 fails (<code>entropy_above_log_n</code>)")
    assert "1 is undecided (<code>needs_more_seeds</code>)" in lead and "1 raised an error" in lead
    assert "Its consistency check (an identity or bound that holds by construction) holds." in lead
    assert "9 numbers and statements in the ledger, 4 agree with ours, 1 is of the same order, 2 disagree" in lead
    assert "The largest gap: <code>mean_entropy_order</code>" not in lead   # same order, not a disagreement
    assert 'href="#ledger-0"' in lead


def test_figure_index_links_every_figure(tmp_path, fixture_registry):
    page = _html(write_report(make_reproduce_dir(tmp_path / "rep", ["rfx-alpha", "rfx-beta"], MATRIX)))
    index = page[page.index('id="figures"'):page.index('class="study"')]
    links = re.findall(r'href="#(fig-\d+-\d+)"', index)
    assert len(links) == 3 and all(f'id="{a}"' in page for a in links)
    assert "Entropy of softmax rows &lt;b&gt;vs&lt;/b&gt; the log n bound." in index


def test_results_paper_style_folder_renders_present_studies(tmp_path, fixture_registry):
    """results/paper holds <study>/ run dirs without reproduce.json, maybe only some studies: it renders."""
    paper = tmp_path / "paper"
    make_run_dir("rfx-alpha", paper / "rfx-alpha", preset="paper", ledger=False)   # a run from before the ledger
    (paper / "notes").mkdir()                                                      # not a run dir: ignored
    page = _html(write_report(paper))
    assert page.count('class="study"') == 1 and "preset paper, 1 run(s)" in page
    assert "<b>4 of 9</b> agree" in page                   # ledger rebuilt from the committed tables
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="sub-folders holding run directories"):
        write_report(tmp_path / "empty")


@pytest.mark.parametrize("value,text", [
    ({"T=16": 17.8123, "T=64": 8.349}, "T=16: 17.8, T=64: 8.35"), (0.018884, "0.0189"), (None, "—"),
    ([0.7801, 0.01888], "#1: 0.78, #2: 0.0189"), ({"a": {"b": 1.5}}, "a b: 1.5"), (True, "yes"),
    ("inf", "∞"), ("a >= b", "a ≥ b"), ({"x": []}, "x: —"), (12, "12")])
def test_value_text(value, text):
    from attnlab.report.values import value_text

    assert value_text(value) == text


def test_threshold_text():
    from attnlab.report.values import threshold_text

    assert threshold_text(">= 0.9 of seeds") == "≥ 0.9 of seeds"
    assert threshold_text(5.0) == "5" and threshold_text("0.0123456") == "0.0123"
    assert threshold_text({"ordered": ">= 0.9"}) == "ordered: ≥ 0.9"


def test_ledger_of_another_version_or_corrupt(tmp_path, fixture_registry):
    """A ledger.parquet lacking columns is rebuilt from the tables; an unreadable one is named, the page stands."""
    import pandas as pd

    run = make_run_dir("rfx-alpha", tmp_path / "run")
    pd.DataFrame({"id": ["x"], "judgement": ["agrees"]}).to_parquet(run / "ledger.parquet")
    assert "<b>4 of 9</b> agree" in _html(write_report(run))
    (run / "ledger.parquet").write_bytes(b"not parquet")
    page = _html(write_report(run))
    assert "No ledger:" in page and "unreadable ledger" in page and 'class="claims stack"' in page
