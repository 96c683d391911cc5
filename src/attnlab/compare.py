"""Compare two run directories: claims whose verdicts or values changed, tables whose numbers differ.

``attnlab compare DIR_A DIR_B [--rtol R] [--atol A] [--ignore COLUMN]`` (and :func:`compare_runs` from
Python) reads two run, sweep or reproduce directories of the same kind and study, and reports

* claims (matched by id; ``point/id`` in a sweep, ``study/id`` in a reproduce dir) whose verdict changed
  (a *flip*: pass, fail, undecided and error are four verdicts), whose value changed beyond the tolerance
  (numbers, and flat dicts of numbers key by key), and claims found in one directory only;
* tables (matched by name, the ledger as ``ledger``; ``study/name`` in a reproduce dir) whose columns or row counts differ, and, for
  tables of the same shape, the cells that differ: numbers with ``|a - b| > atol + rtol |b|`` (NaN equals
  NaN; numpy's ``isclose``), other values by equality.  Timing columns (``wall_s``, ``cpu_s``, ... : they
  change on every run) and timing tables are left out, with ``--ignore`` for more columns.

Exit codes: 1 when a verdict flipped, 0 otherwise (values and tables that changed are printed, not
failed: a researcher's CI fails on a changed conclusion); 2 on bad input (a directory that is not a run,
two directories of different kinds or studies, a negative tolerance).
"""
from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any, Iterable

from .errors import UserError

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 0.0
TIMING_COLUMN = re.compile(r"(^|_)(wall|cpu|elapsed)(_time)?(_s|_seconds)?$|(^|_)wall_time_s$")
TIMING_TABLE = re.compile(r"timing")


@dataclasses.dataclass
class ClaimChange:
    """One claim present in both directories whose verdict or value changed."""

    key: str
    status_a: str | None
    status_b: str | None
    value_a: Any
    value_b: Any

    @property
    def flipped(self) -> bool:
        return self.status_a != self.status_b


@dataclasses.dataclass
class TableChange:
    """One table present in both directories whose shape or numbers differ.

    columns: {column: (cells that differ, max |a - b| or None for non-numbers)}."""

    name: str
    rows: tuple[int, int]
    added_columns: list[str]
    removed_columns: list[str]
    cells: int = 0
    compared: int = 0
    columns: dict[str, tuple[int, float | None]] = dataclasses.field(default_factory=dict)

    def text(self) -> str:
        parts = []
        if self.rows[0] != self.rows[1]:
            parts.append(f"rows {self.rows[0]} -> {self.rows[1]}")
        if self.added_columns:
            parts.append("columns added: " + ", ".join(self.added_columns))
        if self.removed_columns:
            parts.append("columns removed: " + ", ".join(self.removed_columns))
        if self.cells:
            cols = "; ".join(f"{c} ({n}" + (f", max |diff| {_num(d)})" if d is not None else ")")
                             for c, (n, d) in self.columns.items())
            parts.append(f"{self.cells} of {self.compared} cells differ: {cols}")
        return f"{self.name}: " + "; ".join(parts)


@dataclasses.dataclass
class Comparison:
    """The result of :func:`compare_runs`; ``text()`` is what ``attnlab compare`` prints, ``exit_code`` its
    status (1 when a verdict flipped)."""

    dir_a: Path
    dir_b: Path
    rtol: float
    atol: float
    claims_compared: int
    claims: list[ClaimChange]
    claims_only_a: list[str]
    claims_only_b: list[str]
    tables_compared: int
    tables: list[TableChange]
    tables_only_a: list[str]
    tables_only_b: list[str]
    ignored_columns: list[str]

    @property
    def flipped(self) -> list[ClaimChange]:
        """Claims whose verdict changed."""
        return [c for c in self.claims if c.flipped]

    @property
    def changed(self) -> bool:
        """Anything differs (a verdict, a value, a table, a claim or table in one directory only)."""
        return bool(self.claims or self.tables or self.claims_only_a or self.claims_only_b or self.tables_only_a
                    or self.tables_only_b)

    @property
    def exit_code(self) -> int:
        return 1 if self.flipped else 0

    def text(self) -> str:
        values = [c for c in self.claims if not c.flipped]
        lines = [f"compare {self.dir_a} -> {self.dir_b} (rtol {self.rtol:g}, atol {self.atol:g})",
                 f"claims: {self.claims_compared} in both, {len(self.flipped)} verdict(s) flipped, "
                 f"{len(values)} value(s) changed"]
        for c in self.flipped:
            lines.append(f"  FLIPPED  {c.key}: {c.status_a} -> {c.status_b} "
                         f"(value {_short(c.value_a)} -> {_short(c.value_b)})")
        for c in values:
            lines.append(f"  VALUE    {c.key}: {_short(c.value_a)} -> {_short(c.value_b)} ({c.status_b})")
        lines += [f"  ONLY A   {k}" for k in self.claims_only_a] + [f"  ONLY B   {k}" for k in self.claims_only_b]
        ignored = f" (ignored columns: {', '.join(self.ignored_columns)})" if self.ignored_columns else ""
        lines.append(f"tables: {self.tables_compared} in both, {len(self.tables)} differ{ignored}")
        lines += [f"  DIFFERS  {t.text()}" for t in self.tables]
        lines += [f"  ONLY A   {k}" for k in self.tables_only_a] + [f"  ONLY B   {k}" for k in self.tables_only_b]
        lines.append("verdict flipped" if self.flipped else
                     "no verdict flipped" + ("" if self.changed else "; no difference beyond the tolerance"))
        return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    return f"{x:.3g}"


