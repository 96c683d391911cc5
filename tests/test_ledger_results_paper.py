"""Committed paper-scale results (results/paper/<study>/): the claims re-evaluated from the committed tables give
the verdicts in the committed claims.json, the committed ledger.parquet is the one the current reference data
give, and `attnlab report results/paper` renders whatever subset of studies is present."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_fixtures.env import fixture_registry  # noqa: E402,F401 - pytest fixture

from attnlab.claims import evaluate  # noqa: E402
from attnlab.config import coerce_overrides  # noqa: E402
from attnlab.ledger import LEDGER_FILE, read_run_tables, run_ledger  # noqa: E402
from attnlab.studies import STUDY_MODULES, get_study  # noqa: E402

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


def mismatches(run_dir: Path) -> list[str]:
    """Claims re-evaluated from the run's committed tables vs its claims.json: one line per difference."""
    meta, study, config = _study_and_config(run_dir)
    committed = json.loads((run_dir / "claims.json").read_text(encoding="utf-8"))
    got = {c["id"]: c for c in evaluate(study.claims(), read_run_tables(run_dir), config)}
    out = []
    for c in committed:
        g = got.get(c["id"])
        if g is None:
            out.append(f"{c['id']}: no longer stated by the study")
        elif g["status"] != c["status"]:
            out.append(f"{c['id']}: committed {c['status']}, re-evaluated {g['status']}: {g['detail']}")
        elif not _same(g["value"], c["value"]):
            out.append(f"{c['id']}: committed value {c['value']!r}, re-evaluated {g['value']!r}")
    out += [f"{i}: stated by the study but not in the committed claims.json" for i in set(got) - {c["id"] for c in committed}]
    return out


@pytest.mark.parametrize("name", _present())
def test_claims_reevaluate_to_the_committed_verdicts(name):
    assert name in STUDY_MODULES, f"results/paper/{name}: not a study's CLI name ({', '.join(STUDY_MODULES)})"
    assert mismatches(PAPER / name) == []


def test_reevaluation_notices_a_changed_verdict(tmp_path, fixture_registry):
    """The check above can fail: a run of the fixture study agrees with itself until its claims.json is edited."""
    from attnlab.runner import run_study

    run = run_study("rfx-alpha", preset="smoke", out=tmp_path / "a", executor="serial", progress=False,
                    quiet=True).out
    assert mismatches(run) == []
    claims = json.loads((run / "claims.json").read_text())
    claims[0]["status"] = "fail"
    claims[1]["value"] = 123.0
    (run / "claims.json").write_text(json.dumps(claims[:-1]))
    found = mismatches(run)
    assert len(found) == 3 and "committed fail, re-evaluated pass" in found[0] and "123.0" in found[1]
    assert "not in the committed claims.json" in found[2]


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
