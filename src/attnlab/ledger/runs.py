"""The ledger of a run: built after claims.json and written to ``ledger.parquet``; read back (or rebuilt from
the tables) for a run dir, a reproduce dir or a folder of run dirs such as results/paper."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ..errors import UserError
from .judge import LEDGER_COLUMNS, build_ledger
from .reference import _get_study, load_reference

LEDGER_FILE = "ledger.parquet"


def ledger_for(study, tables: Mapping[str, pd.DataFrame], claims: Iterable[Mapping] = ()) -> pd.DataFrame:
    """The ledger of one study's run (study: a Study or its CLI name)."""
    study = _get_study(study)
    return build_ledger(load_reference(study), tables, claims, study.name)


def write_run_ledger(study, tables: Mapping[str, pd.DataFrame], claims: Iterable[Mapping], run_dir: Path) \
        -> pd.DataFrame:
    """Build the ledger and write ``run_dir/ledger.parquet`` atomically (also when it has no rows)."""
    from ..store import atomic_write_bytes, table_to_bytes

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
    """The final tables of a run directory (read through :mod:`attnlab.store`)."""
    from ..store import read_tables_dir

    return read_tables_dir(Path(run_dir) / "tables")


def _read_json(path: Path) -> Any:
    from ..store import read_json

    return read_json(path)


def run_ledger(run_dir: Path, recompute: bool = False) -> pd.DataFrame:
    """A run dir's ledger: ``ledger.parquet`` when present (unless ``recompute``), else built from its tables,
    claims.json and the study's current reference.csv."""
    run_dir = Path(run_dir)
    path = run_dir / LEDGER_FILE
    if path.exists() and not recompute:
        from ..store import read_table

        return read_table(path, "ledger")
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
    from ..store import atomic_write_bytes, table_to_bytes

    written = []
    for d in run_dirs(Path(path)):
        atomic_write_bytes(d / LEDGER_FILE, table_to_bytes(run_ledger(d, recompute=True)))
        written.append(d / LEDGER_FILE)
    return written



__all__ = ["LEDGER_FILE", "ledger_for", "write_run_ledger", "record", "read_run_tables", "run_ledger", "run_dirs",
           "dir_ledger", "rewrite_ledgers"]
