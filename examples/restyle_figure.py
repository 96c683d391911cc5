"""Load a run directory and redraw a figure with your own styling.

Any run directory works the same way -- one written by ``attnlab run`` or by ``attnlab.run`` -- because
``attnlab.load`` reads the directory, not the process that wrote it.  Here: the head-count study's NMSE
against the number of heads h (the paper's Fig. 1a), one line per sequence length T, log scale, our colours.

    python examples/restyle_figure.py runs/head-count-quick-<hash>     # an existing head-count run
    python examples/restyle_figure.py --smoke                          # makes a tiny run first (seconds)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import attnlab  # noqa: E402


def redraw(run: attnlab.Results, out: Path) -> Path:
    """NMSE (min over seeds) against h, one line per T, from the run's ``summary`` table."""
    df = run.tables["summary"]
    df = df[df.experiment == "main"]
    with plt.style.context("seaborn-v0_8-whitegrid"):
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        colours = plt.cm.viridis([0.15, 0.55, 0.85, 0.3, 0.7])
        for colour, (T, part) in zip(colours, df.groupby("T")):
            part = part.sort_values("h")
            ax.plot(part.h, part.nmse_min, "o-", color=colour, lw=2, ms=6, label=f"T = {T}")
        D = int(run.config["D"])
        ax.axvline(D, color="0.4", ls=":", lw=1)
        ax.text(D, 0.98, "  h = D", transform=ax.get_xaxis_transform(), ha="left", va="top", fontsize=8,
                color="0.3")
        ax.set_xticks(sorted(df.h.unique()))
        ax.set(yscale="log", xlabel="heads h", ylabel="validation NMSE (min over seeds)",
               title=f"head-count, {run.preset} preset")
        ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120)
        plt.close(fig)
    return out


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", nargs="?", help="a head-count run directory")
    p.add_argument("--smoke", action="store_true", help="make a tiny head-count run first (tests)")
    p.add_argument("--out", default=None, help="the PNG (default: RUN_DIR/figures/my_nmse_vs_h.png)")
    args = p.parse_args(argv)
    if args.run_dir:
        run = attnlab.load(args.run_dir)
    elif args.smoke:
        run = attnlab.run("head-count", preset="smoke", executor="serial", progress=False, epochs=3,
                          n_train=400, n_val=200)
    else:
        p.error("give a head-count run directory (or --smoke)")
    if run.study != "head-count":
        p.error(f"{run.dir} is a run of {run.study}, not head-count")
    print("the study's own figures:", ", ".join(f.name for f in run.figures))
    out = redraw(run, Path(args.out) if args.out else run.dir / "figures" / "my_nmse_vs_h.png")
    print(f"redrawn: {out}")
    return out


if __name__ == "__main__":
    main()
