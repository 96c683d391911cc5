"""A sweep on a Dask cluster, with paired values (--zip) from Python.

The head-count study's claim is about h = D: the error drops sharply once there are as many heads as
retrieved features.  A *paired* sweep follows that diagonal, (D, h) = (2, 2), (3, 3), (4, 4), instead of the
whole (D, h) grid; a grid key multiplies it (here two sequence lengths).  Every point is a full run in
OUT/points/<point>/; the tasks of all points share one Dask cluster.

    python examples/dask_sweep.py                                # a LocalCluster of 2 workers, quick preset
    python examples/dask_sweep.py --address tcp://host:8786      # join your cluster (dask-jobqueue, k8s, ...)
    python examples/dask_sweep.py --smoke                        # seconds-sized (tests)

The same sweep from the shell:
    attnlab sweep head-count --zip D=2,3,4 --zip h=2,3,4 --grid T=16,32 --executor dask
"""
from __future__ import annotations

import argparse

import attnlab


def main(argv=None) -> attnlab.Results:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", help="HOST:PORT of a Dask scheduler (default: start a LocalCluster)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    p.add_argument("--preset", default="quick")
    p.add_argument("--smoke", action="store_true", help="seconds-sized (tests)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    zip_, grid, extra = {"D": [2, 3, 4], "h": [2, 3, 4]}, {"T": [16, 32]}, {}
    if args.smoke:   # two points, tiny training
        zip_, grid = {"D": [2, 3], "h": [2, 3]}, {}
        extra = dict(T=16, n_train=300, n_val=200, epochs=2, construction_samples=200, variance_samples=2000)
    s = attnlab.sweep("head-count", grid=grid, zip=zip_, preset="smoke" if args.smoke else args.preset,
                      executor="dask", address=args.address, workers=args.workers, out=args.out,
                      progress=not args.smoke, **extra)
    nmse = s.tables["nmse"]
    main_ = nmse[nmse.experiment == "main"]
    print(main_.groupby(["D", "h", "T"], as_index=False)["nmse_val"].min().to_string(index=False))
    for point, run in s.points.items():
        print(f"{point}: {run.claims.verdicts.get('sharp_drop_at_h_equals_D', 'n/a')}")
    print(f"sweep directory {s.dir}")
    return s


if __name__ == "__main__":
    main()
