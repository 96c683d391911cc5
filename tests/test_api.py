"""The Python API (issue 18): attnlab.run / sweep / reproduce / load / studies return Results, validate like the
CLI, raise the lab's exceptions, and write the same run directories as the CLI."""
import json
import subprocess
import sys

import pandas as pd
import pytest

import attnlab
from attnlab.errors import ConfigError, UserError


def _smoke(**kw):
    return dict(preset="smoke", executor="serial", progress=False, **kw)


def test_import_is_light():
    code = "import sys, attnlab; print(sorted(m for m in ('torch', 'pandas', 'attnlab.runner') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names():
    for name in ("run", "sweep", "reproduce", "load", "studies", "Results", "TaskError", "compare_runs",
                 "UserError", "ConfigError", "DivergenceError", "__version__"):
        assert name in attnlab.__all__ and getattr(attnlab, name) is not None
    import importlib

    importlib.import_module("attnlab.studies")  # importing the submodules keeps the names callable
    importlib.import_module("attnlab.sweep")

    assert callable(attnlab.studies) and callable(attnlab.sweep)
    assert {"specialization", "copy-transition", "head-count", "gd-heads", "selectivity"} <= set(attnlab.studies())


def test_run_returns_results_equal_to_the_cli_run_directory(sleepy, tmp_path, monkeypatch, capsys):
    from attnlab.cli import main

    monkeypatch.chdir(tmp_path)
    r = attnlab.run("sleepy", **_smoke(), scale=2.0)
    assert r.dir.parent == tmp_path.joinpath("runs").relative_to(tmp_path) and r.dir.name.startswith("sleepy-smoke-")
    assert r.kind == "run" and r.status == "done" and r.study == "sleepy" and r.preset == "smoke"
    assert r.config["scale"] == 2.0 and r.config["n_tasks"] == 3
    assert r.study_config() == attnlab.studies()["sleepy"].config_cls(n_tasks=3, scale=2.0)
    assert set(r.tables) == {"values", "summary"} and len(r.tables["values"]) == 9
    assert r.claims == json.loads((r.dir / "claims.json").read_text())
    assert r.claims.verdicts == {"values_are_finite": "pass", "mean_is_small": "pass"}
    assert r.claims["mean_is_small"]["value"] == r.claims.values["mean_is_small"]
    assert [p.name for p in r.figures] == ["hist.png"] and r.captions["hist.png"]
    # the CLI with the same arguments resolves the same default directory (a resume: one run directory)
    assert main(["run", "sleepy", "--preset", "smoke", "--set", "scale=2", "--executor", "serial", "--no-progress"]) == 0
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [r.dir.name]
    # ... and into another directory, the same tables and claims
    assert main(["run", "sleepy", "--preset", "smoke", "--set", "scale=2", "--executor", "serial", "--no-progress",
                 "--out", "cli"]) == 0
    cli = attnlab.load("cli")
    for name in r.tables:
        pd.testing.assert_frame_equal(r.tables[name], pd.read_parquet(tmp_path / "cli" / "tables" / f"{name}.parquet"))
    assert cli.claims == r.claims and cli.meta["config_hash"] == r.meta["config_hash"]
    report = r.write_report()
    assert report == r.dir / "report.html" and report.stat().st_size > 0
    assert "sleepy" in repr(r) and "mean_is_small" in repr(r.claims)


@pytest.mark.parametrize("kwargs, exc, needle", [
    (dict(study="nope"), UserError, "nope"),
    (dict(study="sleepy", nosuchkey=1), ConfigError, "nosuchkey"),
    (dict(study="sleepy", n_tasks=-3), ConfigError, "n_tasks"),
    (dict(study="sleepy", scale="abc"), ConfigError, "scale"),
    (dict(study="sleepy", preset="huge"), UserError, "huge"),
    (dict(study="sleepy", seeds=0), UserError, "seeds"),
    (dict(study="sleepy", workers=0), UserError, "workers"),
    (dict(study="sleepy", executor="mpi"), UserError, "executor"),
    (dict(study="sleepy", device="cuda:7"), UserError, "cuda"),
])
def test_bad_input_raises_the_labs_errors_and_writes_nothing(sleepy, tmp_path, monkeypatch, kwargs, exc, needle):
    import torch

    if kwargs.get("device") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    monkeypatch.chdir(tmp_path)
    kwargs = {"preset": "smoke", "executor": "serial", "progress": False, **kwargs}
    study = kwargs.pop("study")
    with pytest.raises(exc) as info:
        attnlab.run(study, out=tmp_path / "out", **kwargs)
    assert needle in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_tasks_raise_task_error_and_keep_the_rest(sleepy, tmp_path):
    with pytest.raises(attnlab.TaskError) as info:
        attnlab.run("sleepy", out=tmp_path / "r", fail_task=1, **_smoke())
    assert info.value.out == tmp_path / "r" and info.value.failed_tasks == ["t1-s0"]
    assert attnlab.load(tmp_path / "r").status == "failed"
    assert (tmp_path / "r" / "tasks" / "t0-s0" / "task.json").exists()


