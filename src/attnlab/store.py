"""Run directories: config.json, claims.json, tables/*.parquet, figures/*.png, summary.md, tasks/.

Every file is written atomically (a temporary file in the same folder, flushed and fsynced, then
``os.replace``); a finished task is a folder ``tasks/<key>/`` that appears in one rename, holding
``task.json`` and one ``<table>.parquet`` per table.  A rerun with the same config and output folder skips
the finished tasks (resume); a folder holding a different config, or a corrupt one, is refused with a
:class:`UserError` before anything is written.  No pickle: JSON and Parquet only.

Healing: when a run (re)starts, every task folder is read back; one that does not (no ``task.json``, a
truncated Parquet file, ...) is moved aside to ``tasks/.corrupt-<key>-<n>`` (kept for inspection) and its
task is computed again.  Locking: a run holds an OS lock (``fcntl.flock``) on ``<dir>/.lock`` for its whole
life; a second run on the same directory is refused naming the holder's pid.
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
LOCK = ".lock"              # the run's lock file (holds the pid of the run holding it)
TMP_PREFIX = ".tmp-"        # a task folder being written (removed when a run starts)
CORRUPT_PREFIX = ".corrupt-"  # a task folder that did not read back, set aside (kept)
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


def read_json(path: Path, what: str | None = None) -> Any:
    """Read a JSON file of a run directory (the runner's and the report's one reader); a missing,
    unreadable or corrupt file raises UserError naming it (and ``what`` it holds, when given)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing ({what})" if what else f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: unreadable ({what}): {e}" if what else
                        f"{path}: unreadable or corrupt ({type(e).__name__}: {e})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: corrupt JSON ({what}): {e}" if what else
                        f"{path}: unreadable or corrupt ({type(e).__name__}: {e})") from None


# ---- the run directory -----------------------------------------------------------------------------------
def read_table(path: Path, what: str = "table") -> pd.DataFrame:
    """Read one Parquet table of a run directory (the one table reader of the lab: runner, report, API and
    ledger); an unreadable or corrupt file raises UserError naming it and ``what`` it holds."""
    try:
        return pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt file
        raise UserError(f"{path}: unreadable {what}: {type(e).__name__}: {e}") from None


def read_tables_dir(folder: Path) -> dict[str, pd.DataFrame]:
    """name -> DataFrame of every ``*.parquet`` in ``folder`` (empty when the folder is absent)."""
    folder = Path(folder)
    return {p.stem: read_table(p) for p in sorted(folder.glob("*.parquet"))} if folder.is_dir() else {}


