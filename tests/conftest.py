"""Shared test set-up: the fixture study is registered through ATTNLAB_STUDIES for the machinery tests."""
import os
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def sleepy(monkeypatch):
    """Register the fixture study `sleepy` (in-process and for spawned workers/subprocesses)."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("ATTNLAB_STUDIES", "fixture_sleepy_study")
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return "sleepy"


@pytest.fixture
def attnlab():
    """Run the `attnlab` console script of this environment: attnlab(*args, env=..., cwd=...) -> CompletedProcess."""
    import subprocess

    exe = str(Path(sys.executable).parent / "attnlab")

    def run(*args, env=None, cwd=None, timeout=300):
        return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                              timeout=timeout)

    return run
