"""Reproduce one cell of Table 2 of arXiv 2510.06662 (head-count) from Python.

Table 2 lists the validation NMSE of the paper's one-layer CLS-query transformer on the D = 4 retrieval task
y = sum_{i<=4} max_t a_i^T x_t, for h heads and sequence length T.  The cell h = 4, T = 16 (h = D: the sharp
drop) reads 4.4e-5 in the paper.  Here we train exactly that cell -- one (h, T) point instead of the study's
whole grid -- and read the paper's number beside ours from the run's ledger.

    python examples/table2_cell.py                   # the quick preset's training budget (minutes)
    python examples/table2_cell.py --preset paper    # the paper-like budget (GPU or patience)
    python examples/table2_cell.py --smoke           # seconds: a tiny budget, checks that it runs

At ``--smoke`` the budget is far too small for the paper's number; the point is the API.
"""
from __future__ import annotations

import argparse

import attnlab


def main(argv=None) -> attnlab.Results:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--h", type=int, default=4, help="heads (the cell's row; default 4 = D)")
    p.add_argument("--T", type=int, default=16, help="sequence length (the cell's column; default 16)")
    p.add_argument("--preset", default="quick")
    p.add_argument("--smoke", action="store_true", help="seconds-sized run (tests)")
    p.add_argument("--out", default=None, help="run directory (default: runs/head-count-<preset>-<hash>)")
    args = p.parse_args(argv)

    overrides = dict(h=args.h, T=args.T, D=4, N=32, n=8)       # the Table 2 setting, one cell
    if args.smoke:
        overrides.update(n_train=600, n_val=300, epochs=4)     # a few seconds of training
    r = attnlab.run("head-count", preset="smoke" if args.smoke else args.preset, out=args.out,
                    executor="serial" if args.smoke else "local", progress=not args.smoke, **overrides)

    summary = r.tables["summary"]                                # min / mean over seeds, the Table 2 format
    cell = summary[(summary.experiment == "main") & (summary.h == args.h) & (summary["T"] == args.T)]
    ours = float(cell["nmse_mean"].iloc[0])
    print(f"Table 2, h={args.h}, T={args.T}: our mean validation NMSE {ours:.3g} over {int(cell.seeds.iloc[0])} "
          f"seed(s) ({r.preset} preset{', smoke budget' if args.smoke else ''}); run directory {r.dir}")
    ledger = r.ledger
    if ledger is not None and len(ledger):
        row = ledger[ledger["id"] == f"table2_nmse_h{args.h}_T{args.T}"]
        if len(row):
            x = row.iloc[0]
            print(f"paper {x['paper_value']:.3g} ({x['source']}); ours {x['ours']:.3g}; judgement: {x['judgement']}")
    return r


if __name__ == "__main__":
    main()
