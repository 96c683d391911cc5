"""The command line: bad input gives one `error:` line, exit 2, and writes nothing."""
import json
import os

import pytest


def _one_error_line(r):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_list_prints_registered_studies(sleepy, attnlab):
    r = attnlab("list")
    assert r.returncode == 0 and "sleepy" in r.stdout and "smoke" in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["run", "nope"], "nope"),
    (["run", "sleepy", "--set", "nosuchkey=1"], "nosuchkey"),
    (["run", "sleepy", "--set", "seeds=0"], "seeds"),
    (["run", "sleepy", "--set", "n_tasks=-3"], "n_tasks"),
    (["run", "sleepy", "--set", "n_tasks"], "n_tasks"),
    (["run", "sleepy", "--set", "scale=abc"], "scale"),
    (["run", "sleepy", "--preset", "huge"], "huge"),
    (["run", "sleepy", "--seeds", "0"], "seeds"),
    (["run", "sleepy", "--workers", "0"], "workers"),
    (["run", "sleepy", "--executor", "mpi"], "executor"),
    (["run", "sleepy", "--device", "cuda:7"], "device"),
    (["sweep", "sleepy", "--grid", "scale"], "scale"),
    (["sweep", "sleepy", "--grid", "zz=1,2"], "zz"),
    (["sweep", "sleepy"], "grid"),
    (["bench", "nope"], "nope"),
    (["reproduce", "--studies", "nope"], "nope"),
    (["frobnicate"], "frobnicate"),
])
def test_bad_input_exits_2_and_writes_nothing(sleepy, tmp_path, monkeypatch, capsys, args, needle):
    """In-process (fast); test_subprocess_error_contract checks the same through the console script."""
    from attnlab.cli import main

    monkeypatch.chdir(tmp_path)
    if args[0] in ("run", "sweep"):
        args = args + ["--out", str(tmp_path / "out")]
    code = main(args)
    cap = capsys.readouterr()
    line = _one_error_line(_Result(code, cap.out, cap.err))
    assert needle in line
    assert list(tmp_path.iterdir()) == []


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def test_subprocess_error_contract(sleepy, attnlab, tmp_path):
    r = attnlab("run", "nope", cwd=tmp_path)
    assert "nope" in _one_error_line(r)
    r = attnlab("run", "sleepy", "--set", "seeds=0", cwd=tmp_path)
    assert "seeds" in _one_error_line(r)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_or_foreign_run_directory_is_refused_untouched(sleepy, attnlab, tmp_path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{oops")
    line = _one_error_line(attnlab("run", "sleepy", "--preset", "smoke", "--out", corrupt, "--executor", "serial"))
    assert "corrupt" in line and (corrupt / "config.json").read_text() == "{oops"
    assert sorted(p.name for p in corrupt.iterdir()) == ["config.json"]
    # a finished run of another config is not overwritten
    run = tmp_path / "run"
    assert attnlab("run", "sleepy", "--preset", "smoke", "--out", run, "--executor", "serial",
                   "--no-progress").returncode == 0
    before = (run / "config.json").read_text()
    line = _one_error_line(attnlab("run", "sleepy", "--preset", "smoke", "--set", "scale=3", "--out", run))
    assert "another config" in line and (run / "config.json").read_text() == before
    line = _one_error_line(attnlab("report", tmp_path / "absent"))
    assert "absent" in line


def test_run_prints_claims_and_strict_exit_code(sleepy, attnlab, tmp_path):
    r = attnlab("run", "sleepy", "--preset", "smoke", "--out", tmp_path / "run", "--executor", "serial",
                "--no-progress", "--strict")
    assert r.returncode == 0 and "values_are_finite" in r.stdout and "PASS" in r.stdout
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["study"] == "sleepy" and cfg["config"]["n_tasks"] == 3


def test_bench_json(attnlab):
    r = attnlab("bench", "normalizations", "--json", "--quick")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["name"] == "normalizations" and d["speedup"] > 0 and d["threads"] >= 1


def test_reproduce_with_matrix_on_fixture_studies(sleepy, tmp_path, monkeypatch, capsys):
    """reproduce --studies sleepy --matrix: the study, the matrix, summary, claims and the report."""
    from attnlab.cli import main

    monkeypatch.setattr("attnlab.studies.STUDY_MODULES", {})
    assert main(["reproduce", "--preset", "smoke", "--studies", "sleepy", "--matrix", "--out", str(tmp_path / "r"),
                 "--executor", "serial", "--no-progress"]) == 0
    rep = json.loads((tmp_path / "r" / "reproduce.json").read_text())
    assert [s["study"] for s in rep["studies"]] == ["sleepy", "matrix"]
    assert (tmp_path / "r" / "report.html").exists() and (tmp_path / "r" / "matrix" / "tables").exists()
    assert main(["reproduce", "--matrix", "--matrix-preset", "huge", "--out", str(tmp_path / "z")]) == 2
    assert "--matrix-preset" in capsys.readouterr().err and not (tmp_path / "z").exists()
