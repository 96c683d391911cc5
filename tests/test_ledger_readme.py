"""The README's "what is reproduced" table (attnlab.readme_table): it is up to date with the committed
results/paper, it is built from ledgers and verdicts, and quick rows survive a refresh of the paper rows."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_fixtures.env import fixture_registry  # noqa: E402,F401 - pytest fixture
from report_fixtures.rundirs import make_reproduce_dir, make_run_dir  # noqa: E402

from attnlab import readme_table as RT  # noqa: E402
from attnlab.errors import UserError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAPER = ROOT / "results" / "paper"


def test_readme_table_is_up_to_date_with_results_paper():
    """Fails when results/paper (or a study's reference data read through its ledger) changed and the README's
    table was not regenerated: run `python -m attnlab.readme_table` (add `--quick runs/demo` after make demo)."""
    text = README.read_text(encoding="utf-8")
    before, block, after = RT.split(text)
    expected = RT.build(text, PAPER, None, "results/paper")
    assert expected == text, ("README.md's 'what is reproduced' table is out of date: run "
                              "`python -m attnlab.readme_table`")
    if not RT.rows_for(PAPER, "results/paper"):
        assert "No paper-scale results are committed in `results/paper` yet" in block


def _readme(tmp_path: Path, body: str = "| old | hand | table |") -> Path:
    p = tmp_path / "README.md"
    p.write_text(f"# x\n\nintro\n\n{RT.START}\n{body}\n{RT.END}\n\n## after\n", encoding="utf-8")
    return p


def test_rows_from_paper_and_quick_dirs(tmp_path, fixture_registry):
    paper = tmp_path / "paper"
    make_run_dir("rfx-alpha", paper / "rfx-alpha", preset="paper")
    quick = make_reproduce_dir(tmp_path / "demo", ["rfx-alpha", "rfx-beta"])
    readme = _readme(tmp_path)
    assert RT.main(["--paper", str(paper), "--quick", str(quick), "--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# x\n\nintro\n\n<!-- reproduced:start -->") and text.endswith(f"{RT.END}\n\n## after\n")
    assert "| old | hand | table |" not in text and RT.HEADER in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| rfx-")]
    assert len(rows) == 3
    paper_row = next(r for r in rows if "| paper (" in r)
    assert paper_row.startswith(f"| rfx-alpha | paper ({paper.as_posix()}, commit abc123) | 1 / 1 / 2 | 1 of 1 | "
                                "4 / 1 / 2 / 2 of 9 |")
    assert "fails: `entropy_above_log_n`" in paper_row and "disagrees: `entropy_above_log_n`, `entropy_range`" \
        in paper_row
    beta = next(r for r in rows if r.startswith("| rfx-beta"))
    assert "| none decided | — | no reference data | — |" in beta
    assert "Quick-preset rows" not in text and "No paper-scale results" not in text
    # refreshing the paper rows alone keeps the quick rows; --check agrees, then notices a change
    assert RT.main(["--paper", str(paper), "--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == text
    assert RT.main(["--paper", str(paper), "--readme", str(readme), "--check"]) == 0
    shutil.rmtree(paper / "rfx-alpha")
    assert RT.main(["--paper", str(paper), "--readme", str(readme), "--check"]) == 1
    assert readme.read_text(encoding="utf-8") == text                                  # --check writes nothing


def test_empty_results_say_so(tmp_path):
    readme = _readme(tmp_path)
    assert RT.main(["--paper", str(tmp_path / "none"), "--readme", str(readme)]) == 0
    block = RT.split(readme.read_text(encoding="utf-8"))[1]
    assert "No paper-scale results are committed in" in block and "Quick-preset rows: `make demo`" in block
    assert RT.HEADER not in block


def test_missing_markers_is_an_error(tmp_path, capsys):
    p = tmp_path / "README.md"
    p.write_text("no markers\n")
    assert RT.main(["--readme", str(p)]) == 2
    assert "markers" in capsys.readouterr().err
    with pytest.raises(UserError):
        RT.split(f"{RT.END}\n{RT.START}")


def test_quick_rows_are_parsed_back(tmp_path, fixture_registry):
    quick = make_reproduce_dir(tmp_path / "demo", ["rfx-alpha"])
    rows = RT.rows_for(quick, "runs/demo")
    block = RT.render_block([], rows, "results/paper")
    assert RT.quick_rows_in(block) == rows
    meta = json.loads((quick / "rfx-alpha" / "config.json").read_text())
    assert rows[0][1].startswith(f"| rfx-alpha | {meta['preset']} (runs/demo, commit abc123) |")
