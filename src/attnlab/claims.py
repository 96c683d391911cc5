"""Claims: a paper's statements as executable checks over result tables.

A :class:`Claim` has an id, a statement, a source ("paper", "secondary" or "reconstruction") and a check.
The check is a function ``check(tables, config) -> Verdict`` where ``tables`` maps table names to pandas
DataFrames (the run's final tables) and ``config`` is the study config.  A verdict carries ``passed``
(True/False, or None when the claim cannot be decided on this run, with the reason in ``detail``), the
measured ``value`` and the ``threshold`` it was compared with, and a ``detail`` sentence with the numbers.
Tolerances come from statistics (standard errors, seeds), never from tuning until green.
"""
from __future__ import annotations

import dataclasses
import math
import traceback
from typing import Any, Callable, Mapping

import numpy as np

SOURCES = ("paper", "secondary", "reconstruction")


@dataclasses.dataclass
class Verdict:
    passed: bool | None
    value: Any = None
    threshold: Any = None
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source: str
    check: Callable[[Mapping[str, Any], Any], Verdict]

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"claim {self.id}: source must be one of {SOURCES}, got {self.source!r}")


def _clean(v):
    """JSON-safe numbers: numpy scalars to Python, NaN/inf to strings."""
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    return v


def evaluate(claims: list[Claim], tables: Mapping[str, Any], config) -> list[dict]:
    """Run every claim's check. A check that raises is recorded with passed=None and status "error"."""
    out = []
    for claim in claims:
        try:
            verdict = claim.check(tables, config)
            status = "pass" if verdict.passed is True else "fail" if verdict.passed is False else "undecided"
            passed = None if verdict.passed is None else bool(verdict.passed)
            row = dict(value=_clean(verdict.value), threshold=_clean(verdict.threshold), detail=verdict.detail)
        except Exception as e:  # noqa: BLE001 - a broken check is reported, not hidden
            status, passed = "error", None
            row = dict(value=None, threshold=None,
                       detail=f"check raised {type(e).__name__}: {e} | {traceback.format_exc(limit=3)}")
        out.append(dict(id=claim.id, statement=claim.statement, source=claim.source, passed=passed,
                        status=status, **row))
    return out


def format_table(results: list[dict], study: str | None = None) -> str:
    """A fixed-width text table of claim results, for the terminal."""
    lines = []
    if study:
        lines.append(f"claims of {study}:")
    w = max([len(r["id"]) for r in results] + [5])
    for r in results:
        mark = {"pass": "PASS", "fail": "FAIL", "undecided": "N/A ", "error": "ERR "}[r["status"]]
        lines.append(f"  {mark}  {r['id']:<{w}}  value={_short(r['value'])}  threshold={_short(r['threshold'])}")
    return "\n".join(lines)


def markdown_table(results: list[dict]) -> str:
    rows = ["| claim | source | verdict | value | threshold | detail |", "|---|---|---|---|---|---|"]
    for r in results:
        detail = str(r["detail"]).replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{r['id']}` | {r['source']} | {r['status']} | {_short(r['value'])} | "
                    f"{_short(r['threshold'])} | {detail[:300]} |")
    return "\n".join(rows)


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_short(x) for x in v[:6]) + (", ..." if len(v) > 6 else "") + "]"
    return str(v)


# ---- statistics helpers used by claim checks ---------------------------------------------------------
def mean_and_stderr(x) -> tuple[float, float]:
    """Mean and standard error of the mean (ddof=1; stderr = inf for fewer than 2 values)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("inf")
    if x.size < 2:
        return float(x.mean()), float("inf")
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))
