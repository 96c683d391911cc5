"""Reading run directories and reproduce directories for the report (no rendering here).

A run dir (docs/extending.md) has ``config.json``, and when finished ``claims.json``, ``tables/*.parquet``,
``figures/*.png`` + ``figures/figures.json``.  A reproduce dir has ``reproduce.json``
(``{"preset", "studies": [{"study", "dir", "status", "wall_time_s", "exit_code"}], ...}``), one run dir per
study and optionally ``matrix/`` (the run dir of ``attnlab run matrix``).

Strictness: the directory handed to the report must be readable (else :class:`UserError`).  Inside a
reproduce dir, a study whose run dir is missing or corrupt becomes a :class:`Run` with ``problem`` set, so
the page still shows every other study and says what went wrong with this one.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UserError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VERDICTS = ("pass", "fail", "undecided", "error")


@dataclasses.dataclass
class FigureData:
    file: str
    caption: str
    png: bytes | None        # None when the file is missing or not a PNG
    problem: str = ""


@dataclasses.dataclass
class Run:
    """One study's run, as the report needs it."""

    name: str                                    # study CLI name
    dir: Path
    meta: dict = dataclasses.field(default_factory=dict)       # config.json
    claims: list[dict] = dataclasses.field(default_factory=list)
    figures: list[FigureData] = dataclasses.field(default_factory=list)
    tables: dict[str, str] = dataclasses.field(default_factory=dict)   # name -> "rows x cols: columns"
    matrix: pd.DataFrame | None = None            # tables/matrix.parquet of a matrix run
    problem: str = ""                             # why this run could not be read (reproduce dirs only)
    entry: dict = dataclasses.field(default_factory=dict)      # the reproduce.json entry, if any
    ledger: pd.DataFrame | None = None            # the paper's numbers beside ours (attnlab.ledger)
    ledger_problem: str = ""                      # why there is no ledger (no reference data, unreadable, ...)


@dataclasses.dataclass
class Report:
    source: Path
    kind: str                    # "run" | "reproduce"
    runs: list[Run]              # every run shown, the matrix run (if any) last
    matrix: Run | None = None
    reproduce: dict = dataclasses.field(default_factory=dict)


def verdict_of(claim: dict) -> str:
    """pass | fail | undecided | error, from ``status`` when valid, else from ``passed``."""
    status = claim.get("status")
    if status in VERDICTS:
        return status
    passed = claim.get("passed")
    return "pass" if passed is True else "fail" if passed is False else "undecided"


def _read_json(path: Path, what: str) -> Any:
    from ..store import read_json  # the run directory is read through attnlab.store

    return read_json(path, what)


def _figures(fdir: Path) -> list[FigureData]:
    """Figures listed in figures.json (or every PNG when there is none); only files inside ``fdir``."""
    listing = fdir / "figures.json"
    if listing.exists():
        entries = _read_json(listing, "figure list")
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "file" in e for e in entries):
            raise UserError(f"{listing}: corrupt (expected a list of {{'file', 'caption'}})")
    elif fdir.is_dir():
        entries = [{"file": p.name, "caption": ""} for p in sorted(fdir.glob("*.png"))]
    else:
        entries = []
    out = []
    root = fdir.resolve()
    for e in entries:
        file, caption = str(e["file"]), str(e.get("caption") or "")
        path = (fdir / file).resolve()
        if root not in path.parents:
            out.append(FigureData(file, caption, None, "outside the figures folder: not embedded"))
            continue
        try:
            data = path.read_bytes()
        except OSError as err:
            out.append(FigureData(file, caption, None, f"missing or unreadable: {err.strerror or err}"))
            continue
        if not data.startswith(PNG_MAGIC):
            out.append(FigureData(file, caption, None, "not a PNG file"))
            continue
        out.append(FigureData(file, caption, data))
    return out


