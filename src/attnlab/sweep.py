"""Executors and sweeps: run many independent tasks on a process pool or a Dask cluster.

``execute(jobs, executor, ...)`` runs ``run_job(payload)`` for each payload and calls ``on_result`` in the
driver as results arrive (so finished work is stored at once and an interrupted run resumes).  A job that
raises is reported with its key, config and error and does not stop the others.

Executors:
* ``serial`` - in this process (tests, debugging).
* ``local``  - a process pool (spawn), ``workers`` processes (default: the cores), one torch thread each.
* ``dask``   - a Dask cluster: ``address`` joins an existing scheduler (e.g. dask-jobqueue on SLURM/PBS),
  otherwise a LocalCluster of ``workers`` single-threaded worker processes is started and closed.

Sweeps: ``grid_points({"h": [1, 2], "T": [16, 64]})`` -> the cartesian product of overrides; each point is
a full config of the study, whose own tasks (typically one per seed) all run through one executor.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Mapping

from .errors import UserError

EXECUTORS = ("local", "dask", "serial")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def grid_points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of a grid of overrides, in the order given."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def dedupe_grid(grid: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """The grid with repeated values of a key removed (first occurrence kept), with a warning on stderr:
    ``--grid h=3,3`` would run the same point twice and double its rows."""
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        kept: list[Any] = []
        for v in values:
            if v in kept:
                print(f"warning: --grid {key}: duplicate value {v!r} removed", file=sys.stderr)
            else:
                kept.append(v)
        out[key] = kept
    return out


def point_key(point: Mapping[str, Any]) -> str:
    """A filename-safe name for a grid point, e.g. ``h=2_T=64``."""
    parts = []
    for k, v in point.items():
        text = ",".join(map(str, v)) if isinstance(v, tuple) else str(v)
        parts.append(f"{k}={text}")
    safe = "_".join(parts)
    return "".join(c if (c.isalnum() or c in "=._,-") else "-" for c in safe) or "point"


# ---- the worker side ---------------------------------------------------------------------------------------
def _worker_init(threads: int = 1, parent: int | None = None) -> None:
    """One torch thread; and, given the driver's pid, die with it: a daemon thread polls ``os.getppid()``
    and ends this worker when the driver is gone (even after a SIGKILL, which runs no cleanup)."""
    import torch

    torch.set_num_threads(threads)
    if parent is not None:
        import threading

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(PARENT_POLL_S)
            os._exit(1)

        threading.Thread(target=watch, name="attnlab-parent-watch", daemon=True).start()


PARENT_POLL_S = 0.25


def run_job(payload: Mapping[str, Any]) -> dict:
    """Run one study task from a JSON-able payload; returns {"ok", "tables" (parquet bytes), "wall_s"} or
    {"ok": False, "error"}. Runs in worker processes: it rebuilds study and config from their names."""
    start = time.perf_counter()
    try:
        if payload.get("extra_studies"):
            os.environ["ATTNLAB_STUDIES"] = payload["extra_studies"]
        for p in payload.get("sys_path", []):
            if p not in sys.path:
                sys.path.append(p)
        if payload.get("threads"):
            _worker_init(int(payload["threads"]))
        from .runner import load_study
        from .store import table_to_bytes
        from .study import Task

        study = load_study(payload["study"])
        config = study.config_cls.from_dict(payload["config"])  # the one serialized form, not re-parsed
        tables = study.run_task(config, Task.from_dict(payload["task"]))
        return {"ok": True, "tables": {k: table_to_bytes(v) for k, v in tables.items()},
                "wall_s": time.perf_counter() - start}
    except (KeyboardInterrupt, SystemExit):
        raise  # an interrupt stops the run (serial executor: it arrives here), it is not a failed task
    except BaseException as e:  # noqa: BLE001 - reported by the driver, others go on
        return failure(e, time.perf_counter() - start)


def failure(e: BaseException, wall_s: float = 0.0) -> dict:
    """A failed job's result: the error in one line, its kind, whether rerunning can change it
    (``deterministic``: a DivergenceError or bad input fails the same way again), and the traceback."""
    from .errors import DivergenceError, UserError

    return {"ok": False, "error": f"{type(e).__name__}: {e}", "error_type": type(e).__name__,
            "deterministic": isinstance(e, (DivergenceError, UserError)), "traceback": traceback.format_exc(),
            "wall_s": wall_s}


# ---- the driver side ---------------------------------------------------------------------------------------
def execute(jobs: list[tuple[str, dict]], on_result: Callable[[str, dict], None], executor: str = "local",
            workers: int | None = None, address: str | None = None, progress: bool = True,
            initial_done: int = 0, total: int | None = None, desc: str = "tasks",
            fn: Callable[[Mapping[str, Any]], dict] = run_job,
            on_failure: Callable[[str, dict], None] | None = None) -> list[tuple[str, dict]]:
    """Run every (key, payload) job; returns the failures [(key, result)] (``on_failure`` is called for
    each as it arrives, e.g. to print one line)."""
    if executor not in EXECUTORS:
        raise UserError(f"--executor {executor!r}: must be one of {', '.join(EXECUTORS)}")
    workers = workers or default_workers()
    if workers < 1:
        raise UserError(f"--workers {workers}: must be >= 1")
    failures: list[tuple[str, dict]] = []
    bar = _progress(total if total is not None else len(jobs) + initial_done, initial_done, desc, progress)

    def handle(key: str, result: dict) -> None:
        if not result.get("ok"):
            failures.append((key, result))
            if on_failure is not None:
                on_failure(key, result)
        else:
            on_result(key, result)
        bar.update(1)

    try:
        if not jobs:
            return failures
        if executor == "serial":
            _run_serial(jobs, handle, fn)
        elif executor == "local":
            _run_pool(jobs, handle, workers, fn)
        else:
            _run_dask(jobs, handle, workers, address, fn)
    finally:
        bar.close()
    return failures


def _run_serial(jobs, handle, fn) -> None:
    """In this process, with one torch thread like a pool worker (so the numbers are the same bit for bit)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for key, payload in jobs:
            handle(key, fn(payload))
    finally:
        torch.set_num_threads(threads)


