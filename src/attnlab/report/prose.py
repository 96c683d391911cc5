"""The short paragraph that opens each study's section, generated from its verdicts and its ledger.

Nothing here is written by hand per study: the sentences count the findings that pass and fail (naming the
failures), the consistency checks, and the ledger's judgements (naming the largest disagreement), so the
paragraph can never drift from the numbers below it.
"""
from __future__ import annotations

import html
import math

import pandas as pd

from ..ledger import AGREES, DISAGREES, NOT_MEASURED, SAME_ORDER, counts, num
from .load import Run, verdict_of

MAX_NAMED = 4


def kind_of(claim: dict) -> str:
    """finding | consistency (claims.json's ``kind``; findings by default)."""
    return "consistency" if claim.get("kind") == "consistency" else "finding"


def _ids(claims: list[dict]) -> str:
    names = [f"<code>{html.escape(str(c.get('id')))}</code>" for c in claims[:MAX_NAMED]]
    more = len(claims) - MAX_NAMED
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def claims_sentences(run: Run, preset: str) -> list[str]:
    findings = [c for c in run.claims if kind_of(c) == "finding"]
    checks = [c for c in run.claims if kind_of(c) == "consistency"]
    out = []
    if findings:
        by = {v: [c for c in findings if verdict_of(c) == v] for v in ("pass", "fail", "undecided", "error")}
        s = f"At the {html.escape(preset)} preset, {len(by['pass'])} of {_plural(len(findings), 'finding')} pass"
        if by["fail"]:
            s += f"; {len(by['fail'])} fail{'s' if len(by['fail']) == 1 else ''} ({_ids(by['fail'])})"
        if by["undecided"]:
            s += f"; {len(by['undecided'])} {'is' if len(by['undecided']) == 1 else 'are'} undecided " \
                 f"({_ids(by['undecided'])})"
        if by["error"]:
            s += f"; {len(by['error'])} raised an error ({_ids(by['error'])})"
        out.append(s + ".")
    if checks:
        bad = [c for c in checks if verdict_of(c) != "pass"]
        if not bad:
            out.append("Its consistency check (an identity or bound that holds by construction) holds."
                       if len(checks) == 1 else f"{'Both' if len(checks) == 2 else f'All {len(checks)}'} "
                       "consistency checks (identities or bounds that hold by construction) hold.")
        else:
            out.append(f"{len(bad)} of {_plural(len(checks), 'consistency check')} did not hold ({_ids(bad)}): "
                       "these hold by construction, so a failure points at the code.")
    if not run.claims:
        out.append("No claims were decided in this run.")
    return out


def _largest_gap(df: pd.DataFrame) -> str:
    bad = df[(df["judgement"] == DISAGREES) & df["ratio"].notna() & (df["ratio"] > 0)]
    if not len(bad):
        return ""
    r = bad.loc[bad["ratio"].map(lambda x: abs(math.log(x))).idxmax()]
    units = f" {r['units']}" if r["units"] else ""
    return (f" The largest gap: <code>{html.escape(str(r['id']))}</code> ({html.escape(str(r['quantity']))}), "
            f"paper {html.escape(num(r['paper_value']))}{html.escape(units)}, ours "
            f"{html.escape(num(r['ours']))}{html.escape(units)} ({html.escape(num(r['ratio']))}× the paper's).")


def ledger_sentences(run: Run) -> list[str]:
    df = run.ledger
    if df is None or not len(df):
        return [html.escape(run.ledger_problem or "There is no ledger for this run.") + ""]
    c = counts(df)
    s = (f"Of the paper's {_plural(len(df), 'number or statement', 'numbers and statements')} in the ledger, "
         f"{c[AGREES]} {'agrees' if c[AGREES] == 1 else 'agree'} with ours, {c[SAME_ORDER]} "
         f"{'is' if c[SAME_ORDER] == 1 else 'are'} of the same order, {c[DISAGREES]} "
         f"{'disagrees' if c[DISAGREES] == 1 else 'disagree'} and {c[NOT_MEASURED]} "
         f"{'is' if c[NOT_MEASURED] == 1 else 'are'} not measured at this preset.")
    return [s + _largest_gap(df)]


def study_paragraph(run: Run, preset: str) -> str:
    """HTML of the opening paragraph (escaped here)."""
    if run.problem:
        return "This run could not be read, so nothing is decided for this study."
    return " ".join(claims_sentences(run, preset) + ledger_sentences(run))


__all__ = ["kind_of", "study_paragraph", "claims_sentences", "ledger_sentences"]
