"""The attnlab report: one self-contained HTML page from a run dir or a reproduce dir.

``write_report(path)`` reads ``path`` (a run dir with ``config.json``, or a reproduce dir with
``reproduce.json``, per-study run dirs and optionally ``matrix/``) and writes ``path/report.html``:
an overview of every study x claim with colour-coded verdicts, then per study its title, paper, summary,
claims table, figures (embedded PNG data URIs) with captions, provenance and resolved config, and the
normalization matrix table + heatmaps when present.  ``attnlab report DIR`` and ``attnlab reproduce`` call it.

Modules: ``load`` (reading dirs), ``render`` (HTML), ``heatmap`` (matrix figures), ``style.css``.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..store import atomic_write_text
from .load import load
from .render import render


def write_report(path: Path) -> Path:
    """Write ``path/report.html`` and return its path.

    Raises :class:`attnlab.errors.UserError` when ``path`` is missing, unreadable or corrupt; then nothing
    is written (the page is built in memory and moved into place atomically)."""
    path = Path(path)
    page = render(load(path))
    out = path / "report.html"
    try:
        atomic_write_text(out, page)
    except OSError as e:
        raise UserError(f"{out}: cannot write the report: {e}") from None
    return out


__all__ = ["write_report"]
