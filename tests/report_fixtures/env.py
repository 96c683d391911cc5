"""A pytest fixture that registers only the fixture studies (the five real studies are left out, so these
tests depend neither on their state nor on their run time)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURE_MODULES = "report_fixtures.rfx_alpha,report_fixtures.rfx_beta"
TESTS_DIR = str(Path(__file__).resolve().parents[1])


@pytest.fixture
def fixture_registry(monkeypatch):
    import attnlab.studies as studies

    monkeypatch.setattr(studies, "STUDY_MODULES", {})
    monkeypatch.setattr(studies, "_cache", None)
    monkeypatch.setenv("ATTNLAB_STUDIES", FIXTURE_MODULES)
    monkeypatch.setenv("PYTHONPATH", TESTS_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    yield studies