def _short(v: Any) -> str:
    if isinstance(v, float):
        return _num(v)
    if isinstance(v, dict):
        text = "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    else:
        text = str(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def values_differ(a: Any, b: Any, rtol: float, atol: float) -> bool:
    """Whether two claim values differ beyond the tolerance (numbers, flat dicts and lists of numbers element
    by element; anything else by equality). NaN equals NaN."""
    if _is_number(a) and _is_number(b):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return not (math.isnan(a) and math.isnan(b))
        if math.isinf(a) or math.isinf(b):
            return a != b
        return abs(a - b) > atol + rtol * abs(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) != set(b) or any(values_differ(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) != len(b) or any(values_differ(x, y, rtol, atol) for x, y in zip(a, b))
    return a != b


def _table_sources(res) -> dict[str, Any]:
    """{table name: loader} of a run or sweep (its tables, and ``ledger`` when it has ledger.parquet) or a
    reproduce dir (``study/table`` of each run)."""
    if res.kind == "reproduce":
        out = {}
        for study, run in res.runs.items():
            out.update({f"{study}/{name}": loader for name, loader in _table_sources(run).items()})
        return out
    out = {name: (lambda n=name: res.tables[n]) for name in res.tables}
    if (res.dir / "ledger.parquet").is_file() and "ledger" not in out:
        out["ledger"] = lambda: res.ledger
    return out


def compare_tables(name: str, a, b, rtol: float, atol: float, ignore: Iterable[str] = ()) -> TableChange | None:
    """A :class:`TableChange` when the two DataFrames differ beyond the tolerance, else None."""
    import numpy as np
    import pandas as pd

    ignore = set(ignore)
    cols_a = [c for c in a.columns if c not in ignore]
    cols_b = [c for c in b.columns if c not in ignore]
    change = TableChange(name, (len(a), len(b)), [c for c in cols_b if c not in cols_a],
                         [c for c in cols_a if c not in cols_b])
    if len(a) == len(b):
        for col in [c for c in cols_a if c in cols_b]:
            x, y = a[col].reset_index(drop=True), b[col].reset_index(drop=True)
            change.compared += len(x)
            numeric = (pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y)
                       and not pd.api.types.is_bool_dtype(x) and not pd.api.types.is_bool_dtype(y))
            if numeric:
                xf, yf = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
                bad = ~np.isclose(xf, yf, rtol=rtol, atol=atol, equal_nan=True)
                with np.errstate(invalid="ignore"):   # inf - inf, nan - x: not a number of the report
                    diff = np.abs(xf - yf)[bad]
                worst = float(np.nanmax(diff)) if bad.any() and np.isfinite(diff).any() else None
            else:
                both_na = (x.isna() & y.isna()).to_numpy()
                bad = (x.astype(str).to_numpy() != y.astype(str).to_numpy()) & ~both_na
                worst = None
            n = int(bad.sum())
            if n:
                change.columns[col] = (n, worst)
                change.cells += n
    differs = change.rows[0] != change.rows[1] or change.added_columns or change.removed_columns or change.cells
    return change if differs else None


def compare_runs(dir_a: str | Path, dir_b: str | Path, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                 ignore: Iterable[str] = ()) -> Comparison:
    """Compare two run directories (see the module docstring). UserError on bad input."""
    from .api import claim_key, load

    for flag, v in (("--rtol", rtol), ("--atol", atol)):
        if not (_is_number(v) and v >= 0 and math.isfinite(v)):
            raise UserError(f"{flag} {v!r}: must be a finite number >= 0")
    a, b = load(dir_a), load(dir_b)
    if a.kind != b.kind:
        raise UserError(f"{a.dir} is a {a.kind} directory and {b.dir} a {b.kind} directory; compare two of a kind")
    if a.study != b.study:
        raise UserError(f"{a.dir} holds study {a.study} and {b.dir} study {b.study}; compare runs of one study")
    # claims
    ca = {claim_key(c): c for c in a.claims}
    cb = {claim_key(c): c for c in b.claims}
    changes = []
    for key in [k for k in ca if k in cb]:
        x, y = ca[key], cb[key]
        if x.get("status") != y.get("status") or values_differ(x.get("value"), y.get("value"), rtol, atol):
            changes.append(ClaimChange(key, x.get("status"), y.get("status"), x.get("value"), y.get("value")))
    # tables
    ta, tb = _table_sources(a), _table_sources(b)
    common = [k for k in ta if k in tb and not TIMING_TABLE.search(k)]
    tables, ignored = [], set()
    for name in common:
        ta_df, tb_df = ta[name](), tb[name]()
        timing = {c for c in (*ta_df.columns, *tb_df.columns) if TIMING_COLUMN.search(str(c))}
        ignored |= timing & (set(ta_df.columns) | set(tb_df.columns))
        skip = timing | set(ignore)
        change = compare_tables(name, ta_df, tb_df, rtol, atol, skip)
        if change is not None:
            tables.append(change)
    return Comparison(Path(dir_a), Path(dir_b), float(rtol), float(atol), sum(k in cb for k in ca), changes,
                      [k for k in ca if k not in cb], [k for k in cb if k not in ca], len(common), tables,
                      [k for k in ta if k not in tb], [k for k in tb if k not in ta],
                      sorted(map(str, ignored | set(ignore))))


__all__ = ["compare_runs", "compare_tables", "values_differ", "Comparison", "ClaimChange", "TableChange",
           "DEFAULT_RTOL", "DEFAULT_ATOL"]