def _tables(tdir: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    out = {}
    for p in sorted(tdir.glob("*.parquet")) if tdir.is_dir() else []:
        try:
            md = pq.read_schema(p)
            rows = pq.read_metadata(p).num_rows
            out[p.stem] = f"{rows} rows: {', '.join(md.names)}"
        except Exception as e:  # noqa: BLE001 - a corrupt table is shown as such
            out[p.stem] = f"unreadable: {type(e).__name__}"
    return out


def load_run(path: Path) -> Run:
    """Read one run dir; UserError when config.json or claims.json is missing/corrupt."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: not a directory")
    meta = _read_json(path / "config.json", "run config")
    if not isinstance(meta, dict) or not isinstance(meta.get("study"), str):
        raise UserError(f"{path / 'config.json'}: corrupt (expected an object with a 'study' name)")
    claims: list[dict] = []
    if (path / "claims.json").exists():
        claims = _read_json(path / "claims.json", "claim verdicts")
        if not isinstance(claims, list) or not all(isinstance(c, dict) and "id" in c for c in claims):
            raise UserError(f"{path / 'claims.json'}: corrupt (expected a list of claims with an 'id')")
    run = Run(name=meta["study"], dir=path, meta=meta, claims=claims, figures=_figures(path / "figures"),
              tables=_tables(path / "tables"))
    if meta["study"] != "matrix":
        run.ledger, run.ledger_problem = _ledger(path)
    mpath = path / "tables" / "matrix.parquet"
    if meta["study"] == "matrix" and mpath.exists():
        from ..store import read_table

        run.matrix = read_table(mpath)
    return run


def _ledger(path: Path) -> tuple[pd.DataFrame | None, str]:
    """The run's ledger: ledger.parquet, else rebuilt from its tables and the study's reference.csv (runs
    made before the ledger existed); (None, why) when there is none."""
    from ..ledger import LEDGER_COLUMNS, LEDGER_FILE, run_ledger

    if not (path / LEDGER_FILE).exists() and not (path / "claims.json").exists():
        return None, "The run did not finish (no claims.json), so it has no ledger."
    try:
        df = run_ledger(path)
        absent = [c for c in LEDGER_COLUMNS if c not in df.columns]
        if absent:   # a ledger.parquet of another version: rebuild it from the tables
            df = run_ledger(path, recompute=True)
    except Exception as e:  # noqa: BLE001 - a broken ledger is shown as such; the rest of the page stands
        return None, f"No ledger: {e}"
    if len(df) == 0:
        return None, "This study ships no reference data (reference.csv), so nothing is compared with the paper."
    return df, ""


def _run_subdirs(path: Path) -> list[str]:
    """Names of the run dirs directly under ``path`` (reproduce-style folders without reproduce.json, such as
    results/paper), the registered studies' order first."""
    names = [d.name for d in sorted(path.iterdir()) if d.is_dir() and (d / "config.json").exists()]
    try:
        from ..studies import STUDY_MODULES

        order = list(STUDY_MODULES)
    except Exception:  # noqa: BLE001
        order = []
    rank = {n: i for i, n in enumerate(order + ["matrix"])}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _study_dir(root: Path, entry: dict) -> Path:
    d = entry.get("dir")
    if isinstance(d, str) and d:
        p = Path(d)
        for cand in ([p] if p.is_absolute() else [root / p, root / p.name]):
            if cand.is_dir():
                return cand
    return root / str(entry.get("study", ""))


def load(path: Path) -> Report:
    """A run dir or a reproduce dir -> Report; UserError when neither can be read."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such directory")
    if not path.is_dir():
        raise UserError(f"{path}: not a directory")
    subdirs = [] if (path / "reproduce.json").exists() or (path / "config.json").exists() else _run_subdirs(path)
    if (path / "reproduce.json").exists() or subdirs:
        if subdirs:   # a folder of run dirs without reproduce.json (results/paper): one entry per run dir
            metas = {n: _peek_meta(path / n) for n in subdirs}
            presets = sorted({str(m.get("preset", "?")) for m in metas.values()})
            rep = {"preset": presets[0] if len(presets) == 1 else "mixed (" + ", ".join(presets) + ")",
                   "studies": [{"study": str(metas[n].get("study") or n), "dir": n,
                                "status": metas[n].get("status", "?")} for n in subdirs],
                   "synthesized": True}
        else:
            rep = _read_json(path / "reproduce.json", "reproduce summary")
        if not isinstance(rep, dict) or not isinstance(rep.get("studies"), list) or \
                not all(isinstance(e, dict) and isinstance(e.get("study"), str) for e in rep["studies"]):
            raise UserError(f"{path / 'reproduce.json'}: corrupt (expected {{'studies': [{{'study', 'dir', ...}}]}})")
        runs, matrix = [], None
        for entry in rep["studies"]:
            d = _study_dir(path, entry)
            try:
                run = load_run(d)
            except UserError as e:
                run = Run(name=entry["study"], dir=d, problem=str(e))
            run.entry = entry
            if entry["study"] == "matrix":   # `attnlab reproduce --matrix` lists the matrix run last
                matrix = run
            else:
                runs.append(run)
        if matrix is None and (path / "matrix").is_dir():
            try:
                matrix = load_run(path / "matrix")
            except UserError as e:
                matrix = Run(name="matrix", dir=path / "matrix", problem=str(e))
        return Report(path, "reproduce", runs + ([matrix] if matrix else []), matrix, rep)
    if (path / "config.json").exists():
        run = load_run(path)
        return Report(path, "run", [run], run if run.name == "matrix" else None)
    raise UserError(f"{path}: neither a run directory (config.json) nor a reproduce directory (reproduce.json, "
                    "or sub-folders holding run directories)")


def _peek_meta(path: Path) -> dict:
    try:
        meta = json.loads((path / "config.json").read_text(encoding="utf-8"))
        return meta if isinstance(meta, dict) else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
