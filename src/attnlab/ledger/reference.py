"""Reading and validating a study's ``reference.csv`` (format: ``docs/reference-data.md``): the paper's numbers
and statements, each with its source, the table/column/filter that measures it, and its judge."""
from __future__ import annotations

import csv
import dataclasses
import importlib
import io
import math
import re
from pathlib import Path

from ..errors import UserError
from .numbers import num

REFERENCE_FILE = "reference.csv"
LEDGER_FILE = "ledger.parquet"
COLUMNS = ("id", "quantity", "paper_value", "paper_low", "paper_high", "units", "source", "source_tag",
           "applies_to", "table", "column", "where", "agg", "judge", "tolerance", "tolerance_reason", "note")
JUDGES = ("ratio", "range", "at_least", "at_most", "sign", "qualitative")
AGGS = ("mean", "min", "max", "median", "std", "first")
SOURCE_TAGS = ("paper", "secondary")
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class ReferenceDataError(UserError):
    """A reference.csv that does not follow docs/reference-data.md; the message names the file and row."""


@dataclasses.dataclass(frozen=True)
class ReferenceRow:
    """One statement of the paper (docs/reference-data.md); ``line`` is its line in the CSV file."""

    id: str
    quantity: str
    paper_value: float | None
    paper_low: float | None
    paper_high: float | None
    units: str
    source: str
    source_tag: str
    applies_to: str
    table: str
    column: str
    where: tuple[tuple[str, str], ...]
    agg: str
    judge: str
    tolerance: float | None
    tolerance_reason: str
    note: str
    line: int = 0

    def paper_text(self) -> str:
        """The paper's value in words: "0.07 (0.01 to 0.13)", "at least 0.5", "holds"."""
        v, lo, hi = self.paper_value, self.paper_low, self.paper_high
        if self.judge == "qualitative":
            return "holds"
        if self.judge == "at_least":
            return f"≥ {num(lo if lo is not None else v)}"
        if self.judge == "at_most":
            return f"≤ {num(hi if hi is not None else v)}"
        if self.judge == "sign" and v is not None:
            return "positive" if v > 0 else "negative" if v < 0 else "zero"
        rng = f"{num(lo)} to {num(hi)}" if lo is not None and hi is not None and lo != hi else \
            (num(lo) if lo is not None and lo == hi and v is None else "")
        if v is not None:
            return f"{num(v)} ({rng})" if rng else num(v)
        return rng or "—"



