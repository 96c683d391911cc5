"""The normalization matrix: every study's normalization-sensitive experiment under every registry
normalization, side by side (``attnlab run matrix``).

None of the five papers compares normalizations across results; this auxiliary "study" does.  Its tasks are
the (study, normalization) pairs over :func:`attnlab.studies.registry` (optionally restricted by the config's
``studies`` / ``normalizations``).  Each task calls ``study.normalization_matrix(normalization, scale)``:

* a dict ``{metric: value}`` -> one row per metric, ``status = "ok"``;
* a string -> one row, ``applicable = False``, ``status = "not_applicable"``, ``reason`` = that string;
* :class:`attnlab.errors.DivergenceError` -> ``status = "diverged"`` (a result: training blew up);
* any other exception -> ``status = "error"`` with the exception in ``reason`` (reported, not hidden; the
  claim ``matrix_complete`` then fails).

Table ``matrix`` (one row per observation):
``study, normalization, applicable, status, reason, metric, value``.
Table ``matrix_timing``: ``study, normalization, wall_s`` (seconds per pair; the only non-deterministic table).

The studies' experiments seed themselves from their arguments (the contract of ``normalization_matrix``), so
this config's ``seed``/``seeds`` do not change the matrix.
"""
from __future__ import annotations

import dataclasses
import math
import re
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from . import normalizations
from .claims import Claim, Verdict
from .config import StudyConfig
from .errors import ConfigError, DivergenceError
from .study import Figure, Study, Task

COLUMNS = ["study", "normalization", "applicable", "status", "reason", "metric", "value"]
STATUSES = ("ok", "not_applicable", "diverged", "error")


@dataclasses.dataclass(frozen=True)
class MatrixConfig(StudyConfig):
    """scale: size of each study's experiment, "smoke" (seconds) or "quick" (the studies' reduced scale).
    studies: CLI names of the studies to include (empty = every registered study).
    normalizations: registry names to try (empty = every registered normalization)."""

    scale: str = "smoke"
    studies: tuple[str, ...] = ()
    normalizations: tuple[str, ...] = ()

    def validate(self) -> None:
        super().validate()
        self.check_choice("scale", {"smoke", "quick"})
        from .studies import registry

        known = registry()
        for s in self.studies:
            if s not in known:
                raise ConfigError("studies", f"unknown study {s!r} (known: {', '.join(known) or 'none'})")
        if len(set(self.studies)) != len(self.studies):
            raise ConfigError("studies", f"duplicate names in {list(self.studies)}")
        avail = normalizations.available()
        for n in self.normalizations:
            if n not in avail:
                raise ConfigError("normalizations", f"unknown normalization {n!r} (available: {', '.join(avail)})")
        if len(set(self.normalizations)) != len(self.normalizations):
            raise ConfigError("normalizations", f"duplicate names in {list(self.normalizations)}")


def selected_studies(config: MatrixConfig) -> dict[str, Study]:
    """name -> Study in registry order, restricted to ``config.studies`` when given."""
    from .studies import registry

    known = registry()
    return {k: v for k, v in known.items() if not config.studies or k in config.studies}


def selected_normalizations(config: MatrixConfig, studies: dict[str, Study] | None = None) -> list[str]:
    """``config.normalizations`` if given, else every registered normalization; always in registry order, so
    columns line up across runs (names unknown to the registry last, in the order met)."""
    avail = normalizations.available()
    wanted: list[str] = list(config.normalizations) or list(avail)
    return [n for n in avail if n in wanted] + [n for n in wanted if n not in avail]


