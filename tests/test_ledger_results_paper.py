"""Committed paper-scale results (results/paper/<study>/): the claims re-evaluated from the committed tables give
the verdicts in the committed claims.json, the committed ledger.parquet is the one the current reference data
give, and `attnlab report results/paper` renders whatever subset of studies is present."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from attnlab.claims import evaluate
from attnlab.config import coerce_overrides
from attnlab.ledger import LEDGER_FILE, read_run_tables, run_ledger
from attnlab.studies import STUDY_MODULES, get_study

PAPER = Path(__file__).resolve().parents[1] / "results" / "paper"
PRESENT = sorted(d.name for d in PAPER.iterdir() if (d / "config.json").exists()) if PAPER.is_dir() else []


def _present():
    return PRESENT or [pytest.param("(none)", marks=pytest.mark.skip(reason="results/paper holds no runs yet"))]


def _study_and_config(run_dir: Path):
    meta = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    study = get_study(meta["study"])
    cls = study.config_cls
    config = cls.from_dict(meta["config"]) if hasattr(cls, "from_dict") else \
        cls(**coerce_overrides(cls, meta["config"]))
    return meta, study, config


def _same(a, b) -> bool:
    """Claim values equal up to float rounding (JSON round trip)."""
    if isinstance(a, float) or isinstance(b, float):
        try:
            fa, fb = float(a), float(b)
        except (TypeError, ValueError):
            return False
        return (math.isnan(fa) and math.isnan(fb)) or math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", _present())
def test_claims_reevaluate_to_the_committed_verdicts(name):
    run_dir = PAPER / name
    assert name in STUDY_MODULES, f"results/paper/{name}: not a study's CLI name ({', '.join(STUDY_MODULES)})"
    meta, study, config = _study_and_config(run_dir)
    committed = json.loads((run_dir / "claims.json").read_text(encoding="utf-8"))
    again = evaluate(study.claims(), read_run_tables(run_dir), config)
    got = {c["id"]: c for c in again}
    for c in committed:
        assert c["id"] in got, f"{name}: claim {c['id']} is no longer stated by the study"
        assert got[c["id"]]["status"] == c["status"], \
            f"{name}: {c['id']} was {c['status']}, re-evaluated {got[c['id']]['status']}: {got[c['id']]['detail']}"
        assert _same(got[c["id"]]["value"], c["value"]), (name, c["id"], got[c["id"]]["value"], c["value"])
    assert {c["id"] for c in committed} == set(got), f"{name}: claims added since the run: rerun or recommit"


@pytest.mark.parametrize("name", _present())
def test_committed_ledger_matches_the_reference_data(name):
    """After a study's reference.csv changes, refresh with `attnlab ledger results/paper --recompute --write`."""
    run_dir = PAPER / name
    if not (run_dir / LEDGER_FILE).exists():
        pytest.skip(f"results/paper/{name} has no ledger.parquet (the report rebuilds it from the tables)")
    committed = pd.read_parquet(run_dir / LEDGER_FILE)
    fresh = run_ledger(run_dir, recompute=True)
    cols = ["id", "judgement", "ours", "paper_value", "paper_low", "paper_high", "source"]
    pd.testing.assert_frame_equal(committed[cols].reset_index(drop=True), fresh[cols].reset_index(drop=True),
                                  check_dtype=False)


def test_report_of_results_paper_renders(tmp_path):
    if not PRESENT:
        pytest.skip("results/paper holds no runs yet")
    import shutil

    from attnlab.report import write_report

    copy = tmp_path / "paper"
    shutil.copytree(PAPER, copy, ignore=shutil.ignore_patterns("report.html"))
    page = write_report(copy).read_text(encoding="utf-8")
    assert page.count('class="study"') == len(PRESENT)
    assert "the papers beside ours" in page
