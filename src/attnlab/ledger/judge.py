"""Measuring a reference row in a run's final tables and judging it against the paper (no eval, no analysis):
``measure`` -> our number or why it is not measured; ``judge`` -> agrees / same order / disagrees;
``build_ledger`` -> one ledger row per reference row."""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .numbers import num
from .reference import ReferenceRow

AGREES, SAME_ORDER, DISAGREES, NOT_MEASURED = "agrees", "same order", "disagrees", "not measured at this preset"
JUDGEMENTS = (AGREES, SAME_ORDER, DISAGREES, NOT_MEASURED)
SAME_ORDER_FACTOR = 10.0      # ratio judge: "same order" band
RANGE_FACTOR = 2.0            # range judge: "same order" = within this factor of the nearer end
LEDGER_COLUMNS = ["study", "id", "quantity", "paper", "paper_value", "paper_low", "paper_high", "units", "ours",
                  "ratio", "difference", "judge", "tolerance", "judgement", "reason", "source", "source_tag",
                  "applies_to", "table", "column", "where", "agg", "tolerance_reason", "note"]


# ---- measuring and judging ---------------------------------------------------------------------------------
def _as_number(x: Any) -> float | None:
    if isinstance(x, (bool, np.bool_)):
        return float(x)
    if isinstance(x, (int, float, np.integer, np.floating)):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return None
    return None


def _matches(series: pd.Series, value: str) -> np.ndarray:
    """Rows where the column equals ``value``: as numbers when both parse as numbers, else as text."""
    target = _as_number(value)
    out = np.zeros(len(series), dtype=bool)
    for i, cell in enumerate(series.tolist()):
        cnum = _as_number(cell)
        if target is not None and cnum is not None:
            out[i] = cnum == target or (math.isfinite(target) and math.isclose(cnum, target, rel_tol=1e-12))
        else:
            out[i] = str(cell) == value or (isinstance(cell, (bool, np.bool_)) and str(cell).lower() == value.lower())
    return out


