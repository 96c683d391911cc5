"""Add a normalization at run time and run it through all five studies' normalization experiments.

The normalization registry (``attnlab.normalizations``) is the one place every study takes its attention
normalization from, by name.  Register a new entry -- its function, whether its weights sum to one, its
axes and whether it takes a per-head bias -- and every study's normalization-sensitive experiment can run
with it; a study that cannot use it says why (decided from the entry's declared properties).

The entry here is ``relu2max``, a sparse, softmax-free normalization:

    w_i = relu(1 + s_i - max_j s_j)^2 / sum_k relu(1 + s_k - max_j s_j)^2

The largest logit always gets relu(1)^2 = 1 in the numerator, so the denominator is >= 1 (stable at any
logit) and the weights sum to one; keys more than 1 below the maximum get exactly zero (like sparsemax).

    python examples/custom_normalization.py           # the matrix at the smoke scale (about a minute)
    python examples/custom_normalization.py --quick   # the studies' reduced (quick) scale

It runs the normalization matrix (``attnlab run matrix``) for the new entry and softmax side by side, in this
process (``executor="serial"``: an entry registered at run time lives in this process only; to use it in
worker processes, register it in a module the workers import, e.g. one named in ``ATTNLAB_STUDIES``).
"""
from __future__ import annotations

import argparse

import torch

import attnlab
from attnlab import normalizations

NAME = "relu2max"


def relu2max(s: torch.Tensor, dim: int, mask: torch.Tensor | None) -> torch.Tensor:
    """relu(1 + s_i - max_j s_j)^2 / sum_k relu(1 + s_k - max_j s_j)^2 over ``dim``; masked keys get 0 and a
    row with every key masked gets all zeros. s: logits of any shape (already divided by the temperature)."""
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    top = s.amax(dim=dim, keepdim=True).detach()
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    u = torch.relu(1.0 + s - top) ** 2
    if mask is not None:
        u = u.masked_fill(~mask, 0.0)
    return u / u.sum(dim=dim, keepdim=True).clamp_min(1.0)


def register() -> None:
    normalizations.register(NAME, relu2max, sums_to_one=True, axes="keys", bias=False,
                            formula="relu(1 + s_i - max s)^2 / sum_k relu(1 + s_k - max s)^2")


def main(argv=None) -> attnlab.Results:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the studies' quick scale instead of smoke")
    p.add_argument("--out", default=None, help="run directory (default: runs/matrix-<preset>-<hash>)")
    args = p.parse_args(argv)
    if NAME not in normalizations.available():
        register()
    w = normalizations.normalize(torch.tensor([[2.0, 1.5, 0.0, -3.0]]), NAME)
    print(f"{NAME} of logits (2, 1.5, 0, -3): {[round(x, 3) for x in w[0].tolist()]}")

    r = attnlab.run("matrix", preset="quick" if args.quick else "smoke", normalizations=(NAME, "softmax"),
                    executor="serial", out=args.out, progress=False)
    m = r.tables["matrix"]
    for study, part in m.groupby("study", sort=False):
        print(f"\n{study}")
        for norm, rows in part.groupby("normalization", sort=False):
            if rows.status.iloc[0] != "ok":
                print(f"  {norm:<10} {rows.status.iloc[0]}: {rows.reason.iloc[0][:100]}")
                continue
            metrics = ", ".join(f"{k} {v:.3g}" for k, v in zip(rows.metric, rows.value))
            print(f"  {norm:<10} {metrics}")
    print(f"\nclaims: {r.claims.verdicts}\nrun directory {r.dir}")
    return r


if __name__ == "__main__":
    main()
