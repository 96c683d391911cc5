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

import csv
import dataclasses
import importlib
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .errors import UserError

REFERENCE_FILE = "reference.csv"
LEDGER_FILE = "ledger.parquet"
COLUMNS = ("id", "quantity", "paper_value", "paper_low", "paper_high", "units", "source", "source_tag",
           "applies_to", "table", "column", "where", "agg", "judge", "tolerance", "tolerance_reason", "note")
JUDGES = ("ratio", "range", "at_least", "at_most", "sign", "qualitative")
AGGS = ("mean", "min", "max", "median", "std", "first")
SOURCE_TAGS = ("paper", "secondary")
AGREES, SAME_ORDER, DISAGREES, NOT_MEASURED = "agrees", "same order", "disagrees", "not measured at this preset"
JUDGEMENTS = (AGREES, SAME_ORDER, DISAGREES, NOT_MEASURED)
SAME_ORDER_FACTOR = 10.0      # ratio judge: "same order" band
RANGE_FACTOR = 2.0            # range judge: "same order" = within this factor of the nearer end
LEDGER_COLUMNS = ["study", "id", "quantity", "paper", "paper_value", "paper_low", "paper_high", "units", "ours",
                  "ratio", "difference", "judge", "tolerance", "judgement", "reason", "source", "source_tag",
                  "applies_to", "table", "column", "where", "agg", "tolerance_reason", "note"]
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


def num(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits: 17.8, 8.35, 0.0189, 1.5e-05, 820 (integers as they are)."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(f):
        return "∞" if f == math.inf else "−∞" if f == -math.inf else "nan"
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) < 10 ** 6:
        return str(int(f))
    a = abs(f)
    if 1e-3 <= a < 10 ** digits:
        s = f"{f:.{digits}g}"
        return s if "e" not in s else str(round(f))
    if 10 ** digits <= a < 1e6:
        return f"{round(f):d}"
    m, e = f"{f:.{digits - 1}e}".split("e")
    m = m.rstrip("0").rstrip(".") if "." in m else m
    return f"{m}e{int(e)}"


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
        from .studies import get_study

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
    mask = np.ones(len(df), dtype=bool)
    for key, value in row.where:
        if key not in df.columns:
            return None, f"no column {key} (in where) in table {row.table}"
        mask &= _matches(df[key], value)
    sub = df.loc[mask, row.column]
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


def ledger_for(study, tables: Mapping[str, pd.DataFrame], claims: Iterable[Mapping] = ()) -> pd.DataFrame:
    """The ledger of one study's run (study: a Study or its CLI name)."""
    study = _get_study(study)
    return build_ledger(load_reference(study), tables, claims, study.name)


def write_run_ledger(study, tables: Mapping[str, pd.DataFrame], claims: Iterable[Mapping], run_dir: Path) \
        -> pd.DataFrame:
    """Build the ledger and write ``run_dir/ledger.parquet`` atomically (also when it has no rows)."""
    from .store import atomic_write_bytes, table_to_bytes

    df = ledger_for(study, tables, claims)
    atomic_write_bytes(Path(run_dir) / LEDGER_FILE, table_to_bytes(df))
    return df


def record(study, tables: Mapping[str, pd.DataFrame], claims: Iterable[Mapping], run_dir: Path) \
        -> pd.DataFrame | None:
    """What the runner calls after claims.json: write ``run_dir/ledger.parquet``.  A study whose
    reference.csv is invalid gets no ledger and one ``ledger: error ...`` line on stderr (the run's tables and
    claims stand; the reference data's own test fails loudly)."""
    import sys

    try:
        return write_run_ledger(study, tables, claims, run_dir)
    except Exception as e:  # noqa: BLE001 - a broken reference file must not lose a finished run
        print(f"ledger: error for {getattr(study, 'name', study)}: {e}", file=sys.stderr)
        return None


# ---- reading the ledger of a directory -----------------------------------------------------------------------
def read_run_tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    tdir = Path(run_dir) / "tables"
    out = {}
    for p in sorted(tdir.glob("*.parquet")) if tdir.is_dir() else []:
        try:
            out[p.stem] = pd.read_parquet(p)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{p}: unreadable table: {type(e).__name__}: {e}") from None
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: missing or corrupt: {e}") from None


