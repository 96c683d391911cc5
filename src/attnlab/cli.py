"""The ``attnlab`` command: list, run, sweep, reproduce, compare, report, ledger, bench.

run / sweep / reproduce are a thin layer over the Python API (:mod:`attnlab.api`, ``docs/api.md``).

Exit codes: 0 done (failed claims are reported; ``--strict`` turns them into 1); 2 bad input, with one
line ``error: ...`` on stderr naming the field or argument, and nothing written; 1 any other failure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import DivergenceError, UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        raise UserError(message)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="smoke | quick | paper (default: the study's default, quick)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable); tuples are comma-separated")
    p.add_argument("--seeds", type=int, help="number of seeds (sets the config field `seeds`)")
    p.add_argument("--out", help="run directory (default: runs/<study>-<preset>-<config hash>)")
    p.add_argument("--executor", default="local", choices=["local", "dask", "serial"])
    p.add_argument("--workers", type=int, help="worker processes (default: number of cores)")
    p.add_argument("--address", help="HOST:PORT of a Dask scheduler to join (with --executor dask)")
    p.add_argument("--device", help="torch device: cpu, cuda, cuda:1, ...")
    p.add_argument("--strict", action="store_true", help="exit 1 when a claim fails")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help="run even when the resource estimate exceeds this machine (other checks still apply)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="attnlab", description="attnlab: a laboratory for the theory of attention.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("list", help="studies and their presets")
    p = sub.add_parser("run", help="run a study (or `matrix`)")
    p.add_argument("study")
    _add_run_options(p)
    p = sub.add_parser("sweep", help="a grid of config overrides; every point a full run")
    p.add_argument("study")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="grid values (repeatable); values of tuple fields are separated by ';'")
    p.add_argument("--zip", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="paired values (repeatable): the i-th point takes the i-th value of every --zip key; "
                        "combined with --grid as a product")
    _add_run_options(p)
    p = sub.add_parser("reproduce", help="every study at a preset, then the report")
    p.add_argument("--preset", default="quick")
    p.add_argument("--out", default="runs/reproduce")
    p.add_argument("--studies", help="comma-separated subset of studies")
    p.add_argument("--matrix", action="store_true", help="also run the normalization matrix")
    p.add_argument("--matrix-preset", default="smoke", help="preset of the matrix run (smoke | quick)")
    p.add_argument("--executor", default="local", choices=["local", "dask", "serial"])
    p.add_argument("--workers", type=int)
    p.add_argument("--address")
    p.add_argument("--device")
    p.add_argument("--strict", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--force", action="store_true", help="run even above the resource estimate")
    p = sub.add_parser("compare", help="claims and tables that changed between two run directories "
                                       "(exit 1 when a verdict flipped)")
    p.add_argument("dir_a")
    p.add_argument("dir_b")
    p.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance on numbers (default 1e-6)")
    p.add_argument("--atol", type=float, default=0.0, help="absolute tolerance on numbers (default 0)")
    p.add_argument("--ignore", action="append", default=[], metavar="COLUMN",
                   help="a table column to leave out (repeatable; timing columns are always left out)")
    p = sub.add_parser("report", help="one self-contained HTML page from existing results")
    p.add_argument("dir")
    p = sub.add_parser("ledger", help="the paper's numbers beside ours, for a run or reproduce dir")
    p.add_argument("dir")
    p.add_argument("--recompute", action="store_true",
                   help="rebuild from the run's tables and the current reference.csv, not ledger.parquet")
    p.add_argument("--write", action="store_true", help="with --recompute: also rewrite each run's ledger.parquet")
    p = sub.add_parser("bench", help="performance benchmarks (ratios against a baseline run beside)")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true", help="one JSON object per benchmark")
    p.add_argument("--quick", action="store_true", help="small sizes (checks that they run)")
    return parser


def _check_counts(args) -> None:
    if getattr(args, "workers", None) is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: must be >= 1")
    if getattr(args, "seeds", None) is not None and args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}: must be >= 1")
    if getattr(args, "address", None) and getattr(args, "executor", None) != "dask":
        raise UserError(f"--address {args.address}: only with --executor dask (the executor is "
                        f"{getattr(args, 'executor', None)})")


def cmd_list(args) -> int:
    from .studies import registry

    studies = registry()
    if not studies:
        print("no studies registered")
    for name, s in studies.items():
        print(f"{name:<16} {s.paper:<18} presets: {', '.join(s.presets)}  (default {s.default_preset})")
        if s.title:
            print(f"{'':<16} {s.title}")
    from .matrix import STUDY as matrix

    print(f"{'matrix':<16} {'(cross-study run)':<18} presets: {', '.join(matrix.presets)}  (default "
          f"{matrix.default_preset}; `attnlab run matrix`, `attnlab reproduce --matrix`)")
    print(f"{'':<16} {matrix.title}")
    return 0


def cmd_run(args) -> int:
    from .api import execute_run as run_study  # the CLI is a thin layer over the Python API

    _check_counts(args)
    res = run_study(args.study, preset=args.preset, sets=args.sets, seeds=args.seeds,
                    out=args.out, executor=args.executor, workers=args.workers, address=args.address,
                    device=args.device, strict=args.strict, progress=not args.no_progress, force=args.force)
    return res.exit_code


def cmd_sweep(args) -> int:
    from .api import execute_sweep as run_sweep  # the CLI is a thin layer over the Python API
    from .runner import load_study
    from .sweep import parse_grid, parse_values

    _check_counts(args)
    config_cls = load_study(args.study).config_cls
    grid = parse_grid(args.grid, config_cls) if args.grid or not args.zip else {}
    zipped = parse_values(args.zip, config_cls, "--zip")
    res = run_sweep(args.study, grid, zip=zipped, preset=args.preset, sets=args.sets, seeds=args.seeds,
                    out=args.out, executor=args.executor, workers=args.workers, address=args.address,
                    device=args.device, strict=args.strict, progress=not args.no_progress, force=args.force)
    return res.exit_code


def cmd_reproduce(args) -> int:
    from .api import execute_reproduce as reproduce  # the CLI is a thin layer over the Python API
    from .studies import get_study

    _check_counts(args)
    studies = None
    if args.studies:
        studies = [s.strip() for s in args.studies.split(",") if s.strip()]
        for s in studies:
            get_study(s)
    return reproduce(preset=args.preset, out=args.out, executor=args.executor, workers=args.workers,
                     address=args.address, device=args.device, strict=args.strict,
                     progress=not args.no_progress, studies=studies, matrix=args.matrix,
                     matrix_preset=args.matrix_preset, force=args.force)


def cmd_compare(args) -> int:
    from .compare import compare_runs

    result = compare_runs(args.dir_a, args.dir_b, rtol=args.rtol, atol=args.atol, ignore=args.ignore)
    print(result.text(), end="")
    return result.exit_code


def cmd_report(args) -> int:
    path = Path(args.dir)
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory")
    try:
        from .report import write_report
    except ImportError:
        raise UserError("the HTML report is not available yet in this version") from None
    print(write_report(path))
    return 0


def cmd_ledger(args) -> int:
    from .ledger import dir_ledger, format_ledger

    if args.write and not args.recompute:
        raise UserError("--write needs --recompute (it rewrites ledger.parquet from the tables)")
    print(format_ledger(dir_ledger(Path(args.dir), recompute=args.recompute)), end="")
    if args.write:
        from .ledger import rewrite_ledgers

        for path in rewrite_ledgers(Path(args.dir)):
            print(f"wrote {path}")
    return 0


def cmd_bench(args) -> int:
    from .bench import registry

    benches = registry()
    if args.name and args.name not in benches:
        raise UserError(f"unknown benchmark {args.name!r} (known: {', '.join(benches)})")
    names = [args.name] if args.name else list(benches)
    for name in names:
        result = benches[name](quick=args.quick)
        if args.json:
            print(json.dumps(result.to_json()), flush=True)
        else:
            print(result.format(), flush=True)
    return 0


COMMANDS = {"list": cmd_list, "run": cmd_run, "sweep": cmd_sweep, "reproduce": cmd_reproduce,
            "compare": cmd_compare, "report": cmd_report, "bench": cmd_bench, "ledger": cmd_ledger}


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: workers are ended, finished tasks kept, one ``interrupted:`` line."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        return COMMANDS[args.command](args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except DivergenceError as e:
        print(f"diverged: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print("interrupted: finished tasks are kept; rerun the same command to resume", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
