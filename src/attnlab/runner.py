"""Running studies: a run, a sweep, and ``reproduce`` (every study, then the report).

A run: build the config (defaults <- preset <- --set), validate it, check the output folder (nothing is
written on bad input), list the study's tasks, run the unfinished ones through an executor (each finished
task is stored at once, so an interrupted run resumes), then finalize: tables, claims, figures, summary.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch

from . import __version__
from .claims import evaluate, format_table, markdown_table
from .config import build_config, config_hash
from .errors import UserError
from .preflight import check_executor, preflight
from .store import (REPRODUCE, RunStore, atomic_write_json, atomic_write_text, check_reproduce_dir, now_iso,
                    read_json, write_reproduce)
from .studies import Task, get_study, registry
from .sweep import dedupe_grid, execute, grid_points, point_key, sweep_points


@dataclasses.dataclass
class RunResult:
    out: Path
    tables: dict[str, pd.DataFrame]
    claims: list[dict]
    exit_code: int
    wall_time_s: float = 0.0
    failed_tasks: list[str] = dataclasses.field(default_factory=list)


def git_commit() -> str | None:
    """The commit of the attnlab source tree, when it is a git checkout (None otherwise)."""
    src = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


MATRIX = "matrix"  # the cross-study normalization matrix (attnlab.matrix): runnable by name, not a study


def load_study(name: str):
    """The Study object run under ``name``: a registered study, or the cross-study matrix run (``matrix``),
    which lives in :mod:`attnlab.matrix`, not in the study registry. Driver and workers both use this."""
    if name == MATRIX:
        from .matrix import STUDY

        return STUDY
    return get_study(name)


def resolve(name: str, preset: str | None, overrides: Mapping[str, Any] | None, device: str | None,
            seeds: int | None = None, sets: list[str] | tuple[str, ...] = ()):
    """(study, preset, config): the one path of a config (:func:`attnlab.config.build_config`), validated,
    nothing written. ``preset`` None means the study's default; an empty name is an error."""
    study = load_study(name)
    preset = study.default_preset if preset is None else preset
    config = build_config(study.config_cls, study.presets, preset, overrides, sets=sets, seeds=seeds,
                          device=device)
    return study, preset, config


def _meta(study, preset, config, executor, workers, extra=None) -> dict:
    return {
        "study": study.name, "title": study.title, "paper": study.paper, "summary": study.summary,
        "docs": study.docs, "preset": preset,
        "config": config.to_dict(), "config_hash": config_hash(config, {"study": study.name, **(extra or {})}),
        "seed": config.seed, "seeds": config.seeds, "version": __version__, "git_commit": git_commit(),
        "torch_threads": torch.get_num_threads(), "worker_torch_threads": 1, "executor": executor,
        "workers": workers, "started": now_iso(), "python": sys.version.split()[0], "torch": torch.__version__,
    }


def _payload(study, config_json: dict, task: Task) -> dict:
    """What a worker gets: the study's name, the config in its one serialized form (``config.to_dict()``,
    computed once per run and rebuilt by ``config_cls.from_dict``), the task, and where to import from."""
    return {"study": study.name, "config": config_json, "task": task.to_dict(),
            "extra_studies": os.environ.get("ATTNLAB_STUDIES", ""), "sys_path": [p for p in sys.path if p]}


def _task_keys(tasks: list[Task]) -> list[str]:
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise RuntimeError("study returned duplicate task keys")
    for k in keys:
        if not k or k.startswith(".") or any(not (c.isalnum() or c in "_.=-,") for c in k):
            raise RuntimeError(f"task key {k!r} is not filename-safe")
    return keys


def run_study(name: str, preset: str | None = None, overrides: Mapping[str, Any] | None = None,
              out: str | Path | None = None, executor: str = "local", workers: int | None = None,
              address: str | None = None, device: str | None = None, strict: bool = False,
              progress: bool = True, quiet: bool = False, seeds: int | None = None,
              sets: list[str] | tuple[str, ...] = (), force: bool = False) -> RunResult:
    """Run (or resume) one study; see the module docstring. Raises UserError on bad input, found by the
    preflight (:mod:`attnlab.preflight`) before anything is written; ``force`` skips its resource refusals.

    ``overrides`` are Python values (the API), ``sets`` the command line's ``key=value`` strings, ``seeds``
    and ``device`` the ``--seeds``/``--device`` flags: all folded into the config in one place
    (:func:`attnlab.config.build_config`)."""
    study, preset, config = resolve(name, preset, overrides, device, seeds=seeds, sets=sets)
    out = Path(out) if out else Path("runs") / f"{study.name}-{preset}-{config_hash(config, {'study': study.name})}"
    store = RunStore(out)
    meta = _meta(study, preset, config, executor, workers)
    meta["estimate"] = preflight(study, config, out, executor, address, workers, force)
    store.check(meta)  # validate before writing anything
    tasks = study.tasks(config)
    keys = _task_keys(tasks)
    return _run_tasks_and_finish([(study, config, store, meta, tasks, keys)], executor, workers, address,
                                 strict, progress, quiet, desc=study.name)[0]