def run_ledger(run_dir: Path, recompute: bool = False) -> pd.DataFrame:
    """A run dir's ledger: ``ledger.parquet`` when present (unless ``recompute``), else built from its tables,
    claims.json and the study's current reference.csv."""
    run_dir = Path(run_dir)
    path = run_dir / LEDGER_FILE
    if path.exists() and not recompute:
        try:
            return pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{path}: unreadable ledger: {type(e).__name__}: {e}") from None
    meta = _read_json(run_dir / "config.json")
    if not isinstance(meta, dict) or not isinstance(meta.get("study"), str):
        raise UserError(f"{run_dir / 'config.json'}: corrupt (expected an object with a 'study' name)")
    claims = _read_json(run_dir / "claims.json") if (run_dir / "claims.json").exists() else []
    if not isinstance(claims, list):
        raise UserError(f"{run_dir / 'claims.json'}: corrupt (expected a list)")
    return ledger_for(meta["study"], read_run_tables(run_dir), claims)


def run_dirs(path: Path) -> list[Path]:
    """The run dirs under ``path``: itself (config.json), the studies of a reproduce dir (reproduce.json), or
    every subfolder with a config.json (a reproduce-style folder such as results/paper)."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such directory")
    if (path / "config.json").exists():
        return [path]
    dirs: list[Path] = []
    if (path / "reproduce.json").exists():
        rep = _read_json(path / "reproduce.json")
        for e in rep.get("studies", []) if isinstance(rep, dict) else []:
            d = path / str(e.get("dir") or e.get("study", ""))
            if e.get("study") != "matrix" and (d / "config.json").exists():
                dirs.append(d)
    else:
        dirs = [d for d in sorted(path.iterdir()) if d.is_dir() and (d / "config.json").exists()
                and d.name != "matrix"]
    if not dirs:
        raise UserError(f"{path}: neither a run directory (config.json) nor a folder of run directories")
    return dirs


def dir_ledger(path: Path, recompute: bool = False) -> pd.DataFrame:
    """The ledgers of every run under ``path`` (see :func:`run_dirs`), stacked."""
    parts = [run_ledger(d, recompute) for d in run_dirs(path)]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=LEDGER_COLUMNS)


def rewrite_ledgers(path: Path) -> list[Path]:
    """Rebuild every run's ledger.parquet under ``path`` from its tables, claims.json and the study's current
    reference.csv (after the reference data changed); returns the files written."""
    from .store import atomic_write_bytes, table_to_bytes

    written = []
    for d in run_dirs(Path(path)):
        atomic_write_bytes(d / LEDGER_FILE, table_to_bytes(run_ledger(d, recompute=True)))
        written.append(d / LEDGER_FILE)
    return written


def counts(df: pd.DataFrame) -> dict[str, int]:
    """judgement -> number of rows, every judgement present (0 when none)."""
    got = df["judgement"].value_counts().to_dict() if len(df) else {}
    return {j: int(got.get(j, 0)) for j in JUDGEMENTS}


_VERB = {AGREES: "agree", DISAGREES: "disagree"}


def format_ledger(df: pd.DataFrame, width: int = 48) -> str:
    """An aligned text table: study, id, paper, ours, ratio, judgement, source (per study, a count line)."""
    if len(df) == 0:
        return "(no reference rows: the studies ship no reference.csv yet)"

    def cut(s: str, n: int) -> str:
        s = str(s)
        return s if len(s) <= n else s[: n - 1] + "…"

    lines = []
    for study, sub in df.groupby("study", sort=False):
        c = counts(sub)
        lines.append(f"{study}: {len(sub)} of the paper's numbers and statements: "
                     + ", ".join(f"{n} {_VERB.get(j, j) if n != 1 else j}" for j, n in c.items()))
        rows = [("id", "paper", "ours", "ours/paper", "judgement", "source")]
        notes = []
        for r in sub.itertuples(index=False):
            units = f" {r.units}" if r.units else ""
            if pd.isna(r.ours):
                ours = "—"
            elif r.judge == "qualitative":
                ours = "holds" if r.ours == 1 else "does not hold" if r.ours == 0 else num(r.ours)
            else:
                ours = num(r.ours) + units
            ratio = "" if pd.isna(r.ratio) or r.judge == "qualitative" else num(r.ratio)
            paper = r.paper + (units if r.paper not in ("holds", "—", "positive", "negative", "zero") else "")
            rows.append((cut(r.id, width), cut(paper, 30), cut(ours, 22), ratio, r.judgement,
                         cut(f"{r.source} [{r.source_tag}]", width)))
            if r.judgement == NOT_MEASURED:
                notes.append(f"  {r.id}: {r.reason}")
        w = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
        for k, x in enumerate(rows):
            lines.append("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(x)).rstrip())
            if k == 0:
                lines.append("  " + "  ".join("-" * n for n in w))
        if notes:
            lines.append("  not measured, why:")
            lines += ["  " + n for n in notes]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---- the paper's points for figures ------------------------------------------------------------------------
PAPER_STYLE = dict(marker="D", markerfacecolor="none", markeredgecolor="black", color="black", linestyle="none",
                   markersize=6, zorder=5)


def paper_points(study, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The paper's numbers of a study as points to draw beside ours: columns id, quantity, value, low, high,
    units, source, source_tag, and one column per ``where`` key (parsed as a number when it is one), e.g.
    ``h`` and ``T`` for head-count's Table 2.  ``ids``: only these rows, in this order (a missing id raises
    KeyError); rows without a paper value or range are left out."""
    rows = load_reference(study)
    if ids is not None:
        by = {r.id: r for r in rows}
        ids = list(ids)
        absent = [i for i in ids if i not in by]
        if absent:
            raise KeyError(f"no reference row(s) {', '.join(absent)} for this study")
        rows = [by[i] for i in ids]
    out = []
    for r in rows:
        if r.paper_value is None and r.paper_low is None and r.paper_high is None:
            continue
        rec: dict[str, Any] = {"id": r.id, "quantity": r.quantity, "value": r.paper_value, "low": r.paper_low,
                               "high": r.paper_high, "units": r.units, "source": r.source,
                               "source_tag": r.source_tag}
        for k, v in r.where:
            n = _as_number(v)
            rec.setdefault(k, n if n is not None else v)
        out.append(rec)
    df = pd.DataFrame(out)
    if len(df) == 0:
        df = pd.DataFrame(columns=["id", "quantity", "value", "low", "high", "units", "source", "source_tag"])
    return df


