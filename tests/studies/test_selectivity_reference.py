"""selectivity reference data (docs/reference-data.md): format, ids, judges, and every row points at a documented
table and column of ours (or a claim); the GPT-2 numbers the brief quotes are all there with their source."""
import pytest

from attnlab.ledger import load_reference
from attnlab.studies.selectivity import STUDY

NOT_A_TABLE = {"critical_search_time"}          # wall time is not a (deterministic) result table: not measured


@pytest.fixture(scope="module")
def rows():
    """Parsed and validated by the ledger (columns, unique ids, judges, aggs, source tags, tolerances)."""
    return load_reference(STUDY)


def test_format_ids_judges(rows):
    claim_ids = {c.id for c in STUDY.claims()}
    for r in rows:
        assert r.tolerance_reason, r.id
        if r.judge == "ratio":
            assert r.paper_value > 0, r.id
        if r.table == "claims":
            assert r.column in claim_ids, r.id
        elif r.id not in NOT_A_TABLE:
            doc = STUDY.tables_doc[r.table]
            assert r.column in doc, r.id
            for key, _ in r.where:
                assert key in doc, (r.id, key)


def test_the_gpt2_numbers_of_the_brief_are_there(rows):
    by = {r.id: r for r in rows}
    assert by["critical_frac_smollm2_B"].paper_value == 0.06
    assert {"critical_frac_smollm2_A", "critical_frac_minilm_B", "critical_frac_gpt2_B"} <= set(by)
    sep = by["separability_plateau_smollm2_N64"]
    assert (sep.paper_low, sep.paper_high) == (0.70, 0.85)
    assert by["gradient_drop_smollm2"].paper_low == 100
    assert by["gradient_tracks_inverse_4T_smollm2"].paper_value == 1
    assert by["distance_slope_L_smollm2"].paper_value == 1
    assert by["critical_search_time"].paper_value == 17 * 3600 + 4 * 60
    assert all(r.source for r in rows)