def _run_tasks_and_finish(runs, executor, workers, address, strict, progress, quiet, desc) -> list[RunResult]:
    """Run the pending tasks of several runs through one executor, then finish each run. Each run's
    directory is locked for the whole time (a second run on it is refused naming this pid)."""
    with contextlib.ExitStack() as locks:
        for _, _, store, meta, _, _ in runs:
            locks.enter_context(store.lock())
            store.check(meta)  # again under the lock: another run may have written it meanwhile
        return _run_locked(runs, executor, workers, address, strict, progress, quiet, desc)


def _run_locked(runs, executor, workers, address, strict, progress, quiet, desc) -> list[RunResult]:
    start = time.perf_counter()
    jobs, stores, initial, total = [], {}, 0, 0
    for study, config, store, meta, tasks, keys in runs:
        store.open(meta)
        for key, problem, aside in store.healed:
            _say(f"healed: task {key} of {store.root} did not read back ({problem}); set aside as "
                 f"{aside.relative_to(store.root)} and computed again")
        done = store.done_keys()
        total += len(tasks)
        initial += sum(k in done for k in keys)
        config_json = config.to_dict()
        for t in tasks:
            if t.key not in done:
                job_key = _job_name(store, t, len(runs))
                stores[job_key] = (store, t)
                jobs.append((job_key, _payload(study, config_json, t)))

    def on_result(job_key: str, result: dict) -> None:
        store, task = stores[job_key]
        store.save_task(task.key, {"params": dict(task.params), "wall_s": result.get("wall_s")}, result["tables"])

    def on_failure(job_key: str, result: dict) -> None:
        """One line per failed task on stderr; the traceback goes to the run's logs/<key>.log."""
        store, task = stores[job_key]
        log = store.write_log(task.key, f"task {task.key}\nparams {json.dumps(dict(task.params), default=str)}\n"
                                        f"{result.get('traceback') or result.get('error')}\n")
        _say(f"failed: task {job_key}: {_one_line(result.get('error'))} (traceback: {log})")

    failures = execute(jobs, on_result, executor=executor, workers=workers, address=address, progress=progress,
                       initial_done=initial, total=total, desc=desc, on_failure=on_failure)
    failed_by_store: dict[int, list[tuple[str, dict]]] = {}
    for job_key, result in failures:
        store, task = stores[job_key]
        failed_by_store.setdefault(id(store), []).append((task.key, result))
    results = []
    for study, config, store, meta, tasks, keys in runs:
        failed = failed_by_store.get(id(store), [])
        if failed:
            store.update_config(status="failed", failed_tasks=[k for k, _ in failed], finished=now_iso(),
                                failures={k: {"error": _one_line(r.get("error")), "deterministic":
                                              bool(r.get("deterministic"))} for k, r in failed})
            print(_closing_hint(study.name, failed, len(tasks), store), file=sys.stderr)
            results.append(RunResult(store.root, {}, [], 1, time.perf_counter() - start, [k for k, _ in failed]))
            continue
        results.append(finish_run(study, config, store, keys, strict, quiet, time.perf_counter() - start))
    return results


def _one_line(text) -> str:
    return " ".join(str(text or "unknown error").split())


