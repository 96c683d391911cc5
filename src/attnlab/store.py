"""Run directories: config.json, claims.json, tables/*.parquet, figures/*.png, summary.md, tasks/.

Every file is written atomically (a temporary file in the same folder, flushed and fsynced, then
``os.replace``); a finished task is a folder ``tasks/<key>/`` that appears in one rename, holding
``task.json`` and one ``<table>.parquet`` per table.  A rerun with the same config and output folder skips
the finished tasks (resume); a folder holding a different config, or a corrupt one, is refused with a
:class:`UserError` before anything is written.  No pickle: JSON and Parquet only.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .errors import UserError

CONFIG = "config.json"
_UMASK = os.umask(0)
os.umask(_UMASK)


# ---- atomic primitives -----------------------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are for sharing
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")


def table_to_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def table_from_bytes(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(data))


def read_json(path: Path) -> Any:
    """Read a JSON file; a missing, unreadable or corrupt file raises UserError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable or corrupt ({type(e).__name__}: {e})") from None


# ---- the run directory -----------------------------------------------------------------------------------
class RunStore:
    """One run directory. ``check(meta)`` validates without writing; ``open(meta)`` creates or resumes."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    # paths
    @property
    def tasks_dir(self) -> Path:
        return self.root / "tasks"

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures"

    def existing_config(self) -> dict | None:
        """config.json of an existing run, None if the folder is absent or empty; UserError if corrupt or
        not an attnlab run directory."""
        if not self.root.exists():
            return None
        if not self.root.is_dir():
            raise UserError(f"--out {self.root}: exists and is not a directory")
        cfg = self.root / CONFIG
        if not cfg.exists():
            if any(self.root.iterdir()):
                raise UserError(f"--out {self.root}: exists, is not empty and is not an attnlab run directory "
                                f"(no {CONFIG})")
            return None
        meta = read_json(cfg)
        if not isinstance(meta, dict) or "config_hash" not in meta or "study" not in meta:
            raise UserError(f"{cfg}: corrupt run directory (config.json lacks study/config_hash)")
        return meta

    def check(self, meta: Mapping[str, Any]) -> bool:
        """True if this is a resume of the same run, False for a new run; UserError on a mismatch."""
        old = self.existing_config()
        if old is None:
            return False
        if old["study"] != meta["study"] or old["config_hash"] != meta["config_hash"]:
            raise UserError(
                f"--out {self.root}: holds a run of {old['study']} with another config "
                f"(hash {old['config_hash']}, this one {meta['config_hash']}); choose another --out")
        return True

    def open(self, meta: Mapping[str, Any]) -> bool:
        """Create (or resume) the run directory and write config.json with status "running"."""
        resumed = self.check(meta)
        self.tasks_dir.mkdir(parents=True, exist_ok=True)
        record = dict(meta)
        if resumed:
            old = read_json(self.root / CONFIG)
            record["started"] = old.get("started", record.get("started"))
            record["resumed"] = int(old.get("resumed", 0)) + 1
        record["status"] = "running"
        atomic_write_json(self.root / CONFIG, record)
        self._clean_stale_temp()
        return resumed

    def update_config(self, **changes) -> dict:
        record = read_json(self.root / CONFIG)
        record.update(changes)
        atomic_write_json(self.root / CONFIG, record)
        return record

    def _clean_stale_temp(self) -> None:
        """Remove half-written task folders left by a killed run (they never got their final name)."""
        if self.tasks_dir.exists():
            for p in self.tasks_dir.iterdir():
                if p.name.startswith(".") and p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)

    # tasks
    def task_done(self, key: str) -> bool:
        return (self.tasks_dir / key / "task.json").exists()

    def done_keys(self) -> set[str]:
        if not self.tasks_dir.exists():
            return set()
        return {p.name for p in self.tasks_dir.iterdir() if not p.name.startswith(".") and (p / "task.json").exists()}

    def save_task(self, key: str, info: Mapping[str, Any], tables: Mapping[str, bytes | pd.DataFrame]) -> None:
        """Write a finished task atomically: a hidden temp folder renamed to tasks/<key>/."""
        final = self.tasks_dir / key
        if final.exists():
            return  # already recorded (never recorded twice)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.tasks_dir))
        try:
            os.chmod(tmp, 0o777 & ~_UMASK)
            for name, t in tables.items():
                data = t if isinstance(t, (bytes, bytearray)) else table_to_bytes(t)
                (tmp / f"{name}.parquet").write_bytes(data)
            (tmp / "task.json").write_text(json.dumps(dict(info, key=key, tables=sorted(tables)),
                                                      default=_json_default))
            for p in tmp.iterdir():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def load_tasks(self, keys: list[str]) -> dict[str, pd.DataFrame]:
        """Concatenate each table over the given tasks (in the given order)."""
        parts: dict[str, list[pd.DataFrame]] = {}
        for key in keys:
            folder = self.tasks_dir / key
            info = read_json(folder / "task.json")
            for name in info.get("tables", []):
                try:
                    parts.setdefault(name, []).append(pd.read_parquet(folder / f"{name}.parquet"))
                except Exception as e:  # noqa: BLE001
                    raise UserError(f"{folder / (name + '.parquet')}: unreadable or corrupt ({e})") from None
        return {name: pd.concat([p for p in dfs if len(p)] or dfs[:1], ignore_index=True)
                for name, dfs in parts.items()}

    # outputs
    def write_table(self, name: str, df: pd.DataFrame) -> Path:
        path = self.tables_dir / f"{name}.parquet"
        atomic_write_bytes(path, table_to_bytes(df))
        return path

    def write_json(self, name: str, obj: Any) -> Path:
        path = self.root / name
        atomic_write_json(path, obj)
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.root / name
        atomic_write_text(path, text)
        return path

    def read_tables(self) -> dict[str, pd.DataFrame]:
        if not self.tables_dir.exists():
            raise UserError(f"{self.root}: no tables/ (the run has not finished)")
        out = {}
        for p in sorted(self.tables_dir.glob("*.parquet")):
            try:
                out[p.stem] = pd.read_parquet(p)
            except Exception as e:  # noqa: BLE001
                raise UserError(f"{p}: unreadable or corrupt ({e})") from None
        return out


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
