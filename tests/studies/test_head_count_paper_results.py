"""head-count: the committed paper-scale results (results/paper/head-count/) re-evaluated: the claims computed
from the committed tables give the committed verdicts, and the analysis recomputed from the committed nmse
table gives the committed derived tables (paper_vs_ours included)."""
import json
from pathlib import Path

import pandas as pd
import pytest

from attnlab.claims import evaluate
from attnlab.config import build_config
from attnlab.studies.head_count import STUDY
from attnlab.studies.head_count.analysis import analyse

RESULTS = Path(__file__).resolve().parents[2] / "results" / "paper" / "head-count"
pytestmark = pytest.mark.skipif(not (RESULTS / "tables").is_dir(), reason="no committed paper-scale results")


def _load():
    cfg_json = json.loads((RESULTS / "config.json").read_text())
    cfg = build_config(STUDY.config_cls, STUDY.presets, cfg_json["preset"], cfg_json["config"])
    tables = {p.stem: pd.read_parquet(p) for p in (RESULTS / "tables").glob("*.parquet")}
    return cfg, tables


def test_claims_reevaluate_to_the_committed_verdicts():
    cfg, tables = _load()
    committed = {c["id"]: c["status"] for c in json.loads((RESULTS / "claims.json").read_text())}
    now = {r["id"]: r["status"] for r in evaluate(STUDY.claims(), tables, cfg)}
    assert now == committed


def test_analysis_reproduces_the_committed_derived_tables():
    cfg, tables = _load()
    base = {k: v for k, v in tables.items() if k in ("nmse", "construction")}
    again = analyse(cfg, base)
    for name in ("summary", "drops", "paper_vs_ours"):
        pd.testing.assert_frame_equal(again[name].reset_index(drop=True), tables[name].reset_index(drop=True),
                                      check_dtype=False)
