"""The ledger as an aligned text table (``attnlab ledger DIR``)."""
from __future__ import annotations

import pandas as pd

from .judge import AGREES, DISAGREES, NOT_MEASURED, counts
from .numbers import num

_VERB = {AGREES: "agree", DISAGREES: "disagree"}


def format_ledger(df: pd.DataFrame, width: int = 48) -> str:
    """An aligned text table: study, id, paper, ours, ratio, judgement, source (per study, a count line)."""
    if len(df) == 0:
        return "(no reference rows: the studies ship no reference.csv yet)"

    def cut(s: str, n: int) -> str:
        s = str(s)
        return s if len(s) <= n else s[: n - 1] + "…"

    lines = []
    for study, sub in df.groupby("study", sort=False):
        c = counts(sub)
        lines.append(f"{study}: {len(sub)} of the paper's numbers and statements: "
                     + ", ".join(f"{n} {_VERB.get(j, j) if n != 1 else j}" for j, n in c.items()))
        rows = [("id", "paper", "ours", "ours/paper", "judgement", "source")]
        notes = []
        for r in sub.itertuples(index=False):
            units = f" {r.units}" if r.units else ""
            if pd.isna(r.ours):
                ours = "—"
            elif r.judge == "qualitative":
                ours = "holds" if r.ours == 1 else "does not hold" if r.ours == 0 else num(r.ours)
            else:
                ours = num(r.ours) + units
            ratio = "" if pd.isna(r.ratio) or r.judge in ("qualitative", "sign") else num(r.ratio)
            paper = r.paper + (units if r.paper not in ("holds", "—", "positive", "negative", "zero") else "")
            rows.append((cut(r.id, width), cut(paper, 30), cut(ours, 22), ratio, r.judgement,
                         cut(f"{r.source} [{r.source_tag}]", width)))
            if r.judgement == NOT_MEASURED:
                notes.append(f"  {r.id}: {r.reason}")
        w = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
        for k, x in enumerate(rows):
            lines.append("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(x)).rstrip())
            if k == 0:
                lines.append("  " + "  ".join("-" * n for n in w))
        if notes:
            lines.append("  not measured, why:")
            lines += ["  " + n for n in notes]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"



__all__ = ["format_ledger"]
