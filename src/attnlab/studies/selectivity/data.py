"""The text the pretrained models read.

Default: the public-domain corpus shipped in ``attnlab/data/`` (the US Declaration of Independence, 1776, and
Constitution, 1787; about 7,000 GPT-2/SmolLM2 tokens, so several chunks of L = 1024).  The paper used
consecutive chapters of *War and Peace*; ``--set text=PATH`` reads any UTF-8 text instead.
Synthetic data (unit vectors, logits) is drawn in synthetic.py from seeded generators.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import UserError

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "data" / "founding_documents.txt"


def load_text(path: str = "") -> str:
    """The text at ``path`` ("" = the shipped corpus). Raises UserError naming `text` when unreadable."""
    p = Path(path).expanduser() if path else DEFAULT_CORPUS
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"text: file not found: {p}") from None
    except (UnicodeDecodeError, OSError) as e:
        raise UserError(f"text: cannot read {p} as UTF-8 text ({type(e).__name__})") from None
    if len(text.split()) < 50:
        raise UserError(f"text: {p} is too short ({len(text.split())} words)")
    return " ".join(text.split())
