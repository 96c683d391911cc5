"""The ledger: the papers' numbers and statements beside ours.

Each study ships its paper's numbers as package data, ``<study package>/reference.csv`` (format:
``docs/reference-data.md``).  For a finished run, :func:`build_ledger` looks every reference row up in the
run's final tables (``table``/``column``/``where``/``agg``; ``table=claims`` reads a claim's verdict: pass = 1,
fail = 0, undecided or error = not measured) and judges it:

    ratio        r = ours / paper_value: agrees if 1/tol <= r <= tol; same order if 1/10 <= r <= 10
    range        agrees if paper_low <= ours <= paper_high; same order if ours / (nearer end) in [1/2, 2]
    at_least     agrees if ours >= paper_low (or paper_value)
    at_most      agrees if ours <= paper_high (or paper_value)
    sign         agrees if sign(ours) = sign(paper_value)
    qualitative  agrees if ours = 1 (the statement holds); any other value disagrees

A row whose table, column or rows are absent is ``not measured at this preset``.  The ledger evaluates no
expression (no ``eval``) and does no analysis: derived quantities come from the study's own tables.

Every run writes ``DIR/ledger.parquet`` (:func:`write_run_ledger`, called by the runner); ``attnlab ledger
DIR`` prints it (:func:`format_ledger`).  Figures that mirror a paper figure draw the paper's points with
:func:`paper_points` and :func:`plot_paper_points`.
"""
from __future__ import annotations

from .figures import PAPER_STYLE, paper_points, plot_paper_points
from .judge import (AGREES, DISAGREES, JUDGEMENTS, LEDGER_COLUMNS, NOT_MEASURED, SAME_ORDER, build_ledger, counts,
                    judge, measure)
from .numbers import num
from .reference import (AGGS, COLUMNS, JUDGES, REFERENCE_FILE, SOURCE_TAGS, ReferenceDataError, ReferenceRow,
                        load_reference, parse_reference, parse_where, read_reference, reference_text, study_package)
from .runs import (LEDGER_FILE, dir_ledger, ledger_for, read_run_tables, record, rewrite_ledgers, run_dirs,
                   run_ledger, write_run_ledger)
from .text import format_ledger

__all__ = ["COLUMNS", "JUDGES", "AGGS", "SOURCE_TAGS", "REFERENCE_FILE", "JUDGEMENTS", "AGREES", "SAME_ORDER",
           "DISAGREES", "NOT_MEASURED", "LEDGER_COLUMNS", "LEDGER_FILE", "ReferenceRow", "ReferenceDataError",
           "parse_reference", "parse_where", "read_reference", "reference_text", "load_reference", "study_package",
           "measure", "judge", "build_ledger", "counts", "ledger_for", "write_run_ledger", "record", "run_ledger",
           "read_run_tables", "dir_ledger", "run_dirs", "rewrite_ledgers", "format_ledger", "paper_points",
           "plot_paper_points", "PAPER_STYLE", "num"]