def test_sweep_grid_and_zip(sleepy, tmp_path, monkeypatch):
    from attnlab.cli import main

    monkeypatch.chdir(tmp_path)
    s = attnlab.sweep("sleepy", grid={"scale": [1, 2]}, zip={"n_tasks": [1, 2], "label": ["x", "y"]}, **_smoke())
    assert s.kind == "sweep" and s.status == "done"
    assert list(s.points) == ["scale=1.0_n_tasks=1_label=x", "scale=1.0_n_tasks=2_label=y",
                              "scale=2.0_n_tasks=1_label=x", "scale=2.0_n_tasks=2_label=y"]
    assert s.meta["zip"] == {"n_tasks": [1, 2], "label": ["x", "y"]} and s.meta["grid"] == {"scale": [1.0, 2.0]}
    summary = s.tables["summary"]
    assert sorted(map(tuple, summary[["scale", "n_tasks", "label"]].drop_duplicates().values.tolist())) == \
        [(1.0, 1, "x"), (1.0, 2, "y"), (2.0, 1, "x"), (2.0, 2, "y")]
    point = s.points["scale=2.0_n_tasks=2_label=y"]
    assert point.config["n_tasks"] == 2 and point.config["label"] == "y" and point.config["scale"] == 2.0
    assert len(s.claims.where(point="scale=1.0_n_tasks=1_label=x")) == 2
    # the CLI's --grid/--zip is the same sweep: same default directory (resumed, nothing new)
    assert main(["sweep", "sleepy", "--preset", "smoke", "--grid", "scale=1,2", "--zip", "n_tasks=1,2",
                 "--zip", "label=x,y", "--executor", "serial", "--no-progress"]) == 0
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [s.dir.name]
    # zip alone; a string is parsed as on the command line
    z = attnlab.sweep("sleepy", zip={"n_tasks": "1,2", "scale": [1.5, 3]}, out="z", **_smoke())
    assert list(z.points) == ["n_tasks=1_scale=1.5", "n_tasks=2_scale=3.0"]


@pytest.mark.parametrize("kwargs, needle", [
    (dict(zip={"n_tasks": [1, 2], "label": ["x"]}), "unequal"),
    (dict(grid={"scale": [1]}, zip={"scale": [1]}), "scale"),
    (dict(), "at least one"),
    (dict(zip={"nosuch": [1]}), "nosuch"),
    (dict(grid={"n_tasks": []}), "n_tasks"),
])
def test_bad_sweeps_raise(sleepy, tmp_path, monkeypatch, kwargs, needle):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as info:
        attnlab.sweep("sleepy", out=tmp_path / "out", **_smoke(), **kwargs)
    assert needle in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, needle", [
    (["--zip", "n_tasks=1,2", "--zip", "label=x"], "unequal"),
    (["--grid", "scale=1,2", "--zip", "scale=1,2"], "scale"),
    (["--zip", "n_tasks=1,2", "--zip", "n_tasks=3,4"], "twice"),
    (["--zip", "zz=1"], "zz"),
    (["--zip", "n_tasks"], "n_tasks"),
])
def test_cli_bad_zip_exits_2(sleepy, tmp_path, monkeypatch, capsys, args, needle):
    from attnlab.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "sleepy", "--preset", "smoke", "--out", "out", *args]) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(UserError, match="no such run directory"):
        attnlab.load(tmp_path / "absent")
    with pytest.raises(UserError, match="not an attnlab run directory"):
        attnlab.load(tmp_path)
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(UserError, match="corrupt"):
        attnlab.load(tmp_path)


def test_reproduce_returns_the_runs(sleepy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = attnlab.reproduce(preset="smoke", out="rep", studies=["sleepy"], executor="serial", progress=False)
    assert r.kind == "reproduce" and r.status == "done" and r.failed == []
    assert list(r.runs) == ["sleepy"] and r.runs["sleepy"].claims.verdicts["values_are_finite"] == "pass"
    assert r.claims.verdicts["sleepy/values_are_finite"] == "pass"
    assert (tmp_path / "rep" / "report.html").exists()


def test_head_count_smoke_through_the_api_equals_the_cli(tmp_path, capsys):
    """One real smoke run, twice (about 20 s): tables and claims of the API's Results are the CLI's run directory."""
    from attnlab.cli import main

    out = tmp_path / "hc"
    r = attnlab.run("head-count", preset="smoke", out=out, executor="serial", progress=False)
    nmse = r.tables["nmse"]
    assert len(nmse) > 0 and {"h", "T", "nmse_val"} <= set(nmse.columns)
    assert "sharp_drop_at_h_equals_D" in r.claims.verdicts
    assert r.claims == json.loads((out / "claims.json").read_text())
    before = {name: df.copy() for name, df in r.tables.items()}
    # the CLI on the same directory resumes it (same config hash) and re-finishes to the same results
    assert main(["run", "head-count", "--preset", "smoke", "--out", str(out), "--executor", "serial",
                 "--no-progress"]) == 0
    again = attnlab.load(out)
    assert again.claims == r.claims
    for name, df in before.items():
        pd.testing.assert_frame_equal(again.tables[name], df)
    assert r.figures and all(p.exists() for p in r.figures)
    # and the CLI into another directory writes the same run: no claim, value or table differs
    assert main(["run", "head-count", "--preset", "smoke", "--out", str(tmp_path / "cli"), "--executor", "serial",
                 "--no-progress"]) == 0
    diff = attnlab.compare_runs(out, tmp_path / "cli", rtol=0.0)
    assert not diff.changed, diff.text()
    ledger = r.ledger   # ledger.parquet: the paper's Table 2 cells beside ours
    assert ledger is not None and "table2_nmse_h4_T16" in set(ledger["id"])


def test_diverged_tasks_raise_divergence_error(sleepy, tmp_path, monkeypatch):
    from attnlab.errors import DivergenceError
    from attnlab.studies import get_study

    study = get_study("sleepy")

    def diverge(config, task):
        raise DivergenceError(f"value is not finite at step 3 (task {task.key})")

    monkeypatch.setattr(study, "run_task", diverge)
    with pytest.raises(DivergenceError, match="task t0-s0: value is not finite at step 3"):
        attnlab.run("sleepy", out=tmp_path / "r", **_smoke())
