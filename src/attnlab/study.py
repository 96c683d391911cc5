"""The study contract (core): :class:`Study`, :class:`Task`, :class:`Figure` and the experiment registry.

Every study has the same rooms (``docs/extending.md``) and the same flow:

    config -> tasks -> experiments (data -> model -> simulation -> tables) -> analysis (derived tables, in
    finalize) -> claims -> figures

A *task* is an independent unit of work (one seed of one simulation, one theory curve, ...).  Its params
carry a ``kind``; the study's ``experiments.py`` registers one function per kind::

    EXPERIMENTS = Experiments()

    @EXPERIMENTS.register("train")
    def train(config: MyConfig, params: dict) -> Tables: ...

and :meth:`Study.run_task` dispatches ``task.params["kind"]`` to it (the other params are passed on).  Tasks
run in worker processes (local pool or Dask), so an experiment depends only on ``(config, params)`` and
returns plain pandas DataFrames.  The executor, not the study, sets torch threads (one per worker); the
device is ``config.device``.  Random draws come from :mod:`attnlab.rng`, keyed by the task's parts.

The tables of all tasks are concatenated by name and handed to ``finalize``, which runs the study's
``analysis.py`` (derived tables computed once: first-passage times, slopes, critical points, theory overlays).
Claims and figures read those final tables only, so they cannot disagree about a number.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from .claims import Claim
from .config import StudyConfig

Tables = dict[str, pd.DataFrame]
Experiment = Callable[[Any, dict], Tables]


@dataclasses.dataclass(frozen=True)
class Task:
    """key: unique, filename-safe ([A-Za-z0-9_.=,-]); params: JSON-able description of the work, with the
    experiment's ``kind``."""

    key: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, kind: str, key: str, **params) -> "Task":
        """A task of experiment ``kind``: ``Task.of("train", "train_h2_s0", h=2, seed=0)``."""
        return cls(key=key, params={"kind": kind, **params})

    @property
    def kind(self) -> str | None:
        return self.params.get("kind")

    def to_dict(self) -> dict:
        return {"key": self.key, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Task":
        return cls(key=d["key"], params=dict(d.get("params", {})))


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure written by ``Study.figures``: the PNG's file name (in the figures dir) and its caption."""

    file: str
    caption: str


class Experiments(Mapping[str, Experiment]):
    """kind -> experiment function ``fn(config, params) -> Tables``; filled with :meth:`register`."""

    def __init__(self):
        self._fns: dict[str, Experiment] = {}

    def register(self, kind: str) -> Callable[[Experiment], Experiment]:
        def deco(fn: Experiment) -> Experiment:
            if kind in self._fns:
                raise ValueError(f"experiment kind {kind!r} registered twice")
            self._fns[kind] = fn
            return fn
        return deco

    def __getitem__(self, kind: str) -> Experiment:
        return self._fns[kind]

    def __iter__(self):
        return iter(self._fns)

    def __len__(self) -> int:
        return len(self._fns)


class Study:
    """Base class.  A study sets the class attributes, ``experiments`` (its registry) and implements
    ``tasks``; ``finalize`` (its analysis), ``claims`` and ``figures`` as it needs."""

    name: str = ""            # CLI name, e.g. "copy-transition"
    title: str = ""           # one line
    paper: str = ""           # e.g. "arXiv 2606.12058"
    summary: str = ""         # what it reproduces, a short paragraph (used by README/report)
    config_cls: type[StudyConfig] = StudyConfig
    presets: Mapping[str, Mapping[str, Any]] = {"smoke": {}, "quick": {}, "paper": {}}
    default_preset: str = "quick"
    tables_doc: Mapping[str, str] = {}   # table name -> documented columns
    docs: str = ""            # path of the study's docs, relative to the repo root
    experiments: Mapping[str, Experiment] = {}
    package: str = ""         # the study's package (for its reference data), e.g. "attnlab.studies.head_count"

    def tasks(self, config: StudyConfig) -> list[Task]:
        raise NotImplementedError

    def run_task(self, config: StudyConfig, task: Task) -> Tables:
        """Dispatch the task to the experiment registered for its kind."""
        params = dict(task.params)
        kind = params.pop("kind", None)
        if kind not in self.experiments:
            raise KeyError(f"study {self.name}: task {task.key} has kind {kind!r}; registered kinds: "
                           f"{', '.join(self.experiments) or '(none)'}")
        return self.experiments[kind](config, params)

    def finalize(self, config: StudyConfig, tables: Tables) -> Tables:
        """Combine the concatenated task tables and add the derived tables (the study's analysis)."""
        return tables

    def claims(self) -> list[Claim]:
        return []

    def figures(self, tables: Tables, config: StudyConfig, outdir: Path) -> list[Figure]:
        return []

    def preflight(self, config: StudyConfig) -> None:
        """Check, before anything is written, what the tasks will load: open the model and data files the
        config names and check them (a truncated or foreign file fails here, not in a worker). Raise
        :class:`attnlab.errors.ConfigError` naming the field (exit 2). Default: nothing to check."""

    def estimate(self, config: StudyConfig) -> tuple[float, float] | None:
        """``(bytes, work)``: the peak memory of the largest task (bytes) and the total work (the study's
        unit, e.g. flops) from the config's sizes, or ``(bytes, work, field)`` naming the field that drives
        it. The runner refuses a config above the machine's memory unless ``--force``. Default: None
        (unknown)."""
        return None

    def normalization_matrix(self, normalization: str, scale: str = "smoke") -> dict[str, float] | str:
        """Run this study's normalization-sensitive experiment under ``normalization`` (any registry name)
        at ``scale`` ("smoke" or "quick") and return its headline metrics {metric name: value}; return a
        string (the reason) when the normalization does not apply, decided from the registry entry's
        declared properties (:func:`attnlab.normalizations.info`), never from a list of names."""
        return "this study defines no normalization experiment"

    def benchmark(self, quick: bool = False):
        """Return an ``attnlab.benchtools.BenchResult``; None when the study registers no benchmark."""
        return None


__all__ = ["Study", "Task", "Figure", "Tables", "Experiments", "Experiment"]
