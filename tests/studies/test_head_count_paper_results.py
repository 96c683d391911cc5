"""head-count: the committed paper-scale results (results/paper/head-count/): the analysis recomputed from the
committed nmse table gives the committed derived tables (paper_vs_ours included).  The claims are re-evaluated for
every committed study by tests/test_ledger_results_paper.py."""
from pathlib import Path

import pandas as pd
import pytest

from attnlab.config import build_config
from attnlab.ledger import read_run_tables
from attnlab.store import read_json
from attnlab.studies.head_count import STUDY
from attnlab.studies.head_count.analysis import analyse

RESULTS = Path(__file__).resolve().parents[2] / "results" / "paper" / "head-count"
pytestmark = pytest.mark.skipif(not (RESULTS / "tables").is_dir(), reason="no committed paper-scale results")


def _load():
    cfg_json = read_json(RESULTS / "config.json")
    cfg = build_config(STUDY.config_cls, STUDY.presets, cfg_json["preset"], cfg_json["config"])
    return cfg, read_run_tables(RESULTS)


def test_analysis_reproduces_the_committed_derived_tables():
    cfg, tables = _load()
    base = {k: v for k, v in tables.items() if k in ("nmse", "construction")}
    again = analyse(cfg, base)
    for name in ("summary", "drops", "paper_vs_ours"):
        pd.testing.assert_frame_equal(again[name].reset_index(drop=True), tables[name].reset_index(drop=True),
                                      check_dtype=False)
