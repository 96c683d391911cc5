"""Runs and sweeps through the real executors: serial, local process pool, a real Dask LocalCluster;
failed tasks; resume; SIGKILL part-way then resume with every task present exactly once."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from attnlab.runner import run_study, run_sweep
from attnlab.store import read_json


def test_serial_run_writes_the_run_directory(sleepy, tmp_path):
    res = run_study(sleepy, preset="smoke", out=tmp_path / "run", executor="serial", progress=False, quiet=True)
    assert res.exit_code == 0
    root = tmp_path / "run"
    cfg = read_json(root / "config.json")
    for key in ["study", "preset", "config", "config_hash", "seed", "seeds", "version", "git_commit",
                "torch_threads", "status", "wall_time_s"]:
        assert key in cfg
    assert cfg["status"] == "done" and cfg["preset"] == "smoke"
    claims = read_json(root / "claims.json")
    assert {c["id"] for c in claims} == {"values_are_finite", "mean_is_small"}
    assert set(claims[0]) >= {"id", "statement", "source", "passed", "value", "threshold", "detail"}
    assert (root / "tables" / "values.parquet").exists() and (root / "tables" / "summary.parquet").exists()
    assert (root / "figures" / "hist.png").exists()
    assert read_json(root / "figures" / "figures.json")[0]["file"] == "hist.png"
    assert "mean_is_small" in (root / "summary.md").read_text()
    assert len(list((root / "tasks").iterdir())) == 3


def test_run_is_deterministic_and_resume_skips_finished_tasks(sleepy, tmp_path):
    a = run_study(sleepy, preset="smoke", out=tmp_path / "a", executor="serial", progress=False, quiet=True)
    b = run_study(sleepy, preset="smoke", out=tmp_path / "b", executor="serial", progress=False, quiet=True)
    pd.testing.assert_frame_equal(a.tables["values"], b.tables["values"])
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a" / "tasks").iterdir()}
    again = run_study(sleepy, preset="smoke", out=tmp_path / "a", executor="serial", progress=False, quiet=True)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a" / "tasks").iterdir()} == stamps
    pd.testing.assert_frame_equal(again.tables["values"], a.tables["values"])


def test_failed_task_is_reported_and_others_finish(sleepy, tmp_path, capsys):
    res = run_study(sleepy, preset="smoke", overrides={"fail_task": 1}, out=tmp_path / "run", executor="serial",
                    progress=False, quiet=True)
    assert res.exit_code == 1 and res.failed_tasks == ["t1-s0"]
    err = capsys.readouterr().err
    assert "t1-s0" in err and "fails on purpose" in err
    assert '"i": 1' in (tmp_path / "run" / "logs" / "t1-s0.log").read_text()  # params and traceback in the log
    assert sorted(p.name for p in (tmp_path / "run" / "tasks").iterdir()) == ["t0-s0", "t2-s0"]
    assert read_json(tmp_path / "run" / "config.json")["status"] == "failed"


def test_local_process_pool_matches_serial(sleepy, tmp_path):
    a = run_study(sleepy, preset="smoke", out=tmp_path / "a", executor="serial", progress=False, quiet=True)
    b = run_study(sleepy, preset="smoke", out=tmp_path / "b", executor="local", workers=2, progress=False,
                  quiet=True)
    pd.testing.assert_frame_equal(a.tables["values"], b.tables["values"])


def test_dask_executor_starts_its_own_local_cluster(sleepy, tmp_path):
    a = run_study(sleepy, preset="smoke", out=tmp_path / "a", executor="serial", progress=False, quiet=True)
    b = run_study(sleepy, preset="smoke", out=tmp_path / "b", executor="dask", workers=2, progress=False,
                  quiet=True)
    pd.testing.assert_frame_equal(a.tables["values"], b.tables["values"])


def test_sweep_joins_a_running_dask_cluster_by_address(sleepy, tmp_path):
    from dask.distributed import LocalCluster

    grid = {"scale": [1.0, 2.0], "sizes": [(1, 2), (3,)]}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        res = run_sweep(sleepy, grid, preset="smoke", overrides={"seeds": 2}, out=tmp_path / "sweep",
                        executor="dask", address=cluster.scheduler_address, progress=False, quiet=True)
    assert res.exit_code == 0
    values = pd.read_parquet(tmp_path / "sweep" / "tables" / "values.parquet")
    assert len(values) == 4 * 3 * 2 * 3  # points x tasks x seeds x rows
    assert set(values["scale"]) == {1.0, 2.0} and set(values["sizes"]) == {"1,2", "3"}
    # the same point run serially gives the same numbers (dask changes nothing but where it runs)
    ref = run_study(sleepy, preset="smoke", overrides={"seeds": 2, "scale": 2.0, "sizes": (3,)},
                    out=tmp_path / "ref", executor="serial", progress=False, quiet=True)
    got = values[(values.scale == 2.0) & (values.sizes == "3")].drop(columns=["scale", "sizes"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True), ref.tables["values"])
    claims = read_json(tmp_path / "sweep" / "claims.json")
    assert len(claims) == 4 * 2 and all("point" in c for c in claims)


def test_sweep_killed_with_sigkill_resumes_with_every_task_once(sleepy, tmp_path, attnlab):
    out = tmp_path / "sweep"
    args = ["sweep", sleepy, "--grid", "scale=1,2", "--set", "n_tasks=6", "--set", "sleep_s=0.4",
            "--executor", "local", "--workers", "2", "--out", str(out), "--no-progress"]
    exe = str(Path(sys.executable).parent / "attnlab")
    proc = subprocess.Popen([exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    done = []
    while time.time() < deadline:
        done = list(out.glob("points/*/tasks/t*"))
        if len(done) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= len(done) < 12, "the sweep should be interrupted part-way"
    before = {str(p): (p / "task.json").stat().st_mtime_ns for p in out.glob("points/*/tasks/t*")}
    r = attnlab(*args)
    assert r.returncode == 0, r.stderr
    after = {str(p): (p / "task.json").stat().st_mtime_ns for p in out.glob("points/*/tasks/t*")}
    assert len(after) == 12
    assert all(after[k] == v for k, v in before.items()), "finished tasks were run again"
    values = pd.read_parquet(out / "tables" / "values.parquet")
    counts = values.groupby(["scale", "task"]).size()
    assert len(counts) == 12 and (counts == 3).all()  # every task exactly once (3 rows each)
    assert json.loads((out / "config.json").read_text())["status"] == "done"
