"""Run directories: atomic writes, task folders, resume, refusal of foreign or corrupt folders."""
import json

import pandas as pd
import pytest

from attnlab.errors import UserError
from attnlab.store import RunStore, atomic_write_json, read_json


def meta(h="abc"):
    return {"study": "s", "config_hash": h, "config": {}}


def test_atomic_json_leaves_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    atomic_write_json(tmp_path / "a.json", {"x": 2})
    assert read_json(tmp_path / "a.json") == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_new_run_resume_and_mismatch(tmp_path):
    store = RunStore(tmp_path / "run")
    assert store.open(meta()) is False
    assert store.open(meta()) is True  # same config: resume
    with pytest.raises(UserError, match="another config"):
        store.check(meta("different"))
    assert read_json(tmp_path / "run" / "config.json")["config_hash"] == "abc"  # untouched


def test_task_folders_are_atomic_and_never_written_twice(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open(meta())
    df = pd.DataFrame({"a": [1, 2]})
    store.save_task("t1", {"params": {"i": 1}}, {"tab": df})
    store.save_task("t1", {"params": {"i": 1}}, {"tab": pd.DataFrame({"a": [9]})})
    assert store.done_keys() == {"t1"}
    assert store.load_tasks(["t1"])["tab"]["a"].tolist() == [1, 2]
    # a half-written (hidden) folder from a killed run is ignored and cleaned on the next open
    (store.tasks_dir / ".t2.xyz").mkdir()
    assert store.done_keys() == {"t1"}
    store.open(meta())
    assert not (store.tasks_dir / ".t2.xyz").exists()


def test_corrupt_or_foreign_directories_are_refused(tmp_path):
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="corrupt"):
        RunStore(tmp_path / "corrupt").check(meta())
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not an attnlab run directory"):
        RunStore(tmp_path / "foreign").check(meta())
    (tmp_path / "nohash").mkdir()
    (tmp_path / "nohash" / "config.json").write_text(json.dumps({"study": "s"}))
    with pytest.raises(UserError, match="corrupt"):
        RunStore(tmp_path / "nohash").check(meta())
    assert RunStore(tmp_path / "absent").check(meta()) is False
    assert not (tmp_path / "absent").exists()


def test_written_files_are_readable_by_others(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "a.json").stat().st_mode)
    assert mode & 0o044 == 0o044