class RunStore:
    """One run directory. ``check(meta)`` validates without writing; ``open(meta)`` creates or resumes."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.healed: list[tuple[str, str, Path]] = []   # set by open(): task folders set aside

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

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def write_log(self, key: str, text: str) -> Path:
        """logs/<key>.log: a failed task's traceback (replaced by the next failure of the same task)."""
        path = self.logs_dir / f"{key}.log"
        atomic_write_text(path, text)
        return path

    def existing_config(self) -> dict | None:
        """config.json of an existing run, None if the folder is absent or empty; UserError if corrupt or
        not an attnlab run directory."""
        if not self.root.exists():
            return None
        if not self.root.is_dir():
            raise UserError(f"--out {self.root}: exists and is not a directory")
        cfg = self.root / CONFIG
        if not cfg.exists():
            if any(p.name != LOCK for p in self.root.iterdir()):
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

    def lock(self) -> "RunLock":
        """Take the run's lock (creating the directory); UserError naming the holder's pid if another run
        holds it. Hold the returned lock for the run's life (``release()``, or use it as a context)."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise UserError(f"--out {self.root}: in use by another attnlab run (pid {holder}); wait for it to "
                            f"finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return RunLock(fd, path)

    def open(self, meta: Mapping[str, Any]) -> bool:
        """Create (or resume) the run directory and write config.json with status "running" (called once the
        run really starts: preflight passed and the lock is held). Task folders that do not read back are set
        aside first (:meth:`heal`)."""
        resumed = self.check(meta)
        self.tasks_dir.mkdir(parents=True, exist_ok=True)
        self._clean_stale_temp()
        self.healed = self.heal()
        record = dict(meta)
        if resumed:
            old = read_json(self.root / CONFIG)
            record["started"] = old.get("started", record.get("started"))
            record["resumed"] = int(old.get("resumed", 0)) + 1
        record["status"] = "running"
        atomic_write_json(self.root / CONFIG, record)
        return resumed

    def update_config(self, **changes) -> dict:
        record = read_json(self.root / CONFIG)
        record.update(changes)
        atomic_write_json(self.root / CONFIG, record)
        return record

    def _clean_stale_temp(self) -> None:
        """Remove half-written task folders left by a killed run (they never got their final name); folders
        set aside as corrupt are kept."""
        if self.tasks_dir.exists():
            for p in self.tasks_dir.iterdir():
                if p.name.startswith(".") and not p.name.startswith(CORRUPT_PREFIX) and p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)

    # tasks
    def task_problem(self, key: str) -> str | None:
        """Why tasks/<key> does not read back (None when it does): task.json and every table it lists are
        read in full."""
        import pyarrow.parquet as pq

        folder = self.tasks_dir / key
        if not folder.is_dir():
            return "not a folder"
        try:
            info = json.loads((folder / "task.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return "no task.json"
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            return f"task.json unreadable ({type(e).__name__})"
        if not isinstance(info, dict) or not isinstance(info.get("tables"), list):
            return "task.json lacks its table list"
        for name in info["tables"]:
            try:
                pq.read_table(folder / f"{name}.parquet")
            except Exception as e:  # noqa: BLE001 - any failure to read back means: recompute
                return f"{name}.parquet unreadable ({type(e).__name__})"
        return None

    def set_aside(self, key: str) -> Path:
        """Move tasks/<key> to tasks/.corrupt-<key>-<n> (the first free n), kept for inspection."""
        n = 1
        while (self.tasks_dir / f"{CORRUPT_PREFIX}{key}-{n}").exists():
            n += 1
        dest = self.tasks_dir / f"{CORRUPT_PREFIX}{key}-{n}"
        os.rename(self.tasks_dir / key, dest)
        return dest

    def heal(self) -> list[tuple[str, str, Path]]:
        """Set aside every task entry that does not read back; [(key, problem, where it went)]."""
        healed = []
        if not self.tasks_dir.exists():
            return healed
        for p in sorted(self.tasks_dir.iterdir()):
            if p.name.startswith("."):
                continue
            problem = self.task_problem(p.name)
            if problem:
                healed.append((p.name, problem, self.set_aside(p.name)))
        return healed

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
            if self.task_problem(key) is None:
                return  # already recorded (never recorded twice)
            self.set_aside(key)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{key}-", dir=self.tasks_dir))
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
        return read_tables_dir(self.tables_dir)


REPRODUCE = "reproduce.json"


def check_reproduce_dir(root: Path | str, preset: str) -> dict | None:
    """An ``attnlab reproduce`` output folder: None when absent or empty; the earlier ``reproduce.json``
    record when it is a reproduce folder of the same preset (a resume); UserError otherwise (a run
    directory, someone's own folder, a reproduce folder of another preset, a corrupt record)."""
    root = Path(root)
    if not root.exists():
        return None
    if not root.is_dir():
        raise UserError(f"--out {root}: exists and is not a directory")
    path = root / REPRODUCE
    if not path.exists():
        if any(p.name != LOCK for p in root.iterdir()):
            what = "a run directory" if (root / CONFIG).exists() else "not an attnlab reproduce directory"
            raise UserError(f"--out {root}: exists, is not empty and is {what} (no {REPRODUCE}); choose another "
                            f"--out")
        return None
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("preset"), str):
        raise UserError(f"{path}: corrupt (expected an object with a 'preset')")
    if record["preset"] != preset:
        raise UserError(f"--out {root}: holds a reproduce run of preset {record['preset']!r}, not {preset!r}; "
                        f"choose another --out")
    return record


def write_reproduce(root: Path | str, record: Mapping[str, Any]) -> Path:
    path = Path(root) / REPRODUCE
    atomic_write_json(path, dict(record))
    return path


class RunLock:
    """An OS lock on a run directory (``fcntl.flock`` on ``<dir>/.lock``), released by ``release()`` or when
    the process ends (the kernel drops it even on SIGKILL)."""

    def __init__(self, fd: int, path: Path):
        self.fd, self.path = fd, path

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
