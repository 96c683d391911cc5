"""Registry of studies.

The five studies live in sub-packages listed in ``STUDY_MODULES``; each exposes ``STUDY``, a
:class:`attnlab.study.Study`.  Extra studies (your own, or test fixtures) are registered without
touching this file by naming their modules in the environment variable ``ATTNLAB_STUDIES``
(comma-separated ``package.module`` paths, each exposing ``STUDY``).

The normalization matrix is not a study: it is the cross-study module :mod:`attnlab.matrix`, run by
``attnlab run matrix`` / ``reproduce --matrix`` through :func:`attnlab.runner.load_study`.
"""
from __future__ import annotations

import importlib
import importlib.util
import os

from ..errors import UserError
from ..study import Figure, Study, Task

STUDY_MODULES = {
    "specialization": "attnlab.studies.specialization",
    "copy-transition": "attnlab.studies.copy_transition",
    "head-count": "attnlab.studies.head_count",
    "gd-heads": "attnlab.studies.gd_heads",
    "selectivity": "attnlab.studies.selectivity",
}

_cache: dict[str, Study] | None = None


def _module_present(path: str) -> bool:
    try:
        return importlib.util.find_spec(path) is not None
    except ModuleNotFoundError:
        return False


def registry() -> dict[str, Study]:
    """name -> Study, in the order of STUDY_MODULES then ATTNLAB_STUDIES. Modules not yet present are skipped;
    a present module that fails to import raises (a broken study is never silently hidden)."""
    global _cache
    extra = [m.strip() for m in os.environ.get("ATTNLAB_STUDIES", "").split(",") if m.strip()]
    key = (tuple(extra), tuple(STUDY_MODULES.items()))
    if _cache is not None and _cache.get("__key__") == key:  # type: ignore[comparison-overlap]
        return {k: v for k, v in _cache.items() if k != "__key__"}
    found: dict = {}
    for name, path in STUDY_MODULES.items():
        if _module_present(path):
            found[name] = importlib.import_module(path).STUDY
    for path in extra:
        study = importlib.import_module(path).STUDY
        found[study.name] = study
    _cache = dict(found)
    _cache["__key__"] = key  # type: ignore[assignment]
    return found


def get_study(name: str) -> Study:
    """The study called ``name``; imports only its own module (workers stay light)."""
    path = STUDY_MODULES.get(name)
    if path and _module_present(path):
        return importlib.import_module(path).STUDY
    extra = [m.strip() for m in os.environ.get("ATTNLAB_STUDIES", "").split(",") if m.strip()]
    for module in extra:
        study = importlib.import_module(module).STUDY
        if study.name == name:
            return study
    known_names = [n for n, p in STUDY_MODULES.items() if _module_present(p)]
    known_names += [importlib.import_module(m).STUDY.name for m in extra]
    known = ", ".join(known_names)
    raise UserError(f"unknown study {name!r} (known: {known or '(none registered)'})")


__all__ = ["Figure", "Study", "Task", "registry", "get_study", "STUDY_MODULES"]


class _CallablePackage(type(importlib)):
    """This package, callable: ``attnlab.studies()`` -> :func:`registry` ({name: Study}), the Python API's list
    of studies (``attnlab.studies`` is this package, so the API function could not be a plain attribute)."""

    def __call__(self) -> dict[str, Study]:
        return registry()


import sys as _sys  # noqa: E402

_sys.modules[__name__].__class__ = _CallablePackage
