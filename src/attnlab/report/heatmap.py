"""Heatmaps of the normalization matrix (figures of ``attnlab run matrix``), from the ``matrix`` table only.

One PNG per study: rows = the study's headline metrics, columns = normalizations.  Metrics of one study have
different units, so each row is coloured by its value rescaled to [0, 1] within the row
(min over the normalizations -> 0, max -> 1); the printed numbers are the raw values.  Cells that are not
applicable / diverged / errored are grey and labelled ``n/a`` / ``diverged`` / ``error``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..study import Figure

_LABEL = {"not_applicable": "n/a", "diverged": "diverged", "error": "error"}


def row_scaled(values: np.ndarray) -> np.ndarray:
    """(n_metrics, n_norms) -> same shape, each row min-max scaled to [0, 1] over its finite entries;
    a constant row maps to 0.5; non-finite entries stay NaN."""
    v = np.asarray(values, dtype=float)
    out = np.full_like(v, np.nan)
    for i, row in enumerate(v):  # a handful of metric rows: no hot loop
        ok = np.isfinite(row)
        if not ok.any():
            continue
        lo, hi = row[ok].min(), row[ok].max()
        out[i, ok] = 0.5 if hi == lo else (row[ok] - lo) / (hi - lo)
    return out


def study_grid(df: pd.DataFrame, study: str, norms: list[str]) -> tuple[list[str], np.ndarray, list[str]]:
    """metrics (rows), values (n_metrics, n_norms) with NaN where none, and the status of each column."""
    sub = df[df["study"] == study]
    metrics = list(dict.fromkeys(sub.loc[sub["status"] == "ok", "metric"]))
    values = np.full((max(len(metrics), 1), len(norms)), np.nan)
    status = []
    for j, n in enumerate(norms):
        col = sub[sub["normalization"] == n]
        status.append(col["status"].iloc[0] if len(col) else "missing")
        for i, m in enumerate(metrics):
            hit = col.loc[col["metric"] == m, "value"]
            if len(hit):
                values[i, j] = float(hit.iloc[0])
    return metrics, values, status


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.3g}"


def matrix_heatmaps(df: pd.DataFrame, outdir: Path) -> list[Figure]:
    """Write one heatmap per study into ``outdir``; return the figures with captions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    norms = list(dict.fromkeys(df["normalization"]))
    figures = []
    for study in dict.fromkeys(df["study"]):
        metrics, values, status = study_grid(df, study, norms)
        scaled = row_scaled(values)
        n_rows, n_cols = values.shape
        fig, ax = plt.subplots(figsize=(0.95 * n_cols + 2.6, 0.5 * n_rows + 1.9))
        masked = np.ma.masked_invalid(scaled)
        cmap = plt.get_cmap("viridis").with_extremes(bad="#d9d9d9")
        im = ax.imshow(masked, cmap=cmap, vmin=0, vmax=1, aspect="auto")
        for i in range(n_rows):
            for j in range(n_cols):
                if status[j] != "ok":
                    text, colour = _LABEL.get(status[j], status[j]), "#555555"
                elif not np.isfinite(values[i, j]):
                    text, colour = _fmt(values[i, j]), "#555555"
                else:
                    text = _fmt(values[i, j])
                    colour = "white" if scaled[i, j] < 0.6 else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=9, color=colour)
        ax.set_xticks(range(n_cols), norms, rotation=30, ha="right")
        ax.set_yticks(range(n_rows), metrics or ["(no metric)"])
        ax.set_xlabel("normalization")
        ax.set_ylabel("headline metric")
        ax.set_title(f"{study}: headline metrics per normalization")
        fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="rescaled within row")
        fig.tight_layout()
        file = "matrix_" + re.sub(r"[^A-Za-z0-9_.-]", "_", study) + ".png"
        fig.savefig(outdir / file, dpi=110)
        plt.close(fig)
        applicable = sum(s == "ok" for s in status)
        figures.append(Figure(file, (
            f"{study}: each headline metric (row) under each normalization (column), {applicable} of {n_cols} "
            f"normalizations applicable. Colour = the value rescaled to [0, 1] within its row (min -> 0, max -> 1; "
            f"rows have different units); numbers are raw values. Grey: n/a = the normalization does not apply "
            f"(reason in the matrix table), diverged = training produced NaN/inf, error = the experiment raised.")))
    return figures
