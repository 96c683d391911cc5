"""Claim values and thresholds as a person reads them (no HTML here except :func:`value_html`).

A claim value is a number or a flat dict of named numbers (``{"T=16": 17.8}`` -> ``T=16: 17.8``); numbers get
three significant digits (:func:`attnlab.ledger.num`).  Nothing is ever printed as a bare list or dict: a list
is shown with its index names (``#1: 0.78, #2: 0.0189``), a nested value with its path
(``bayes_softmax #3: 0.0075``).  Thresholds are the study's sentence in words; operators written as code
(``>=``) become symbols (``≥``), and a dict threshold becomes named parts like a value.
"""
from __future__ import annotations

import html
import re
from typing import Any

from ..ledger import num

_OPS = [(">=", "≥"), ("<=", "≤"), ("!=", "≠"), ("+-", "±"), ("+/-", "±")]


def _is_number_text(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def scalar(x: Any) -> str:
    """One scalar: None -> "—", bools -> yes/no, numbers -> 3 significant digits, numeric strings likewise
    ("inf"/"nan" written by claims.json included), any other text as it is."""
    if x is None:
        return "—"
    if isinstance(x, str):
        return num(float(x)) if _is_number_text(x.strip()) and x.strip() else words(x)
    return num(x)


def parts(v: Any, name: str = "") -> list[tuple[str, str]]:
    """(name, text) pairs of a value: a dict's keys and a list's index names (#1, #2, ...) joined into a path."""
    if isinstance(v, dict):
        out: list[tuple[str, str]] = []
        for k, x in v.items():
            out += parts(x, f"{name} {k}".strip() if name else str(k))
        return out or [(name, "—")]
    if isinstance(v, (list, tuple)):
        out = []
        for i, x in enumerate(v, 1):
            out += parts(x, f"{name} #{i}".strip() if name else f"#{i}")
        return out or [(name, "—")]
    return [(name, scalar(v))]


def value_text(v: Any) -> str:
    """``T=16: 17.8, T=64: 8.35``; a plain number alone; "—" for none."""
    return ", ".join(f"{k}: {t}" if k else t for k, t in parts(v))


def value_html(v: Any) -> str:
    """Named parts, one per line: ``<span class=part><span class=k>T=16</span> 17.8</span>`` (escaped)."""
    ps = parts(v)
    if len(ps) == 1 and not ps[0][0]:
        return html.escape(ps[0][1])
    return "".join(f'<span class="part"><span class="k">{html.escape(k)}:</span> {html.escape(t)}</span>'
                   if k else f'<span class="part">{html.escape(t)}</span>' for k, t in ps)


def words(text: str) -> str:
    """Code-like operators in a sentence become symbols; numbers in it keep their text."""
    out = str(text)
    for a, b in _OPS:
        out = out.replace(a, b)
    return re.sub(r"\s+", " ", out).strip()


def threshold_text(t: Any) -> str:
    """A threshold in words: the study's sentence; a number with 3 significant digits; a dict -> named parts."""
    if t is None:
        return "—"
    if isinstance(t, (dict, list, tuple)):
        return value_text(t)
    return scalar(t)


def threshold_html(t: Any) -> str:
    if isinstance(t, (dict, list, tuple)):
        return value_html(t)
    return html.escape(threshold_text(t))


__all__ = ["scalar", "parts", "value_text", "value_html", "words", "threshold_text", "threshold_html"]