def _run_pool(jobs, handle, workers: int, fn) -> None:
    """A spawn process pool; on any exception here (Ctrl-C, SIGTERM turned into KeyboardInterrupt by the
    CLI) its workers are killed at once instead of finishing their tasks; workers also watch the driver."""
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx,
                               initializer=_worker_init, initargs=(1, os.getpid()))
    try:
        _drain_pool(pool, jobs, handle, fn)
    except BaseException:
        _kill_pool(pool)
        raise
    pool.shutdown(wait=True)


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.join(timeout=5)


def _drain_pool(pool, jobs, handle, fn) -> None:
    pending = {pool.submit(fn, payload): key for key, payload in jobs}
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            key = pending.pop(fut)
            try:
                result = fut.result()
            except BaseException as e:  # noqa: BLE001 - a worker process died
                result = dict(failure(e), error=f"worker died: {type(e).__name__}: {e}")
            handle(key, result)


def _run_dask(jobs, handle, workers: int, address: str | None, fn) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as e:  # pragma: no cover
        raise UserError(f"--executor dask needs dask[distributed]: {e}") from None
    cluster = None
    try:
        if address:
            try:
                client = Client(address, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise UserError(f"--address {address}: cannot reach a Dask scheduler ({e})") from None
        else:
            cluster = LocalCluster(n_workers=max(1, min(workers, len(jobs))), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40)
            client = Client(cluster)
        with client:
            futures = {}
            for key, payload in jobs:
                futures[client.submit(fn, dict(payload, threads=1), pure=False, key=f"attnlab-{key}-{os.getpid()}")] = key
            for fut in as_completed(list(futures)):
                key = futures[fut]
                try:
                    result = fut.result()
                except BaseException as e:  # noqa: BLE001
                    result = dict(failure(e), error=f"dask: {type(e).__name__}: {e}")
                handle(key, result)
                fut.release()
    finally:
        if cluster is not None:
            cluster.close()


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress(total: int, initial: int, desc: str, enabled: bool):
    """tqdm bar on stderr: tasks done / total, rate and ETA."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="task", file=sys.stderr, dynamic_ncols=True,
                bar_format="{desc}: {n_fmt}/{total_fmt} tasks |{bar}| {rate_fmt} ETA {remaining}")


def parse_grid(items: Iterable[str], config_cls) -> dict[str, list[Any]]:
    """``["h=1,2,3", "Ts=16,32;64,128"]`` -> {"h": [1, 2, 3], "Ts": [(16, 32), (64, 128)]}.

    Values of scalar fields are comma-separated; values of tuple fields are separated by ``;``."""
    import typing

    from .config import field_types, parse_value

    types_ = field_types(config_cls)
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--grid {item!r}: expected key=v1,v2,...")
        key, _, text = item.partition("=")
        key = key.strip()
        if key not in types_:
            from .errors import ConfigError

            raise ConfigError(key, f"unknown config key for this study (known: {', '.join(sorted(types_))})")
        is_tuple = typing.get_origin(types_[key]) is tuple
        raw = text.split(";") if is_tuple else text.split(",")
        if not text.strip() or any(not r.strip() for r in raw):
            raise UserError(f"--grid {item!r}: empty value")
        grid[key] = [parse_value(r, types_[key], key) for r in raw]
    if not grid:
        raise UserError("sweep needs at least one --grid key=v1,v2,...")
    return grid


# ---- paired sweeps (--zip) ---------------------------------------------------------------------------------
def parse_values(items: Iterable[str], config_cls, flag: str) -> dict[str, list[Any]]:
    """``--grid``/``--zip`` items ``key=v1,v2,...`` -> {key: [typed values]} (``;`` separates the values of tuple
    fields); an item's key given twice, an unknown key or an empty value is bad input naming ``flag``."""
    import typing

    from .config import field_types, parse_value
    from .errors import ConfigError

    types_ = field_types(config_cls)
    out: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"{flag} {item!r}: expected key=v1,v2,...")
        key, _, text = item.partition("=")
        key = key.strip()
        if key not in types_:
            raise ConfigError(key, f"unknown config key for this study (known: {', '.join(sorted(types_))})")
        if key in out:
            raise UserError(f"{flag} {key}: given twice (give all its values in one {flag} {key}=v1,v2,...)")
        is_tuple = typing.get_origin(types_[key]) is tuple
        raw = text.split(";") if is_tuple else text.split(",")
        if not text.strip() or any(not r.strip() for r in raw):
            raise UserError(f"{flag} {item!r}: empty value")
        out[key] = [parse_value(r, types_[key], key) for r in raw]
    return out


