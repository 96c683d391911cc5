"""Claims: a paper's statements as executable checks over result tables.

A :class:`Claim` has an id, a statement, a source ("paper", "secondary" or "reconstruction") and a check.
The check is a function ``check(tables, config) -> Verdict`` where ``tables`` maps table names to pandas
DataFrames (the run's final tables) and ``config`` is the study config.  A verdict carries ``passed``
(True/False, or None when the claim cannot be decided on this run, with the reason in ``detail``), the
measured ``value`` and the ``threshold`` it was compared with, and a ``detail`` sentence with the numbers.
Tolerances come from statistics (standard errors, seeds), never from tuning until green.

Kinds: a *finding* is a statement of the paper that our numbers could contradict; a *consistency* check is an
identity or a bound that holds by construction (it checks the code, not the science).  The report shows
them apart.

A claim declares the tables and columns it reads (``needs={"nmse": ["h", "T", "nmse_val"]}``); when one is
missing or empty the claim is "undecided, missing X" without running its check.

Confidence policy (one for the whole lab): every interval a claim uses is two-sided at ``CONFIDENCE`` =
99 %: mean +- ``Z`` (= 2.576) standard errors for means and differences of means over seeds, and a
Student-t interval at the same level (n - 2 degrees of freedom) for fitted slopes (:func:`slope_fit`).
A claim "exceeds" a threshold when its interval lies beyond it; a test of a qualitative threshold
pre-registered in a research brief uses that threshold as stated.
"""
from __future__ import annotations

import dataclasses
import math
import traceback
from typing import Any, Callable, Mapping

import numpy as np

SOURCES = ("paper", "secondary", "reconstruction")
KINDS = ("finding", "consistency")
CONFIDENCE = 0.99
Z = 2.5758293035489004          # scipy.stats.norm.ppf(0.995): the lab's z for CONFIDENCE


@dataclasses.dataclass
class Verdict:
    passed: bool | None
    value: Any = None
    threshold: Any = None
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Claim:
    """id, statement, source (paper | secondary | reconstruction), check(tables, config) -> Verdict;
    kind (finding | consistency); needs {table: [columns]} checked before the check runs."""

    id: str
    statement: str
    source: str
    check: Callable[[Mapping[str, Any], Any], Verdict]
    kind: str = "finding"
    needs: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"claim {self.id}: source must be one of {SOURCES}, got {self.source!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}, got {self.kind!r}")


def missing(tables: Mapping[str, Any], needs: Mapping[str, Any]) -> str | None:
    """None when every table in ``needs`` is present, non-empty and has the named columns; else a reason
    such as "missing table nmse" or "missing columns h, T of table nmse"."""
    for name, cols in needs.items():
        df = tables.get(name)
        if df is None:
            return f"missing table {name}"
        if len(df) == 0:
            return f"table {name} is empty"
        absent = [c for c in cols if c not in df.columns]
        if absent:
            return f"missing columns {', '.join(absent)} of table {name}"
    return None


def undecided(reason: str, value: Any = None) -> Verdict:
    return Verdict(None, value, None, reason)


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
            reason = missing(tables, claim.needs)
            verdict = undecided(reason) if reason else claim.check(tables, config)
            status = "pass" if verdict.passed is True else "fail" if verdict.passed is False else "undecided"
            passed = None if verdict.passed is None else bool(verdict.passed)
            row = dict(value=_clean(verdict.value), threshold=_clean(verdict.threshold), detail=verdict.detail)
        except Exception as e:  # noqa: BLE001 - a broken check is reported, not hidden
            status, passed = "error", None
            row = dict(value=None, threshold=None,
                       detail=f"check raised {type(e).__name__}: {e} | {traceback.format_exc(limit=3)}")
        out.append(dict(id=claim.id, statement=claim.statement, source=claim.source, kind=claim.kind,
                        passed=passed, status=status, **row))
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
    rows = ["| claim | kind | source | verdict | value | threshold | detail |", "|---|---|---|---|---|---|---|"]
    for r in results:
        detail = str(r["detail"]).replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{r['id']}` | {r.get('kind', 'finding')} | {r['source']} | {r['status']} | {_short(r['value'])} | "
                    f"{_short(r['threshold'])} | {detail[:300]} |")
    return "\n".join(rows)


def _short(v) -> str:
    """A claim value or threshold as a person reads it: named parts with 3 significant digits, never a bare
    list or dict (``T=16: 17.8, T=64: 8.35``); see :func:`attnlab.report.values.value_text`."""
    from .report.values import value_text

    return value_text(v)


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


def diff_z(a: float, se_a: float, b: float, se_b: float) -> float:
    """(a - b) / sqrt(se_a^2 + se_b^2) for independent estimates (inf/nan-safe)."""
    se = math.hypot(se_a, se_b)
    if se == 0:
        return math.copysign(float("inf"), a - b) if a != b else 0.0
    return (a - b) / se


@dataclasses.dataclass(frozen=True)
class SlopeFit:
    """Least-squares line y = intercept + slope x with a two-sided CONFIDENCE interval on the slope."""

    slope: float
    intercept: float
    se: float
    low: float
    high: float
    n: int

    def inside(self, lo: float, hi: float) -> bool:
        """The slope's interval overlaps [lo, hi] (the data do not exclude that band)."""
        return self.high >= lo and self.low <= hi

    def text(self) -> str:
        return f"slope {self.slope:.3g} [{self.low:.3g}, {self.high:.3g}] ({int(CONFIDENCE * 100)} %, n={self.n})"


def slope_fit(x, y, *, log_x: bool = False, log_y: bool = False, weights=None) -> SlopeFit:
    """Ordinary (or weighted) least squares of y on x, optionally in logs, with the slope's standard error
    and its Student-t interval at CONFIDENCE (n - 2 degrees of freedom; infinite for n <= 2).  Rows with
    non-finite values (or non-positive ones where a log is taken) are dropped."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if log_x:
        ok &= x > 0
    if log_y:
        ok &= y > 0
    x, y = x[ok], y[ok]
    w = None if weights is None else np.asarray(weights, dtype=float)[ok]
    if log_x:
        x = np.log(x)
    if log_y:
        y = np.log(y)
    n = int(x.size)
    if n < 2 or np.ptp(x) == 0:
        return SlopeFit(float("nan"), float("nan"), float("inf"), float("-inf"), float("inf"), n)
    sw = np.ones_like(x) if w is None else w
    xm, ym = np.average(x, weights=sw), np.average(y, weights=sw)
    sxx = float(np.sum(sw * (x - xm) ** 2))
    slope = float(np.sum(sw * (x - xm) * (y - ym)) / sxx)
    intercept = float(ym - slope * xm)
    if n <= 2:
        return SlopeFit(slope, intercept, float("inf"), float("-inf"), float("inf"), n)
    resid = y - intercept - slope * x
    s2 = float(np.sum(sw * resid ** 2) / (n - 2))
    se = math.sqrt(s2 / sxx)
    t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 2))
    return SlopeFit(slope, intercept, se, slope - t * se, slope + t * se, n)
