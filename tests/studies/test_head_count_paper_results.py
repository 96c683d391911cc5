"""head-count: the committed paper-scale results (results/paper/head-count/): the analysis recomputed from the
committed nmse and construction tables gives every committed derived table (paper_vs_ours, the variants'
drop summary and the Fig. 1b N sweep included).  The claims are re-evaluated for
every committed study by tests/test_ledger_results_paper.py."""
from pathlib import Path

import pandas as pd
import pytest

import attnlab
from attnlab.studies.head_count.analysis import analyse

RESULTS = Path(__file__).resolve().parents[2] / "results" / "paper" / "head-count"
pytestmark = pytest.mark.skipif(not (RESULTS / "tables").is_dir(), reason="no committed paper-scale results")
DERIVED = ("summary", "drops", "drop_summary", "T_trend", "reversal", "reversal_onset", "n_sweep", "paper_vs_ours",
           "construction_rate", "bound_exponent")


def _load():
    """(study config, name -> table) of the committed run, through the lab's public loader."""
    run = attnlab.load(RESULTS)
    return run.study_config(), dict(run.tables)


def test_analysis_reproduces_the_committed_derived_tables():
    cfg, tables = _load()
    base = {k: v for k, v in tables.items() if k in ("nmse", "construction")}
    again = analyse(cfg, base)
    for name in DERIVED:
        pd.testing.assert_frame_equal(again[name].reset_index(drop=True), tables[name].reset_index(drop=True),
                                      check_dtype=False)
