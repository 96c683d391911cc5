"""attnlab: a laboratory for the theory of attention.

The Python API (``docs/api.md``), imported lazily so that ``import attnlab`` stays light:

    import attnlab
    r = attnlab.run("head-count", preset="smoke")     # -> attnlab.Results (same run directory as the CLI)
    r.tables["nmse"], r.claims.verdicts, r.figures, r.ledger, r.write_report()
    attnlab.sweep("head-count", grid={"h": [3, 4]}, zip={"D": [3, 4], "d": [3, 4]}, preset="smoke")
    attnlab.reproduce(preset="smoke"), attnlab.load("runs/..."), attnlab.studies()
    attnlab.compare_runs("runs/a", "runs/b")          # claims and tables that changed (`attnlab compare`)
"""
__version__ = "0.1.0"

_API = {"run": "api", "reproduce": "api", "load": "api", "Results": "api", "Claims": "api",
        "TaskError": "api", "compare_runs": "compare", "Comparison": "compare",
        "UserError": "errors", "ConfigError": "errors", "DivergenceError": "errors"}

__all__ = ["__version__", "studies", "sweep", *_API]


def __getattr__(name: str):
    """Lazy API: ``attnlab.run`` imports :mod:`attnlab.api` on first use; ``attnlab.studies`` is the studies
    package, which is callable: ``attnlab.studies()`` -> {name: Study}; ``attnlab.sweep`` is the sweep module,
    callable as :func:`attnlab.api.sweep`."""
    import importlib

    if name in _API:
        value = getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
        globals()[name] = value
        return value
    if name in ("studies", "sweep"):  # submodules that are callable (an import would shadow a function)
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