def _key(study: str, norm: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", f"{study}.{norm}")


def _row(study, norm, applicable, status, reason="", metric="", value=math.nan) -> dict:
    return dict(study=study, normalization=norm, applicable=bool(applicable), status=status,
                reason=str(reason), metric=str(metric), value=float(value))


def evaluate_pair(study: Study, norm: str, scale: str) -> list[dict]:
    """Rows of the ``matrix`` table for one (study, normalization) pair (see the module docstring)."""
    name = study.name
    try:
        result = study.normalization_matrix(norm, scale=scale)
    except DivergenceError as e:
        return [_row(name, norm, True, "diverged", f"DivergenceError: {e}")]
    except Exception as e:  # noqa: BLE001 - a broken experiment is reported in the table, not hidden
        tb = traceback.format_exc(limit=4)
        return [_row(name, norm, True, "error", f"{type(e).__name__}: {e} | {tb}")]
    if isinstance(result, str):
        return [_row(name, norm, False, "not_applicable", result or "(no reason given)")]
    if not isinstance(result, dict) or not result:
        return [_row(name, norm, True, "error",
                     f"normalization_matrix returned {type(result).__name__}, expected a non-empty dict or str")]
    rows = []
    for metric, value in result.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            return [_row(name, norm, True, "error", f"metric {metric!r} is not a number: {value!r}")]
        rows.append(_row(name, norm, True, "ok", "", metric, v))
    return rows


# ---- claims: is the matrix complete and usable (our own checks; no paper makes them) ---------------------
def _pairs_expected(config: MatrixConfig) -> set[tuple[str, str]]:
    studies = selected_studies(config)
    return {(s, n) for s in studies for n in selected_normalizations(config, studies)}


def check_complete(tables, config) -> Verdict:
    """Every selected (study, normalization) pair has a row, and none ended in status "error"."""
    df = tables["matrix"]
    expected = _pairs_expected(config)
    present = set(zip(df["study"], df["normalization"]))
    missing = sorted(expected - present)
    errors = sorted(set(zip(df.loc[df["status"] == "error", "study"], df.loc[df["status"] == "error", "normalization"])))
    bad = len(missing) + len(errors)
    detail = (f"{len(expected)} pairs expected, {len(present & expected)} present; "
              f"missing: {missing[:8]}; errored: {errors[:8]}")
    if not expected:
        return Verdict(None, 0, 0, "no (study, normalization) pair selected: nothing to decide")
    return Verdict(bad == 0, bad, 0, detail)


def check_softmax_baseline(tables, config) -> Verdict:
    """softmax (the papers' baseline) yields finite metrics in every selected study."""
    df = tables["matrix"]
    studies = list(selected_studies(config))
    if "softmax" not in selected_normalizations(config) or not studies:
        return Verdict(None, None, 0, "softmax not in the selected normalizations (or no study): cannot decide")
    sm = df[df["normalization"] == "softmax"]
    lacking = [s for s in studies
               if not ((sm["study"] == s) & (sm["status"] == "ok") & np.isfinite(sm["value"])).any()]
    return Verdict(not lacking, len(lacking), 0,
                   f"{len(studies) - len(lacking)}/{len(studies)} studies give finite softmax metrics; "
                   f"lacking: {lacking}")


CLAIMS = [
    Claim("matrix_complete", "Every selected (study, normalization) pair is decided: headline metrics, a "
          "stated reason why the normalization does not apply, or a recorded divergence; none errored.",
          "reconstruction", check_complete),
    Claim("softmax_baseline_everywhere", "Each study's normalization experiment runs under softmax, the "
          "baseline every paper uses, and gives finite headline metrics.", "reconstruction",
          check_softmax_baseline),
]


class MatrixStudy(Study):
    name = "matrix"
    title = "Normalization matrix: each study's headline result under every normalization"
    paper = "cross-study comparison (attnlab)"
    summary = ("Runs each study's normalization-sensitive experiment at smoke or quick scale under every "
               "normalization of the registry (softmax, softmax1, bayes_softmax, linear, sigmoid, sparsemax, "
               "entmax15, ssmax) and tabulates its headline metrics per (study, normalization). "
               "Normalizations that do not apply to a study are recorded with the study's reason.")
    config_cls = MatrixConfig
    presets = {"smoke": {"scale": "smoke"}, "quick": {"scale": "quick"}, "paper": {"scale": "quick"}}
    default_preset = "quick"
    tables_doc = {
        "matrix": "study, normalization, applicable (bool), status (ok | not_applicable | diverged | error), "
                  "reason (why not applicable / the error), metric (the study's headline metric name), "
                  "value (its value; NaN when there is none); one row per (study, normalization, metric)",
        "matrix_timing": "study, normalization, wall_s (seconds spent on the pair; not deterministic)",
    }
    docs = "docs/report.md"

    def tasks(self, config: MatrixConfig) -> list[Task]:
        studies = selected_studies(config)
        norms = selected_normalizations(config, studies)
        return [Task(_key(s, n), {"study": s, "normalization": n}) for s in studies for n in norms]

    def run_task(self, config: MatrixConfig, task: Task) -> dict[str, pd.DataFrame]:
        from .studies import get_study

        study, norm = task.params["study"], task.params["normalization"]
        start = time.perf_counter()
        rows = evaluate_pair(get_study(study), norm, config.scale)
        wall = time.perf_counter() - start
        return {"matrix": pd.DataFrame(rows, columns=COLUMNS),
                "matrix_timing": pd.DataFrame([{"study": study, "normalization": norm, "wall_s": wall}])}

    def finalize(self, config: MatrixConfig, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Order rows by registry order of studies, then normalizations (metric order kept)."""
        studies = list(selected_studies(config))
        norms = selected_normalizations(config)
        out = dict(tables)
        out.setdefault("matrix", pd.DataFrame(columns=COLUMNS))      # no study selected: empty, not missing
        out.setdefault("matrix_timing", pd.DataFrame(columns=["study", "normalization", "wall_s"]))
        for name in ("matrix", "matrix_timing"):
            df = out[name].copy()
            s_rank = df["study"].map({s: i for i, s in enumerate(studies)}).fillna(len(studies))
            n_rank = df["normalization"].map({n: i for i, n in enumerate(norms)}).fillna(len(norms))
            df = df.assign(_s=s_rank, _n=n_rank, _i=np.arange(len(df)))
            out[name] = df.sort_values(["_s", "_n", "_i"]).drop(columns=["_s", "_n", "_i"]).reset_index(drop=True)
        return out

    def claims(self) -> list[Claim]:
        return list(CLAIMS)

    def figures(self, tables, config, outdir: Path) -> list[Figure]:
        from .report.heatmap import matrix_heatmaps

        return matrix_heatmaps(tables["matrix"], outdir)


STUDY = MatrixStudy()
