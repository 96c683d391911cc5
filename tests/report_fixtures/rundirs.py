"""Build run dirs and reproduce dirs in the format of docs/extending.md without the runner, so the report
can be tested on its own (the real runner is exercised by the smoke tests)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from attnlab import __version__
from attnlab.claims import evaluate
from attnlab.config import build_config
from attnlab.studies import get_study


def _study(name: str):
    if name == "matrix":   # the cross-study matrix is not a registered study (attnlab.runner.load_study)
        from attnlab.matrix import STUDY

        return STUDY
    return get_study(name)


def make_run_dir(study_name: str, out: Path, preset: str = "smoke", overrides: dict | None = None,
                 ledger: bool = True) -> Path:
    study = _study(study_name)
    config = build_config(study.config_cls, study.presets, preset, overrides)
    parts: dict[str, list[pd.DataFrame]] = {}
    for task in study.tasks(config):
        for name, df in study.run_task(config, task).items():
            parts.setdefault(name, []).append(df)
    tables = study.finalize(config, {k: pd.concat(v, ignore_index=True) for k, v in parts.items()})
    out = Path(out)
    (out / "tables").mkdir(parents=True)
    (out / "figures").mkdir()
    for name, df in tables.items():
        df.to_parquet(out / "tables" / f"{name}.parquet")
    figs = study.figures(tables, config, out / "figures")
    (out / "figures" / "figures.json").write_text(json.dumps([{"file": f.file, "caption": f.caption} for f in figs]))
    claims = evaluate(study.claims(), tables, config)
    (out / "claims.json").write_text(json.dumps(claims))
    if ledger:
        from attnlab.ledger import record

        record(study, tables, claims, out)
    meta = {"study": study_name, "preset": preset, "config": config.to_dict(), "config_hash": "0" * 16,
            "seed": config.seed, "seeds": config.seeds, "version": __version__, "git_commit": "abc123",
            "torch_threads": 1, "executor": "serial", "workers": 1, "started": "2026-01-01T00:00:00Z",
            "finished": "2026-01-01T00:00:01Z", "wall_time_s": 1.25, "status": "done"}
    (out / "config.json").write_text(json.dumps(meta))
    return out


def make_reproduce_dir(out: Path, studies: list[str], matrix_overrides: dict | None = None) -> Path:
    out = Path(out)
    out.mkdir(parents=True)
    entries = []
    for s in studies:
        make_run_dir(s, out / s)
        entries.append({"study": s, "dir": s, "status": "done", "wall_time_s": 1.25, "exit_code": 0})
    if matrix_overrides is not None:
        make_run_dir("matrix", out / "matrix", overrides=matrix_overrides)
    (out / "reproduce.json").write_text(json.dumps({"preset": "smoke", "studies": entries}))
    return out