def coerce_sweep_values(values: Mapping[str, Any], config_cls, flag: str) -> dict[str, list[Any]]:
    """A Python ``grid=``/``zip=`` mapping -> {key: [typed values]}: a string is parsed as on the command line
    (``"1,2,3"``), a list/tuple is one value per entry (each coerced to the field's type)."""
    from .config import coerce_overrides
    from .errors import ConfigError

    if not isinstance(values, Mapping):
        raise UserError(f"{flag}: expected a mapping {{key: [v1, v2, ...]}}, got {type(values).__name__}")
    out: dict[str, list[Any]] = {}
    for key, vs in values.items():
        if isinstance(vs, str):
            out.update(parse_values([f"{key}={vs}"], config_cls, flag))
            continue
        if not isinstance(vs, (list, tuple)) or not vs:
            raise ConfigError(key, f"{flag}: expected a non-empty list of values, got {vs!r}")
        out[key] = [coerce_overrides(config_cls, {key: v})[key] for v in vs]
    return out


def zip_points(zipped: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Paired values: {"D": [3, 4], "h": [3, 4]} -> [{"D": 3, "h": 3}, {"D": 4, "h": 4}]. Every key needs the
    same number of values (UserError naming them otherwise)."""
    if not zipped:
        return [{}]
    lengths = {k: len(v) for k, v in zipped.items()}
    if len(set(lengths.values())) != 1:
        raise UserError("--zip: unequal numbers of values (" + ", ".join(f"{k} has {n}" for k, n in lengths.items())
                        + "); paired values need the same count")
    n = next(iter(lengths.values()))
    return [{k: zipped[k][i] for k in zipped} for i in range(n)]


def sweep_points(grid: Mapping[str, list[Any]], zipped: Mapping[str, list[Any]] | None = None) \
        -> list[dict[str, Any]]:
    """The points of a sweep: every grid point (cartesian product) combined with every zip point (paired
    values), grid keys first. A key may be in only one of the two."""
    zipped = zipped or {}
    both = sorted(set(grid) & set(zipped))
    if both:
        raise UserError(f"--zip {both[0]}: also given with --grid; give it once")
    if not grid and not zipped:
        raise UserError("sweep needs at least one --grid key=v1,v2,... or --zip key=v1,v2,...")
    return [{**g, **z} for g in (grid_points(grid) if grid else [{}]) for z in zip_points(zipped)]


class _CallableModule(type(sys)):
    """This module, callable: ``attnlab.sweep(...)`` is the Python API's :func:`attnlab.api.sweep` (importing
    this module makes ``attnlab.sweep`` the module, so the API function could not be a plain attribute)."""

    def __call__(self, *args, **kwargs):
        from .api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
