"""The Python API: run, sweep, reproduce and load studies from a script or a notebook.

    import attnlab
    r = attnlab.run("head-count", preset="smoke", out="runs/hc")     # same run directory as the CLI
    r.tables["nmse"]                  # a pandas DataFrame (read from tables/nmse.parquet on first use)
    r.claims.verdicts                 # {"sharp_drop_at_h_equals_D": "pass", ...}
    r.figures                         # [Path("runs/hc/figures/fig1a.png"), ...]
    r.write_report()                  # runs/hc/report.html
    s = attnlab.sweep("head-count", zip={"D": [3, 4], "h": [3, 4]}, preset="smoke")   # paired points
    r = attnlab.load("runs/hc")       # any run, sweep or reproduce directory

Every function validates exactly as the command line does (it is the same code: ``attnlab run`` is a thin
layer over :func:`run`) and writes the same run directory: ``attnlab.run(study, preset="smoke", out=D)``
and ``attnlab run STUDY --preset smoke --out D`` are interchangeable, and a run started by one resumes
under the other.  Errors are exceptions, never exit codes: :class:`attnlab.errors.UserError` (bad input:
unknown study, preset or key, invalid value, a foreign output folder; nothing has been written),
:class:`attnlab.errors.ConfigError` (a UserError naming the config field), and :class:`TaskError` when
tasks failed (the finished ones are kept; call again to retry the failed ones), or
:class:`attnlab.errors.DivergenceError` when every failed task diverged (a rerun fails the same way).  Failing *claims* are
results, not errors: read them in ``r.claims``.

Config fields are keyword arguments (``attnlab.run("head-count", h=4, T=16, Ts=(16, 64))``), given as Python
values (tuples or lists for tuple fields) or as the CLI's strings (``Ts="16,64"``).
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .errors import UserError

__all__ = ["run", "sweep", "reproduce", "load", "studies", "Results", "Claims", "TaskError"]

_EXECUTORS = ("local", "dask", "serial")


class TaskError(RuntimeError):
    """Some tasks of a run failed (their errors were printed with their params); the finished tasks are kept
    in ``out`` and the same call resumes the run, retrying only the failed ones.

    Attributes: ``out`` (the run directory), ``failed_tasks`` (task keys)."""

    def __init__(self, out: Path, failed_tasks: list[str]):
        self.out, self.failed_tasks = Path(out), list(failed_tasks)
        shown = ", ".join(self.failed_tasks[:5]) + (" ..." if len(self.failed_tasks) > 5 else "")
        super().__init__(f"{len(self.failed_tasks)} task(s) failed in {self.out} ({shown}); finished tasks are "
                         f"kept; run again to retry the failed ones")


def _raise_failed(res) -> None:
    """After a run whose tasks failed: DivergenceError when every failed task diverged (a rerun fails the same
    way; the message names the tasks and the quantity), else TaskError."""
    from .errors import DivergenceError
    from .store import read_json

    failures = {}
    try:
        failures = read_json(Path(res.out) / "config.json").get("failures") or {}
    except UserError:
        pass
    errors = [str(failures.get(k, {}).get("error", "")) for k in res.failed_tasks]
    if errors and all(e.startswith("DivergenceError") for e in errors):
        raise DivergenceError("; ".join(f"task {k}: {e.partition(': ')[2]}" for k, e in zip(res.failed_tasks, errors))
                              + f" (run directory {res.out})")
    raise TaskError(res.out, res.failed_tasks)


# ---- running ----------------------------------------------------------------------------------------------
def _check_options(executor: str, workers: int | None, seeds: int | None) -> None:
    """The checks the CLI does on its flags, for the same messages from Python."""
    if executor not in _EXECUTORS:
        raise UserError(f"--executor {executor!r}: must be one of {', '.join(_EXECUTORS)}")
    for flag, v in (("--workers", workers), ("--seeds", seeds)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise UserError(f"{flag} {v!r}: must be an integer")
        if v < 1:
            raise UserError(f"{flag} {v}: must be >= 1")


def _runner_kwargs(fn, overrides: dict, seeds: int | None, sets: Sequence[str], study: str,
                   options: Mapping[str, Any]) -> dict:
    """``seeds``/``sets`` go to the runner when it takes them (one config path: build_config); otherwise they
    are folded into the overrides (the same values, the same validation). Other runner ``options`` (such as
    ``force``) are passed on; a false one the runner does not know is dropped."""
    params = inspect.signature(fn).parameters
    kw = {k: v for k, v in options.items() if k in params or v}
    if "sets" in params and "seeds" in params:
        return {**kw, "overrides": overrides, "seeds": seeds, "sets": tuple(sets)}
    overrides = dict(overrides)
    if sets:
        from .config import parse_set_args

        overrides.update(parse_set_args(_config_cls(study), list(sets)))
    if seeds is not None:
        overrides["seeds"] = seeds
    return {**kw, "overrides": overrides}


def _config_cls(study: str):
    try:
        from .runner import load_study
    except ImportError:  # pragma: no cover - older runner
        from .studies import get_study as load_study
    return load_study(study).config_cls


def execute_run(study: str, *, preset: str | None = None, seeds: int | None = None, out=None,
                executor: str = "local", workers: int | None = None, device: str | None = None,
                address: str | None = None, strict: bool = False, progress: bool = True, quiet: bool = False,
                overrides: Mapping[str, Any] | None = None, sets: Sequence[str] = (), **options):
    """The run behind :func:`run` and ``attnlab run`` (which calls it with its flags): validate, run (or
    resume), finish; returns the runner's ``RunResult`` (``exit_code`` is the CLI's). ``sets`` are
    ``--set key=value`` strings, ``overrides`` Python values; ``options`` go to the runner (``force``)."""
    from .runner import run_study

    _check_options(executor, workers, seeds)
    kw = _runner_kwargs(run_study, dict(overrides or {}), seeds, sets, study, options)
    return run_study(study, preset=preset, out=out, executor=executor, workers=workers, address=address,
                     device=device, strict=strict, progress=progress, quiet=quiet, **kw)


def run(study: str, preset: str | None = None, seeds: int | None = None, out: str | Path | None = None,
        executor: str = "local", workers: int | None = None, device: str | None = None, *,
        address: str | None = None, progress: bool = True, quiet: bool = True, force: bool = False,
        **overrides) -> "Results":
    """Run (or resume) one study, like ``attnlab run``; returns its :class:`Results`.

    study:    a registered study's name (``attnlab.studies()``), or ``"matrix"`` (the normalization matrix).
    preset:   "smoke" | "quick" | "paper" (default: the study's default, quick).
    seeds:    number of seeds (the config field ``seeds``); ``**overrides``: any other config field.
    out:      the run directory (default ``runs/<study>-<preset>-<config hash>``, relative to the cwd, as the CLI).
    executor: "local" (a process pool of ``workers``), "dask" (``address`` joins a scheduler, else a LocalCluster)
              or "serial" (this process: a normalization registered at run time is seen by the tasks).
    device:   torch device ("cpu", "cuda", ...). ``quiet=False`` prints the claims table as the CLI does;
    ``force`` runs above the machine's resource estimate (``--force``).
    Raises UserError / ConfigError on bad input (nothing written), DivergenceError when the failed tasks
    diverged, TaskError when tasks failed otherwise."""
    res = execute_run(study, preset=preset, seeds=seeds, out=out, executor=executor, workers=workers,
                      device=device, address=address, progress=progress, quiet=quiet, overrides=overrides,
                      force=force)
    if res.failed_tasks:
        _raise_failed(res)
    return load(res.out)


def sweep_points(grid: Mapping[str, Sequence[Any]] | None, zip: Mapping[str, Sequence[Any]] | None) \
        -> list[dict[str, Any]]:
    """The points of a sweep: the cartesian product of ``grid`` times the paired values of ``zip`` (the i-th
    point takes the i-th value of every zip key); see :func:`attnlab.sweep.sweep_points`."""
    from .sweep import sweep_points as _points

    return _points(grid or {}, zip or {})


def execute_sweep(study: str, grid: Mapping[str, Any] | None = None, *, zip: Mapping[str, Any] | None = None,
                  preset: str | None = None, seeds: int | None = None, out=None, executor: str = "local",
                  workers: int | None = None, device: str | None = None, address: str | None = None,
                  strict: bool = False, progress: bool = True, quiet: bool = False,
                  overrides: Mapping[str, Any] | None = None, sets: Sequence[str] = (), **options):
    """The sweep behind :func:`sweep` and ``attnlab sweep``; returns the runner's ``RunResult``."""
    from .runner import run_sweep
    from .sweep import coerce_sweep_values

    _check_options(executor, workers, seeds)
    config_cls = _config_cls(study)
    grid = coerce_sweep_values(grid or {}, config_cls, "--grid")
    zip = coerce_sweep_values(zip or {}, config_cls, "--zip")
    sweep_points(grid, zip)  # the shape checks (unequal zip lengths, a key twice, nothing to sweep)
    kw = _runner_kwargs(run_sweep, dict(overrides or {}), seeds, sets, study, options)
    if zip:
        kw["zipped"] = zip
    return run_sweep(study, grid, preset=preset, out=out, executor=executor, workers=workers, address=address,
                     device=device, strict=strict, progress=progress, quiet=quiet, **kw)


def sweep(study: str, grid: Mapping[str, Sequence[Any]] | None = None, zip: Mapping[str, Sequence[Any]] | None = None,
          preset: str | None = None, seeds: int | None = None, out: str | Path | None = None,
          executor: str = "local", workers: int | None = None, device: str | None = None, *,
          address: str | None = None, progress: bool = True, quiet: bool = True, force: bool = False,
          **overrides) -> "Results":
    """A sweep, like ``attnlab sweep``: every point is a full run in ``out/points/<point>/``; all their tasks
    share one executor; ``out/tables/*.parquet`` stack the points' tables with the swept keys as columns.

    grid: {key: [v1, v2, ...]} -> the cartesian product (``--grid key=v1,v2``).
    zip:  {key: [v1, v2], key2: [w1, w2]} -> paired points (key=v1, key2=w1), (key=v2, key2=w2)
          (``--zip``); every zip key needs the same number of values; combined with ``grid`` as a product.
    The other arguments as :func:`run`. Returns :class:`Results` (``r.points``: one Results per point)."""
    res = execute_sweep(study, grid=grid, zip=zip, preset=preset, seeds=seeds, out=out, executor=executor,
                        workers=workers, device=device, address=address, progress=progress, quiet=quiet,
                        overrides=overrides, force=force)
    if res.failed_tasks:
        _raise_failed(res)
    return load(res.out)


def execute_reproduce(*, preset: str = "quick", out: str | Path = "runs/reproduce",
                      studies: Sequence[str] | None = None, executor: str = "local", workers: int | None = None,
                      device: str | None = None, address: str | None = None, matrix: bool = False,
                      matrix_preset: str = "smoke", strict: bool = False, progress: bool = True, **options) -> int:
    """The reproduce behind :func:`reproduce` and ``attnlab reproduce``; returns the CLI's exit code."""
    from .runner import reproduce as _reproduce
    from .studies import get_study

    _check_options(executor, workers, None)
    if isinstance(studies, str):
        studies = [s.strip() for s in studies.split(",") if s.strip()]
    for s in studies or ():
        get_study(s)
    params = inspect.signature(_reproduce).parameters
    options = {k: v for k, v in options.items() if k in params or v}
    return _reproduce(preset=preset, out=out, executor=executor, workers=workers, address=address, device=device,
                      strict=strict, progress=progress, studies=list(studies) if studies else None, matrix=matrix,
                      matrix_preset=matrix_preset, **options)


def reproduce(preset: str = "quick", out: str | Path = "runs/reproduce", studies: Sequence[str] | None = None,
              executor: str = "local", workers: int | None = None, device: str | None = None, *,
              address: str | None = None, matrix: bool = False, matrix_preset: str = "smoke",
              progress: bool = True, force: bool = False) -> "Results":
    """Every registered study (or ``studies``) at ``preset`` into ``out/<study>/``, a summary of all claims and
    the HTML report, like ``attnlab reproduce``; ``matrix`` adds the normalization matrix. A study whose tasks
    fail does not stop the others: see ``r.failed`` (the study names) and ``r.runs`` (one Results each)."""
    execute_reproduce(preset=preset, out=out, studies=studies, executor=executor, workers=workers, device=device,
                      address=address, matrix=matrix, matrix_preset=matrix_preset, progress=progress, force=force)
    return load(out)


def studies() -> dict:
    """The registered studies: {name: Study} (``study.presets``, ``study.config_cls``, ``study.title`` ...).
    ``attnlab.studies()`` calls this (the package :mod:`attnlab.studies` is callable)."""
    from .studies import registry

    return registry()


def load(path: str | Path) -> "Results":
    """Read a run, sweep or reproduce directory (written by the CLI or the API). UserError when ``path`` is
    not one (missing, or its config.json / reproduce.json is corrupt)."""
    return Results(path)


# ---- results ----------------------------------------------------------------------------------------------
class Tables(Mapping):
    """name -> pandas DataFrame of ``DIR/tables/*.parquet``, each read on first access and then cached."""

    def __init__(self, folder: Path):
        self._folder = Path(folder)
        self._cache: dict[str, Any] = {}

    def _names(self) -> list[str]:
        return sorted(p.stem for p in self._folder.glob("*.parquet")) if self._folder.is_dir() else []

    def __getitem__(self, name: str):
        if name not in self._cache:
            path = self._folder / f"{name}.parquet"
            if not path.is_file():
                raise KeyError(f"no table {name!r} in {self._folder} (tables: {', '.join(self._names()) or 'none'})")
            from .store import read_table

            self._cache[name] = read_table(path)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return f"Tables({', '.join(self._names())})"


def claim_key(c: Mapping[str, Any]) -> str:
    """A claim's name in a run (its id), a sweep (``point/id``) or a reproduce dir (``study/id``)."""
    return "/".join(str(c[k]) for k in ("study", "point", "id") if c.get(k) is not None)


class Claims(Sequence):
    """The claims of a run as written in ``claims.json``: a sequence of dicts (id, statement, source, kind,
    passed, status (pass | fail | undecided | error), value, threshold, detail; plus ``point`` in a sweep and
    ``study`` in a reproduce dir).  ``claims["some_id"]`` is that claim (in a sweep: ``"point/some_id"``);
    ``verdicts`` and ``values`` map the same keys to status and value."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]):
        self._rows = [dict(r) for r in rows]

    def __getitem__(self, i):
        if isinstance(i, str):
            for r in self._rows:
                if claim_key(r) == i:
                    return r
            matches = [r for r in self._rows if r.get("id") == i]
            if len(matches) == 1:
                return matches[0]
            if matches:
                raise KeyError(f"claim {i!r} appears {len(matches)} times; use one of "
                               f"{', '.join(claim_key(r) for r in matches)}")
            raise KeyError(f"no claim {i!r} (claims: {', '.join(self.keys())})")
        if isinstance(i, slice):
            return Claims(self._rows[i])
        return self._rows[i]

    def __len__(self) -> int:
        return len(self._rows)

    def __eq__(self, other) -> bool:
        if isinstance(other, Claims):
            other = other._rows
        return isinstance(other, (list, tuple)) and self._rows == [dict(o) for o in other]

    def keys(self) -> list[str]:
        return [claim_key(r) for r in self._rows]

    @property
    def verdicts(self) -> dict[str, str]:
        """{claim key: "pass" | "fail" | "undecided" | "error"}."""
        return {claim_key(r): r.get("status") for r in self._rows}

    @property
    def values(self) -> dict[str, Any]:
        """{claim key: measured value} (a number, a flat dict of numbers, or None)."""
        return {claim_key(r): r.get("value") for r in self._rows}

    @property
    def failed(self) -> list[str]:
        """Keys of the claims that failed (or whose check raised)."""
        return [claim_key(r) for r in self._rows if r.get("status") in ("fail", "error")]

    def where(self, **match) -> "Claims":
        """The claims whose fields equal ``match`` (e.g. ``where(point="h=4")``, ``where(status="fail")``)."""
        return Claims(r for r in self._rows if all(r.get(k) == v for k, v in match.items()))

    def to_frame(self):
        """One row per claim (pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self._rows)

    def __repr__(self) -> str:
        if not self._rows:
            return "Claims([])"
        width = max(len(k) for k in self.keys())
        lines = [f"  {r.get('status', '?').upper():<9} {claim_key(r):<{width}}  value={_short(r.get('value'))}"
                 for r in self._rows]
        return "Claims(\n" + "\n".join(lines) + "\n)"


def _short(v) -> str:
    text = json.dumps(v, default=str) if isinstance(v, (dict, list)) else f"{v:.4g}" if isinstance(v, float) else str(v)
    return text if len(text) <= 60 else text[:57] + "..."


class Results:
    """A finished (or partly finished) run directory, read lazily.

    dir:      the run directory (Path).           kind: "run" | "sweep" | "reproduce".
    meta:     config.json (provenance: preset, seeds, version, git commit, wall time, status) or reproduce.json.
    config:   the resolved config (dict of the study config's fields); ``study_config()`` as the study's dataclass.
    study, preset, status: from meta.
    tables:   {name: DataFrame} of tables/*.parquet (read on first use).
    claims:   :class:`Claims` (verdicts and values).   figures: [Path] of the PNGs, captions in ``captions``.
    ledger:   the paper-vs-ours ledger (DataFrame of ledger.parquet) or None when the run has none.
    points:   (sweep) {point: Results};  runs: (reproduce) {study: Results}.
    write_report(): the HTML report of this directory (``DIR/report.html``)."""

    def __init__(self, path: str | Path):
        from .store import read_json

        self.dir = Path(path)
        if not self.dir.is_dir():
            raise UserError(f"{self.dir}: no such run directory")
        if (self.dir / "config.json").is_file():
            self.meta = read_json(self.dir / "config.json")
            if not isinstance(self.meta, dict) or "study" not in self.meta:
                raise UserError(f"{self.dir / 'config.json'}: not an attnlab run (no study)")
            self.kind = "sweep" if self.meta.get("kind") == "sweep" else "run"
        elif (self.dir / "reproduce.json").is_file():
            self.meta = read_json(self.dir / "reproduce.json")
            if not isinstance(self.meta, dict) or not isinstance(self.meta.get("studies"), list):
                raise UserError(f"{self.dir / 'reproduce.json'}: corrupt (no list of studies)")
            self.kind = "reproduce"
        else:
            raise UserError(f"{self.dir}: not an attnlab run directory (no config.json or reproduce.json)")
        self._tables = Tables(self.dir / "tables")
        self._claims: Claims | None = None

    # provenance
    @property
    def study(self) -> str | None:
        return self.meta.get("study")

    @property
    def preset(self) -> str | None:
        return self.meta.get("preset")

    @property
    def status(self) -> str | None:
        """"done", "running" (interrupted or in progress) or "failed"; reproduce: "failed" if any study failed."""
        if self.kind == "reproduce":
            return "failed" if self.failed else "done"
        return self.meta.get("status")

    @property
    def config(self) -> dict:
        """The resolved config (every field of the study's config, as in config.json)."""
        return dict(self.meta.get("config") or {})

    def study_config(self):
        """The resolved config as the study's frozen dataclass (e.g. ``HeadCountConfig``), to hand to the study's
        public functions; rebuilt from config.json exactly as a worker rebuilds it."""
        if self.kind != "run":
            raise UserError(f"{self.dir}: a {self.kind} directory has no single config (use .points or .runs)")
        return _config_cls(self.study).from_dict(self.config)

    # results
    @property
    def tables(self) -> Tables:
        return self._tables

    @property
    def claims(self) -> Claims:
        if self._claims is None:
            from .store import read_json

            path = self.dir / "claims.json"
            self._claims = Claims(read_json(path) if path.is_file() else [])
        return self._claims

    @property
    def captions(self) -> dict[str, str]:
        """{figure file name: caption} from figures/figures.json."""
        from .store import read_json

        path = self.dir / "figures" / "figures.json"
        if not path.is_file():
            return {}
        return {f["file"]: f.get("caption", "") for f in read_json(path)}

    @property
    def figures(self) -> list[Path]:
        """Paths of the run's figures (in the study's order; every PNG when figures.json is absent)."""
        folder = self.dir / "figures"
        names = list(self.captions) or sorted(p.name for p in folder.glob("*.png"))
        return [folder / n for n in names if (folder / n).is_file()]

    @property
    def ledger(self):
        """The paper's numbers beside ours (DataFrame of ``ledger.parquet``); for a reproduce dir the studies'
        ledgers stacked; None when there is none."""
        import pandas as pd

        path = self.dir / "ledger.parquet"
        if path.is_file():
            from .store import read_table

            return read_table(path, "ledger")
        if self.kind == "reproduce":
            parts = [r.ledger for r in self.runs.values()]
            parts = [p for p in parts if p is not None]
            return pd.concat(parts, ignore_index=True) if parts else None
        return None

    @property
    def points(self) -> dict[str, "Results"]:
        """(sweep) {point name: Results of OUT/points/<point>}, in the sweep's order."""
        names = self.meta.get("points") or sorted(p.name for p in (self.dir / "points").glob("*"))
        return {n: Results(self.dir / "points" / n) for n in names if (self.dir / "points" / n).is_dir()}

    @property
    def runs(self) -> dict[str, "Results"]:
        """(reproduce) {study: Results of OUT/<study>} for every study that left a run directory."""
        out = {}
        for rec in self.meta.get("studies", []) if self.kind == "reproduce" else []:
            d = self.dir / rec.get("dir", rec.get("study", ""))
            if (d / "config.json").is_file():
                out[rec["study"]] = Results(d)
        return out

    @property
    def failed(self) -> list[str]:
        """(reproduce) studies whose run failed; (run, sweep) the failed task keys."""
        if self.kind == "reproduce":
            return [r["study"] for r in self.meta.get("studies", []) if r.get("status") != "done"]
        return list(self.meta.get("failed_tasks") or [])

    @property
    def summary(self) -> str:
        """summary.md (claims table and figure list, for a person)."""
        path = self.dir / "summary.md"
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def write_report(self) -> Path:
        """Write ``DIR/report.html`` (one self-contained page, as ``attnlab report DIR``) and return its path."""
        from .report import write_report

        return write_report(self.dir)

    def __repr__(self) -> str:
        what = self.study or "reproduce"
        head = f"<Results {self.kind} {what} preset={self.preset} status={self.status} dir={self.dir}>"
        verdicts = list(self.claims.verdicts.values())
        counts = ", ".join(f"{verdicts.count(s)} {s}" for s in ("pass", "fail", "undecided", "error")
                           if verdicts.count(s))
        return head + (f" claims: {counts}" if counts else "") + f" tables: {', '.join(self.tables) or 'none'}"

