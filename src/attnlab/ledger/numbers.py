"""Numbers as a person reads them: three significant digits, integers as they are (used by the ledger and the
report)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def num(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits: 17.8, 8.35, 0.0189, 1.5e-05, 820 (integers as they are)."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(f):
        return "∞" if f == math.inf else "−∞" if f == -math.inf else "nan"
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) < 10 ** 6:
        return str(int(f))
    a = abs(f)
    if 1e-3 <= a < 10 ** digits:
        s = f"{f:.{digits}g}"
        return s if "e" not in s else str(round(f))
    if 10 ** digits <= a < 1e6:
        return f"{round(f):d}"
    m, e = f"{f:.{digits - 1}e}".split("e")
    m = m.rstrip("0").rstrip(".") if "." in m else m
    return f"{m}e{int(e)}"


__all__ = ["num"]
