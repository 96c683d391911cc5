"""gd-heads: the committed paper-scale results (results/paper/gd-heads/): the analysis recomputed from the committed
task tables gives the committed derived tables (fits, summary, gen_summary, init_effects, init_sample_effects).
The claims are re-evaluated for every committed study by tests/test_ledger_results_paper.py.  Skipped until the
results are committed."""
from pathlib import Path

import pandas as pd
import pytest

import attnlab
from attnlab.studies.gd_heads.analysis import analyze

RESULTS = Path(__file__).resolve().parents[2] / "results" / "paper" / "gd-heads"
pytestmark = pytest.mark.skipif(not (RESULTS / "tables").is_dir(), reason="no committed paper-scale results")
DERIVED = ("fits", "summary", "gen_summary", "init_effects", "init_sample_effects")


def _load():
    """(study config, name -> table) of the committed run, through the lab's public loader."""
    run = attnlab.load(RESULTS)
    return run.study_config(), dict(run.tables)


def test_analysis_reproduces_the_committed_derived_tables():
    cfg, tables = _load()
    again = analyze(cfg, {k: v for k, v in tables.items() if k not in DERIVED})
    for name in DERIVED:
        if name in tables:
            pd.testing.assert_frame_equal(again[name].reset_index(drop=True), tables[name].reset_index(drop=True),
                                          check_dtype=False)