def plot_paper_points(ax, points: pd.DataFrame, x: str, y: str = "value", label: str | None = "paper",
                      errorbars: bool = True, **style):
    """Draw the paper's points on ``ax`` in one style (open black diamonds, labelled as the paper's):
    ``x`` the column of ``points`` on the horizontal axis; error bars from low/high when given."""
    pts = points.dropna(subset=[x, y]) if len(points) else points
    kw = {**PAPER_STYLE, **style}
    if len(pts) == 0:
        return None
    xs, ys = pts[x].to_numpy(dtype=float), pts[y].to_numpy(dtype=float)
    if errorbars and {"low", "high"} <= set(pts.columns) and pts[["low", "high"]].notna().any().any():
        lo = np.where(pts["low"].notna(), ys - pts["low"].to_numpy(dtype=float, na_value=np.nan), 0.0)
        hi = np.where(pts["high"].notna(), pts["high"].to_numpy(dtype=float, na_value=np.nan) - ys, 0.0)
        yerr = np.vstack([np.clip(np.nan_to_num(lo), 0, None), np.clip(np.nan_to_num(hi), 0, None)])
        return ax.errorbar(xs, ys, yerr=yerr, label=label, capsize=2, elinewidth=0.8, **kw)
    return ax.plot(xs, ys, label=label, **kw)


__all__ = ["COLUMNS", "JUDGES", "AGGS", "JUDGEMENTS", "AGREES", "SAME_ORDER", "DISAGREES", "NOT_MEASURED",
           "LEDGER_COLUMNS", "LEDGER_FILE", "ReferenceRow", "ReferenceDataError", "parse_reference",
           "read_reference", "load_reference", "study_package", "measure", "judge", "build_ledger", "ledger_for",
           "write_run_ledger", "record", "run_ledger", "rewrite_ledgers", "dir_ledger", "run_dirs", "counts", "format_ledger", "paper_points",
           "plot_paper_points", "num"]
