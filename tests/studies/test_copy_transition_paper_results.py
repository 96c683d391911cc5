"""copy-transition: the committed paper-scale results (results/paper/copy-transition/): the analysis recomputed from
the committed task tables gives the committed derived tables (the sampled P* against the Maxwell point, hysteresis,
scaling fits, Adam jumps, precursor, variants).  The claims are re-evaluated for every committed study by
tests/test_ledger_results_paper.py.  Skipped until the results are committed."""
from pathlib import Path

import pandas as pd
import pytest

import attnlab
from attnlab.studies.copy_transition.analysis import derive

RESULTS = Path(__file__).resolve().parents[2] / "results" / "paper" / "copy-transition"
pytestmark = pytest.mark.skipif(not (RESULTS / "tables").is_dir(), reason="no committed paper-scale results")
DERIVED = ("onset_fit", "scaling", "fits", "sampling_summary", "hysteresis", "adam_jumps", "adam_linear", "precursor",
           "variant_summary", "free_energy", "pstar_sampling")


def _load():
    """(study config, name -> table) of the committed run, through the lab's public loader."""
    run = attnlab.load(RESULTS)
    return run.study_config(), dict(run.tables)


def test_analysis_reproduces_the_committed_derived_tables():
    cfg, tables = _load()
    again = derive(cfg, {k: v for k, v in tables.items() if k not in DERIVED})
    assert "pstar_sampling" in tables and "hysteresis" in tables
    for name in DERIVED:
        if name in tables:
            pd.testing.assert_frame_equal(again[name].reset_index(drop=True), tables[name].reset_index(drop=True),
                                          check_dtype=False)
