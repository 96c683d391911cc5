"""selectivity reference data (docs/reference-data.md): format, ids, judges, and every row points at a documented
table and column of ours (or a claim); the GPT-2 numbers the brief quotes are all there with their source."""
import csv
from importlib import resources

import pytest

from attnlab.studies.selectivity import STUDY

COLUMNS = ["id", "quantity", "paper_value", "paper_low", "paper_high", "units", "source", "source_tag", "applies_to",
           "table", "column", "where", "agg", "judge", "tolerance", "tolerance_reason", "note"]
JUDGES = {"ratio", "range", "at_least", "at_most", "sign", "qualitative"}
AGGS = {"mean", "min", "max", "median", "std", "first"}
NOT_A_TABLE = {"critical_search_time"}          # wall time is not a (deterministic) result table: not measured


@pytest.fixture(scope="module")
def rows():
    text = resources.files("attnlab.studies.selectivity").joinpath("reference.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(text.splitlines())
    assert reader.fieldnames == COLUMNS
    return list(reader)


def test_format_ids_judges(rows):
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    claim_ids = {c.id for c in STUDY.claims()}
    for r in rows:
        assert r["judge"] in JUDGES and r["agg"] in AGGS and r["source_tag"] in ("paper", "secondary"), r
        assert r["source"] and r["quantity"] and r["tolerance_reason"], r
        if r["judge"] == "ratio":
            assert float(r["tolerance"]) > 1 and float(r["paper_value"]) > 0, r
        if r["judge"] == "range":
            assert float(r["paper_low"]) <= float(r["paper_high"]), r
        if r["table"] == "claims":
            assert r["column"] in claim_ids, r
        elif r["id"] not in NOT_A_TABLE:
            doc = STUDY.tables_doc[r["table"]]
            assert r["column"] in doc, r
            for part in filter(None, r["where"].split(";")):
                assert part.split("=", 1)[0] in doc, (r["id"], part)


def test_the_gpt2_numbers_of_the_brief_are_there(rows):
    by = {r["id"]: r for r in rows}
    assert float(by["critical_frac_smollm2_B"]["paper_value"]) == 0.06
    assert {"critical_frac_smollm2_A", "critical_frac_minilm_B", "critical_frac_gpt2_B"} <= set(by)
    sep = by["separability_plateau_smollm2_N64"]
    assert (float(sep["paper_low"]), float(sep["paper_high"])) == (0.70, 0.85)
    assert float(by["gradient_drop_smollm2"]["paper_low"]) == 100
    assert float(by["gradient_tracks_inverse_4T_smollm2"]["paper_value"]) == 1
    assert float(by["distance_slope_L_smollm2"]["paper_value"]) == 1
    assert float(by["critical_search_time"]["paper_value"]) == 17 * 3600 + 4 * 60
    assert all(r["source"] for r in rows)