def select(row: ReferenceRow, df: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of ``df`` that the reference row's ``where`` selects (None when a ``where`` key is not a
    column of ``df``)."""
    mask = np.ones(len(df), dtype=bool)
    for key, value in row.where:
        if key not in df.columns:
            return None
        mask &= _matches(df[key], value)
    return df.loc[mask]


def measure(row: ReferenceRow, tables: Mapping[str, pd.DataFrame], claims: Iterable[Mapping] = ()) \
        -> tuple[float | None, str]:
    """(ours, reason): our number for the row, or (None, why it is not measured)."""
    if row.table == "claims":
        by_id = {c.get("id"): c for c in claims}
        c = by_id.get(row.column)
        if c is None:
            return None, f"no claim {row.column} in this run"
        status = c.get("status") or ("pass" if c.get("passed") is True else "fail" if c.get("passed") is False
                                     else "undecided")
        if status == "pass":
            return 1.0, f"claim {row.column} passes"
        if status == "fail":
            return 0.0, f"claim {row.column} fails"
        return None, f"claim {row.column} is {status}: {str(c.get('detail') or '').partition(' | ')[0][:160]}"
    df = tables.get(row.table)
    if df is None:
        return None, f"no table {row.table}"
    if row.column not in df.columns:
        return None, f"no column {row.column} in table {row.table}"
    rows = select(row, df)
    if rows is None:
        absent = next(k for k, _ in row.where if k not in df.columns)
        return None, f"no column {absent} (in where) in table {row.table}"
    sub = rows[row.column]
    where = f" where {';'.join(f'{k}={v}' for k, v in row.where)}" if row.where else ""
    if len(sub) == 0:
        return None, f"no rows of table {row.table}{where}"
    vals = np.array([_as_number(x) if _as_number(x) is not None else np.nan for x in sub.tolist()], dtype=float)
    if not np.any(np.isfinite(vals)):
        return None, f"no finite value of {row.table}.{row.column}{where}"
    if row.agg == "first":
        v = float(vals[0])
        if not math.isfinite(v):
            return None, f"first value of {row.table}.{row.column}{where} is not finite"
        return v, f"first of {len(vals)} row(s)"
    finite = vals[np.isfinite(vals)]
    if row.agg == "std":
        if finite.size < 2:
            return None, f"std needs >= 2 values of {row.table}.{row.column}{where}, got {finite.size}"
        return float(np.std(finite, ddof=1)), f"std (ddof 1) of {finite.size} value(s)"
    fn = {"mean": np.mean, "min": np.min, "max": np.max, "median": np.median}[row.agg]
    return float(fn(finite)), f"{row.agg} of {finite.size} value(s)"


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def judge(row: ReferenceRow, ours: float | None) -> tuple[str, float | None, float | None, str]:
    """(judgement, ratio ours/paper_value, difference ours - paper_value, reason) for our number."""
    if ours is None or not math.isfinite(ours):
        return NOT_MEASURED, None, None, ""
    pv = row.paper_value
    ratio = ours / pv if pv not in (None, 0) else None
    diff = ours - pv if pv is not None else None
    j = row.judge
    if j == "ratio":
        tol = float(row.tolerance)  # type: ignore[arg-type]
        if ratio is not None and 1 / tol <= ratio <= tol:
            return AGREES, ratio, diff, f"ratio {num(ratio)} within [1/{num(tol)}, {num(tol)}]"
        if ratio is not None and 1 / SAME_ORDER_FACTOR <= ratio <= SAME_ORDER_FACTOR:
            return SAME_ORDER, ratio, diff, f"ratio {num(ratio)} outside [1/{num(tol)}, {num(tol)}], within 10×"
        return DISAGREES, ratio, diff, f"ratio {num(ratio)} beyond 10×"
    if j == "range":
        lo, hi = float(row.paper_low), float(row.paper_high)  # type: ignore[arg-type]
        if lo <= ours <= hi:
            return AGREES, ratio, diff, f"inside [{num(lo)}, {num(hi)}]"
        end = lo if ours < lo else hi
        if end != 0 and _sign(ours) == _sign(end) and 1 / RANGE_FACTOR <= ours / end <= RANGE_FACTOR:
            return SAME_ORDER, ratio, diff, f"outside [{num(lo)}, {num(hi)}], within 2× of {num(end)}"
        return DISAGREES, ratio, diff, f"outside [{num(lo)}, {num(hi)}] by more than 2×"
    if j == "at_least":
        thr = row.paper_low if row.paper_low is not None else pv
        ok = ours >= thr  # type: ignore[operator]
        return (AGREES if ok else DISAGREES), ratio, diff, f"{num(ours)} {'≥' if ok else '<'} {num(thr)}"
    if j == "at_most":
        thr = row.paper_high if row.paper_high is not None else pv
        ok = ours <= thr  # type: ignore[operator]
        return (AGREES if ok else DISAGREES), ratio, diff, f"{num(ours)} {'≤' if ok else '>'} {num(thr)}"
    if j == "sign":
        ok = _sign(ours) == _sign(pv)  # type: ignore[arg-type]
        return (AGREES if ok else DISAGREES), ratio, diff, "same sign" if ok else "opposite sign"
    # qualitative
    ok = ours == 1
    return (AGREES if ok else DISAGREES), None, None, "the statement holds" if ok else \
        ("the statement does not hold" if ours == 0 else f"holds in part only ({num(ours)}; needs 1)")


def build_ledger(rows: list[ReferenceRow], tables: Mapping[str, pd.DataFrame], claims: Iterable[Mapping] = (),
                 study: str = "") -> pd.DataFrame:
    """One ledger row per reference row, columns LEDGER_COLUMNS."""
    claims = list(claims)
    out = []
    for r in rows:
        ours, why = measure(r, tables, claims)
        judgement, ratio, diff, how = judge(r, ours)
        out.append({
            "study": study, "id": r.id, "quantity": r.quantity, "paper": r.paper_text(),
            "paper_value": r.paper_value, "paper_low": r.paper_low, "paper_high": r.paper_high, "units": r.units,
            "ours": ours, "ratio": ratio, "difference": diff, "judge": r.judge, "tolerance": r.tolerance,
            "judgement": judgement, "reason": why if judgement == NOT_MEASURED else f"{how}; {why}",
            "source": r.source, "source_tag": r.source_tag, "applies_to": r.applies_to, "table": r.table,
            "column": r.column, "where": ";".join(f"{k}={v}" for k, v in r.where), "agg": r.agg,
            "tolerance_reason": r.tolerance_reason, "note": r.note})
    df = pd.DataFrame(out, columns=LEDGER_COLUMNS)
    for col in ("paper_value", "paper_low", "paper_high", "ours", "ratio", "difference", "tolerance"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df



def counts(df: pd.DataFrame) -> dict[str, int]:
    """judgement -> number of rows, every judgement present (0 when none)."""
    got = df["judgement"].value_counts().to_dict() if len(df) else {}
    return {j: int(got.get(j, 0)) for j in JUDGEMENTS}



__all__ = ["AGREES", "SAME_ORDER", "DISAGREES", "NOT_MEASURED", "JUDGEMENTS", "LEDGER_COLUMNS", "measure", "judge",
           "build_ledger", "counts"]