# ---- reading reference.csv ---------------------------------------------------------------------------------
def _float(text: str, col: str, where: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        raise ReferenceDataError(f"{where}: column {col}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise ReferenceDataError(f"{where}: column {col}: {text!r} is not a finite number")
    return v


def parse_where(text: str, where: str = "") -> tuple[tuple[str, str], ...]:
    """``"h=1;T=16"`` -> (("h", "1"), ("T", "16")); empty -> ()."""
    out = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ReferenceDataError(f"{where}: column where: {part!r} is not key=value")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def _check_row(r: ReferenceRow, where: str) -> None:
    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ReferenceDataError(f"{where}: judge {r.judge}: {what}")

    if r.judge == "ratio":
        need(r.paper_value is not None and r.paper_value != 0, "needs a non-zero paper_value")
        need(r.tolerance is not None and r.tolerance > 1, "needs a tolerance factor > 1")
    elif r.judge == "range":
        need(r.paper_low is not None and r.paper_high is not None, "needs paper_low and paper_high")
        need(r.paper_low <= r.paper_high, "needs paper_low <= paper_high")  # type: ignore[operator]
    elif r.judge == "at_least":
        need(r.paper_low is not None or r.paper_value is not None, "needs paper_low or paper_value")
    elif r.judge == "at_most":
        need(r.paper_high is not None or r.paper_value is not None, "needs paper_high or paper_value")
    elif r.judge == "sign":
        need(r.paper_value is not None and r.paper_value != 0, "needs a non-zero paper_value")
    if r.tolerance is not None and not r.tolerance_reason:
        raise ReferenceDataError(f"{where}: a tolerance needs its tolerance_reason")
    if r.paper_low is not None and r.paper_high is not None and r.paper_low > r.paper_high:
        raise ReferenceDataError(f"{where}: paper_low {r.paper_low} > paper_high {r.paper_high}")


def parse_reference(text: str, origin: str = "reference.csv") -> list[ReferenceRow]:
    """Parse and validate the CSV text; :class:`ReferenceDataError` names the file, line and id of a bad row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ReferenceDataError(f"{origin}: empty file (expected the header {','.join(COLUMNS)})")
    absent = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if absent:
        raise ReferenceDataError(f"{origin}: header lacks column(s) {', '.join(absent)}")
    if unknown:
        raise ReferenceDataError(f"{origin}: unknown column(s) {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
    reader.fieldnames = header
    rows, seen = [], {}
    for raw in reader:
        line = reader.line_num
        if None in raw:
            raise ReferenceDataError(f"{origin}, line {line}: more fields than the header's {len(header)}")
        cells = {k: (v or "").strip() for k, v in raw.items()}
        if not any(cells.values()):
            continue
        rid = cells["id"]
        where = f"{origin}, line {line} (id {rid or '?'})"
        if not _ID.match(rid):
            raise ReferenceDataError(f"{where}: id must be a snake_case identifier ([A-Za-z][A-Za-z0-9_]*)")
        if rid in seen:
            raise ReferenceDataError(f"{where}: duplicate id (first on line {seen[rid]})")
        seen[rid] = line
        for col in ("quantity", "source", "table", "column", "judge"):
            if not cells[col]:
                raise ReferenceDataError(f"{where}: column {col} is empty")
        if cells["judge"] not in JUDGES:
            raise ReferenceDataError(f"{where}: judge {cells['judge']!r} unknown (known: {', '.join(JUDGES)})")
        agg = cells["agg"] or "mean"
        if agg not in AGGS:
            raise ReferenceDataError(f"{where}: agg {agg!r} unknown (known: {', '.join(AGGS)})")
        if cells["source_tag"] not in SOURCE_TAGS:
            raise ReferenceDataError(f"{where}: source_tag {cells['source_tag']!r} must be one of "
                                     f"{', '.join(SOURCE_TAGS)}")
        row = ReferenceRow(
            id=rid, quantity=cells["quantity"], paper_value=_float(cells["paper_value"], "paper_value", where),
            paper_low=_float(cells["paper_low"], "paper_low", where),
            paper_high=_float(cells["paper_high"], "paper_high", where), units=cells["units"],
            source=cells["source"], source_tag=cells["source_tag"], applies_to=cells["applies_to"],
            table=cells["table"], column=cells["column"], where=parse_where(cells["where"], where), agg=agg,
            judge=cells["judge"], tolerance=_float(cells["tolerance"], "tolerance", where),
            tolerance_reason=cells["tolerance_reason"], note=cells["note"], line=line)
        _check_row(row, where)
        rows.append(row)
    return rows


def read_reference(path: str | Path) -> list[ReferenceRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ReferenceDataError(f"{path}: unreadable: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ReferenceDataError(f"{path}: not UTF-8: {e}") from None
    return parse_reference(text, str(path))


def study_package(study) -> str:
    """The package holding a study's reference data: ``Study.package``, else the study class's package."""
    pkg = getattr(study, "package", "") or ""
    if pkg:
        return pkg
    module = importlib.import_module(type(study).__module__)
    return module.__name__ if hasattr(module, "__path__") else (module.__package__ or module.__name__)


def _get_study(study):
    if isinstance(study, str):
        from ..studies import get_study

        return get_study(study)
    return study


def reference_text(study) -> tuple[str, str] | None:
    """(text, origin) of the study's reference.csv, or None when the study ships none."""
    from importlib import resources

    study = _get_study(study)
    pkg = study_package(study)
    try:
        res = resources.files(pkg) / REFERENCE_FILE
        if not res.is_file():
            return None
        return res.read_text(encoding="utf-8"), f"{pkg.replace('.', '/')}/{REFERENCE_FILE}"
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        return None


def load_reference(study) -> list[ReferenceRow]:
    """The study's reference rows (study: a Study or its CLI name); [] when it ships no reference.csv."""
    found = reference_text(study)
    return parse_reference(*found) if found else []



__all__ = ["REFERENCE_FILE", "COLUMNS", "JUDGES", "AGGS", "SOURCE_TAGS", "ReferenceDataError", "ReferenceRow",
           "parse_where", "parse_reference", "read_reference", "study_package", "reference_text", "load_reference"]