def _say(line: str) -> None:
    """A line on stderr that does not tear the progress bar."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _closing_hint(name: str, failed: list[tuple[str, dict]], n_tasks: int, store: RunStore) -> str:
    """What to do next: a deterministic failure (divergence, bad input) fails the same way on a rerun, so
    the hint says what to change; a transient one (a worker died, an OSError) is worth a rerun."""
    det = [k for k, r in failed if r.get("deterministic")]
    head = f"{name}: {len(failed)} of {n_tasks} tasks failed; finished tasks are kept (tracebacks in {store.logs_dir})."
    parts = []
    if det:
        diverged = any(r.get("error_type") == "DivergenceError" for _, r in failed)
        parts.append(f"{len(det)} failed deterministically (a rerun fails the same way): "
                     + ("lower the learning rate or step size of the diverging quantity, or change the config"
                        if diverged else "change the config"))
    if len(det) < len(failed):
        parts.append(f"{len(failed) - len(det)} may be transient: rerun the same command to retry them")
    return head + " " + "; ".join(parts)


def _job_name(store: RunStore, task: Task, n_runs: int) -> str:
    """A task's name in messages: its key, prefixed by its sweep point's folder when several runs share the
    executor (``h=2/train_s0``); never an internal object id."""
    if n_runs == 1:
        return task.key
    return f"{store.root.name}/{task.key}"


def finish_run(study, config, store: RunStore, keys: list[str], strict: bool, quiet: bool,
               task_wall: float) -> RunResult:
    """Tables -> finalize (theory) -> tables/*.parquet -> claims.json -> figures -> summary.md."""
    start = time.perf_counter()
    tables = study.finalize(config, store.load_tasks(keys))
    for name, df in tables.items():
        store.write_table(name, df)
    claims = evaluate(study.claims(), tables, config)
    store.write_json("claims.json", claims)
    from .ledger import record as record_ledger  # the paper's numbers beside ours -> ledger.parquet

    record_ledger(study, tables, claims, store.root)
    store.figures_dir.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    figures = study.figures(tables, config, store.figures_dir)
    atomic_write_json(store.figures_dir / "figures.json", [dataclasses.asdict(f) for f in figures])
    wall = task_wall + (time.perf_counter() - start)
    record = store.update_config(status="done", finished=now_iso(), wall_time_s=round(wall, 3))
    store.write_text("summary.md", summary_markdown(study, record, claims, figures, tables))
    if not quiet:
        print(format_table(claims, study.name))
        print(f"{study.name}: results in {store.root} ({wall:.1f} s)")
    failed = any(c["status"] == "fail" for c in claims)
    errored = any(c["status"] == "error" for c in claims)
    code = 1 if errored or (strict and failed) else 0
    if errored:
        print(f"{study.name}: a claim check raised an error (see claims.json)", file=sys.stderr)
    return RunResult(store.root, tables, claims, code, wall)


def summary_markdown(study, record, claims, figures, tables) -> str:
    n_pass = sum(c["status"] == "pass" for c in claims)
    lines = [f"# {study.name}: {study.title}", "", f"{study.paper}. Preset `{record.get('preset')}`, "
             f"config hash `{record.get('config_hash')}`, attnlab {record.get('version')}, commit "
             f"`{record.get('git_commit')}`, wall time {record.get('wall_time_s')} s.", "",
             f"## Claims ({n_pass} of {len(claims)} pass)", "", markdown_table(claims), "", "## Figures", ""]
    lines += [f"- `figures/{f.file}`: {f.caption}" for f in figures] or ["(none)"]
    lines += ["", "## Tables", ""]
    lines += [f"- `tables/{name}.parquet`: {len(df)} rows; columns {', '.join(map(str, df.columns))}"
              for name, df in tables.items()]
    return "\n".join(lines) + "\n"


# ---- sweeps ------------------------------------------------------------------------------------------------
def run_sweep(name: str, grid: Mapping[str, list[Any]], preset: str | None = None,
              overrides: Mapping[str, Any] | None = None, out: str | Path | None = None,
              executor: str = "local", workers: int | None = None, address: str | None = None,
              device: str | None = None, strict: bool = False, progress: bool = True,
              quiet: bool = False, seeds: int | None = None, sets: list[str] | tuple[str, ...] = (),
              zipped: Mapping[str, list[Any]] | None = None, force: bool = False) -> RunResult:
    """Every grid point is a full run of the study in OUT/points/<point>/; all their tasks share one
    executor. OUT/tables/<name>.parquet stacks the points' tables with the grid keys as columns.
    A grid key may not also be given by ``sets``/``seeds``/``device`` (which value would win?).
    ``zipped`` ({key: [v1, v2], key2: [w1, w2]}, ``--zip``): paired values, combined with the grid as a product
    (:func:`attnlab.sweep.sweep_points`)."""
    grid = dedupe_grid(grid)
    set_keys = {item.partition("=")[0].strip() for item in sets or ()}
    flagged = {"seeds": seeds, "device": device}
    for key in [*grid, *(zipped or {})]:
        if key in set_keys or flagged.get(key) is not None:
            raise UserError(f"--grid {key}: also given by {'--set' if key in set_keys else '--' + key}; "
                            f"give it once")
    points = sweep_points(grid, zipped)
    resolved = []
    for point in points:
        study, preset_, config = resolve(name, preset, {**(overrides or {}), **point}, device, seeds=seeds,
                                         sets=sets)
        resolved.append((point, study, preset_, config))
    study, preset = resolved[0][1], resolved[0][2]
    grid_json = {k: [list(v) if isinstance(v, tuple) else v for v in vs] for k, vs in grid.items()}
    base_config = resolved[0][3]
    zip_json = {k: [list(v) if isinstance(v, tuple) else v for v in vs] for k, vs in (zipped or {}).items()}
    sweep_hash = config_hash(base_config, {"study": study.name, "grid": grid_json, "sweep": True,
                                           **({"zip": zip_json} if zip_json else {})})
    out = Path(out) if out else Path("runs") / f"{study.name}-sweep-{sweep_hash}"
    check_executor(executor, address, workers)
    estimates = [preflight(s_, c_, out, executor, None, workers, force) for _, s_, _, c_ in resolved]
    top = RunStore(out)
    top_meta = _meta(study, preset, base_config, executor, workers)
    top_meta.update(config_hash=sweep_hash, grid=grid_json, kind="sweep", points=[point_key(p) for p in points])
    if zip_json:
        top_meta["zip"] = zip_json
    top.check(top_meta)
    runs = []
    for (point, study_, preset_, config), estimate in zip(resolved, estimates):
        store = RunStore(out / "points" / point_key(point))
        meta = _meta(study_, preset_, config, executor, workers)
        meta["estimate"] = estimate
        meta["point"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in point.items()}
        store.check(meta)
        tasks = study_.tasks(config)
        runs.append((study_, config, store, meta, tasks, _task_keys(tasks)))
    with top.lock():  # the sweep's own directory, for the sweep's life
        top.check(top_meta)
        top.open(top_meta)
        start = time.perf_counter()
        results = _run_tasks_and_finish(runs, executor, workers, address, strict, progress, quiet=True,
                                        desc=f"{study.name} sweep")
        stacked: dict[str, list[pd.DataFrame]] = {}
        all_claims = []
        for (point, *_), res in zip(resolved, results):
            for tname, df in res.tables.items():
                df = df.copy()
                for k, v in point.items():
                    col = k if k not in df.columns else f"grid_{k}"
                    df[col] = [v if not isinstance(v, tuple) else ",".join(map(str, v))] * len(df)
                stacked.setdefault(tname, []).append(df)
            for c in res.claims:
                all_claims.append(dict(c, point=point_key(point)))
        failed = [k for r in results for k in r.failed_tasks]
        tables = {k: pd.concat(v, ignore_index=True) for k, v in stacked.items()}
        for tname, df in tables.items():
            top.write_table(tname, df)
        top.write_json("claims.json", all_claims)
        wall = time.perf_counter() - start
        top.update_config(status="failed" if failed else "done", finished=now_iso(), wall_time_s=round(wall, 3))
        lines = [f"# sweep of {study.name}", "", f"grid: {grid_json}" + (f", zip: {zip_json}" if zip_json else ""), "", "| point | claim | verdict | value |",
                 "|---|---|---|---|"]
        lines += [f"| {c['point']} | `{c['id']}` | {c['status']} | {c['value']} |" for c in all_claims]
        top.write_text("summary.md", "\n".join(lines) + "\n")
        if not quiet:
            for c in all_claims:
                print(f"  {c['status'].upper():<5} {c['point']:<30} {c['id']}")
            print(f"sweep of {study.name}: {len(points)} points, results in {out} ({wall:.1f} s)")
        code = max([r.exit_code for r in results] + [0])
        return RunResult(out, tables, all_claims, code, wall, failed)


# ---- reproduce ---------------------------------------------------------------------------------------------
def reproduce(preset: str = "quick", out: str | Path = "runs/reproduce", executor: str = "local",
              workers: int | None = None, address: str | None = None, device: str | None = None,
              strict: bool = False, progress: bool = True, studies: list[str] | None = None,
              matrix: bool = False, matrix_preset: str = "smoke", force: bool = False) -> int:
    """Every registered study at ``preset`` into OUT/<study>/, a summary of all claims, then the report.
    With ``matrix``, also the normalization matrix at ``matrix_preset`` into OUT/matrix/."""
    out = Path(out)
    names = studies or list(registry())
    planned = []
    check_executor(executor, address, workers)
    check_reproduce_dir(out, preset)
    for name in names:  # validate everything before writing anything
        study, preset_, config = resolve(name, preset, None, device)
        preflight(study, config, out / study.name, executor, None, workers, force)
        store = RunStore(out / study.name)
        store.check(_meta(study, preset_, config, executor, workers))
        planned.append(study.name)
    if matrix:
        if matrix_preset not in load_study(MATRIX).presets:
            raise UserError(f"--matrix-preset {matrix_preset!r}: unknown preset "
                            f"(known: {', '.join(load_study(MATRIX).presets)})")
        study, preset_, config = resolve(MATRIX, matrix_preset, None, device)
        preflight(study, config, out / MATRIX, executor, None, workers, force)
        RunStore(out / "matrix").check(_meta(study, preset_, config, executor, workers))
    with RunStore(out).lock():  # one reproduce at a time in OUT
        check_reproduce_dir(out, preset)  # again under the lock
        earlier = read_json(out / REPRODUCE) if (out / REPRODUCE).exists() else {}
        write_reproduce(out, {**earlier, "preset": preset, "status": "running", "started": now_iso(),
                              "studies": earlier.get("studies", [])})
        if not planned:
            print("reproduce: no studies are registered yet; nothing to run", file=sys.stderr)
        records, all_claims, code = [], [], 0
        start = time.perf_counter()
        for name in planned:
            t0 = time.perf_counter()
            print(f"== {name} ({preset})", file=sys.stderr)
            try:
                res = run_study(name, preset=preset, out=out / name, executor=executor, workers=workers,
                                address=address, device=device, strict=strict, progress=progress, force=force)
                status = "done" if not res.failed_tasks else "failed"
                rc = res.exit_code
                all_claims += [dict(c, study=name) for c in res.claims]
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - one broken study does not stop the others
                print(f"{name}: failed: {type(e).__name__}: {e}", file=sys.stderr)
                status, rc = "failed", 1
            code = max(code, rc)
            records.append({"study": name, "dir": name, "status": status, "exit_code": rc,
                            "wall_time_s": round(time.perf_counter() - t0, 2)})
        if matrix:
            t0 = time.perf_counter()
            print(f"== matrix ({matrix_preset})", file=sys.stderr)
            res = run_study(MATRIX, preset=matrix_preset, out=out / "matrix",
                            executor=executor, workers=workers, address=address, device=device, progress=progress,
                            force=force)
            records.append({"study": "matrix", "dir": "matrix", "status": "done" if not res.failed_tasks else "failed",
                            "exit_code": res.exit_code, "wall_time_s": round(time.perf_counter() - t0, 2)})
            code = max(code, res.exit_code)
        write_reproduce(out, {"preset": preset, "status": "done", "version": __version__, "git_commit": git_commit(),
                              "finished": now_iso(), "wall_time_s": round(time.perf_counter() - start, 2),
                              "studies": records})
        atomic_write_json(out / "claims.json", all_claims)
        lines = [f"# attnlab reproduce ({preset})", "", "| study | status | wall time (s) | claims passed |",
                 "|---|---|---|---|"]
        for r in records:
            cs = [c for c in all_claims if c["study"] == r["study"]]
            lines.append(f"| {r['study']} | {r['status']} | {r['wall_time_s']} | "
                         f"{sum(c['status'] == 'pass' for c in cs)} / {len(cs)} |")
        lines += ["", "## All claims", "", "| study | claim | verdict | value | threshold |", "|---|---|---|---|---|"]
        lines += [f"| {c['study']} | `{c['id']}` | {c['status']} | {c['value']} | {c['threshold']} |" for c in all_claims]
        atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
        print(f"reproduce: {len(records)} runs, summary in {out / 'summary.md'}")
        try:
            from .report import write_report
        except ImportError:
            print("reproduce: the HTML report is not available in this version", file=sys.stderr)
        else:
            path = write_report(out)
            print(f"reproduce: report in {path}")
        return code
