"""Small shared helpers for the studies' matplotlib figures (Agg backend, no display)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, outdir: Path, name: str, dpi: int = 110) -> str:
    """Lay out, write ``outdir/name`` as PNG, close the figure; return the file name."""
    fig.tight_layout()
    fig.savefig(Path(outdir) / name, dpi=dpi)
    plt.close(fig)
    return name
