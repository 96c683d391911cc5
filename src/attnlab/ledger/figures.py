"""The paper's points for figures that mirror a paper figure: drawn beside ours, in one style, labelled as the
paper's."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from .judge import _as_number
from .reference import load_reference

PAPER_STYLE = dict(marker="D", markerfacecolor="none", markeredgecolor="black", color="black", linestyle="none",
                   markersize=6, zorder=5)


def paper_points(study, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The paper's numbers of a study as points to draw beside ours: columns id, quantity, value, low, high,
    units, source, source_tag, and one column per ``where`` key (parsed as a number when it is one), e.g.
    ``h`` and ``T`` for head-count's Table 2.  ``ids``: only these rows, in this order (a missing id raises
    KeyError); rows without a paper value or range are left out."""
    rows = load_reference(study)
    if ids is not None:
        by = {r.id: r for r in rows}
        ids = list(ids)
        absent = [i for i in ids if i not in by]
        if absent:
            raise KeyError(f"no reference row(s) {', '.join(absent)} for this study")
        rows = [by[i] for i in ids]
    out = []
    for r in rows:
        if r.paper_value is None and r.paper_low is None and r.paper_high is None:
            continue
        rec: dict[str, Any] = {"id": r.id, "quantity": r.quantity, "value": r.paper_value, "low": r.paper_low,
                               "high": r.paper_high, "units": r.units, "source": r.source,
                               "source_tag": r.source_tag}
        for k, v in r.where:
            n = _as_number(v)
            n = int(n) if n is not None and float(n).is_integer() else n   # h=1 -> 1, not 1.0
            rec.setdefault(k, n if n is not None else v)
        out.append(rec)
    df = pd.DataFrame(out)
    if len(df) == 0:
        df = pd.DataFrame(columns=["id", "quantity", "value", "low", "high", "units", "source", "source_tag"])
    return df


def plot_paper_points(ax, points: pd.DataFrame, x: str, y: str = "value", label: str | None = "paper",
                      errorbars: bool = True, **style):
    """Draw the paper's points on ``ax`` in one style (open black diamonds, labelled as the paper's):
    ``x`` the column of ``points`` on the horizontal axis; error bars from low/high when given."""
    pts = points.dropna(subset=[x, y]) if len(points) else points
    kw = {**PAPER_STYLE, **style}
    if len(pts) == 0:
        return None
    xs, ys = pts[x].to_numpy(dtype=float), pts[y].to_numpy(dtype=float)
    if errorbars and {"low", "high"} <= set(pts.columns) and pts[["low", "high"]].notna().any().any():
        lo = np.where(pts["low"].notna(), ys - pts["low"].to_numpy(dtype=float, na_value=np.nan), 0.0)
        hi = np.where(pts["high"].notna(), pts["high"].to_numpy(dtype=float, na_value=np.nan) - ys, 0.0)
        yerr = np.vstack([np.clip(np.nan_to_num(lo), 0, None), np.clip(np.nan_to_num(hi), 0, None)])
        return ax.errorbar(xs, ys, yerr=yerr, label=label, capsize=2, elinewidth=0.8, **kw)
    return ax.plot(xs, ys, label=label, **kw)


__all__ = ["COLUMNS", "JUDGES", "AGGS", "JUDGEMENTS", "AGREES", "SAME_ORDER", "DISAGREES", "NOT_MEASURED",
           "LEDGER_COLUMNS", "LEDGER_FILE", "ReferenceRow", "ReferenceDataError", "parse_reference",
           "read_reference", "load_reference", "study_package", "measure", "judge", "build_ledger", "ledger_for",
           "write_run_ledger", "record", "run_ledger", "rewrite_ledgers", "dir_ledger", "run_dirs", "counts", "format_ledger", "paper_points",
           "plot_paper_points", "num"]



__all__ = ["PAPER_STYLE", "paper_points", "plot_paper_points"]
