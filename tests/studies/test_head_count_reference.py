"""head-count reference data (docs/reference-data.md): format, ids, judges, and every row resolvable in our
tables: a synthetic paper-preset grid (analysis only, no training) holds every row's table, column and
``where`` rows; all 25 cells of Table 2 are there with their source cells."""
import numpy as np
import pandas as pd
import pytest

from attnlab.config import build_config
from attnlab.ledger import load_reference
from attnlab.ledger.judge import select
from attnlab.studies.head_count import STUDY
from attnlab.studies.head_count import analysis as A
from attnlab.studies.head_count.config import PRESETS, HeadCountConfig
from attnlab.studies.head_count.experiments import training_points

@pytest.fixture(scope="module")
def rows():
    """Parsed and validated by the ledger (columns, unique ids, judges, aggs, source tags, tolerances)."""
    return load_reference(STUDY)


def test_format_ids_judges(rows):
    for r in rows:
        assert r.tolerance_reason, r.id
        if r.judge == "ratio":
            assert r.paper_value > 0, r.id
        if r.table == "claims":
            assert r.column in {c.id for c in STUDY.claims()}, r.id
        else:
            assert r.table in STUDY.tables_doc and r.column in STUDY.tables_doc[r.table], r.id


def test_all_25_cells_of_table2(rows):
    t2 = A.table2_reference()
    assert len(t2) == 25 and set(t2["h"]) == {1, 2, 3, 4, 5} and set(t2["T"]) == {8, 16, 32, 64, 128}
    cell = t2.set_index(["h", "T"])
    assert cell.loc[(3, 16), "paper_mean"] == pytest.approx(6.4e-4)
    assert cell.loc[(4, 128), "paper_high"] == pytest.approx(5.2e-6 + 5.7e-6)
    assert all(s.startswith("Table 2, h=") for s in t2["source"])


def _fake_tables(preset):
    """Fake NMSE rows for every training point of a preset -> the analysis tables (no training)."""
    cfg = build_config(HeadCountConfig, PRESETS, preset)
    g = np.random.default_rng(0)
    fake = [{**{k: p[k] for k in ("experiment", "D", "h", "T", "n", "N", "layers", "width_mode", "seed")},
             "nmse_val": 10.0 ** (-p["h"] - g.uniform(0, 1)), "params_ffn": 1, "params_total": 1}
            for p in training_points(cfg)]
    return A.analyse(cfg, {"nmse": pd.DataFrame(fake)})


def test_every_row_resolves_at_quick_or_paper(rows):
    """Each row's table and column exist and its ``where`` selects exactly one row at the paper preset or at
    the quick preset (T ratios 16 -> 64 are measured at quick, 8 -> 128 at paper; Table 2 cells with
    T in {8, 32, 128} only at paper)."""
    presets = {name: _fake_tables(name) for name in ("quick", "paper")}
    for r in rows:
        if r.table == "claims":
            continue
        found = []
        for name, tables in presets.items():
            df = tables[r.table]
            assert r.column in df.columns, r.id
            found.append(len(select(r, df)))
        assert 1 in found and set(found) <= {0, 1}, (r.id, found)
    pvo = presets["paper"]["paper_vs_ours"]
    assert len(pvo) == 25 and np.allclose(pvo["ratio"], pvo["ours_mean"] / pvo["paper_mean"])
    assert len(presets["quick"]["paper_vs_ours"]) == 10
