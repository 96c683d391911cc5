"""The study contract: every study is one :class:`Study` object with the same rooms.

Flow: ``config -> tasks -> run_task (data -> model -> simulation -> tables) -> finalize (theory overlay)
-> claims -> figures``.  The runner (``attnlab.runner``) owns everything around it: the run directory,
resume, executors, progress, claims.json, summary.md.

A *task* is an independent unit of work (one seed of one simulation, one theory curve, ...).  Tasks run in
worker processes (local pool or Dask), so ``run_task`` must depend only on ``(config, task)`` and return
plain pandas DataFrames.  The tables of all tasks are concatenated by name and handed to ``finalize``,
which may add theory tables computed from them.  Theory and simulation meet only in the tables.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from ..claims import Claim
from ..config import StudyConfig


@dataclasses.dataclass(frozen=True)
class Task:
    """key: unique, filename-safe ([A-Za-z0-9_.=-]); params: JSON-able description of the work."""

    key: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

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


Tables = dict[str, pd.DataFrame]


class Study:
    """Base class. Subclasses set the class attributes and implement tasks/run_task/claims/figures."""

    name: str = ""            # CLI name, e.g. "copy-transition"
    title: str = ""           # one line
    paper: str = ""           # e.g. "arXiv 2606.12058"
    summary: str = ""         # what it reproduces, a short paragraph (used by README/report)
    config_cls: type[StudyConfig] = StudyConfig
    presets: Mapping[str, Mapping[str, Any]] = {"smoke": {}, "quick": {}, "paper": {}}
    default_preset: str = "quick"
    tables_doc: Mapping[str, str] = {}   # table name -> documented columns
    docs: str = ""            # path of the study's docs, relative to the repo root
    # normalizations the normalization matrix tries on this study (see normalization_matrix)
    matrix_normalizations: tuple[str, ...] = ("softmax", "softmax1", "bayes_softmax", "linear", "sigmoid",
                                              "sparsemax", "entmax15", "ssmax")

    def tasks(self, config: StudyConfig) -> list[Task]:
        raise NotImplementedError

    def run_task(self, config: StudyConfig, task: Task) -> Tables:
        raise NotImplementedError

    def finalize(self, config: StudyConfig, tables: Tables) -> Tables:
        """Combine the concatenated task tables (and add theory tables). Default: unchanged."""
        return tables

    def claims(self) -> list[Claim]:
        return []

    def figures(self, tables: Tables, config: StudyConfig, outdir: Path) -> list[Figure]:
        return []

    def normalization_matrix(self, normalization: str, scale: str = "smoke") -> dict[str, float] | str:
        """Run this study's normalization-sensitive experiment under ``normalization`` at ``scale``
        ("smoke" or "quick") and return its headline metrics {metric name: value}; return a string (the
        reason) when the normalization does not apply to this study.  Deterministic given the arguments."""
        return "this study defines no normalization experiment"

    def benchmark(self, quick: bool = False):
        """Return an ``attnlab.bench.BenchResult``; None when the study registers no benchmark."""
        return None
