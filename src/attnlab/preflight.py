"""Preflight: every check a run can make before it writes anything (docs/reliability.md).

A run, a sweep and ``reproduce`` call :func:`preflight` after the config is built and validated and before
the run directory is touched.  Each check raises :class:`attnlab.errors.UserError` (exit 2, one ``error:``
line naming the field or flag), so bad input found here writes nothing:

* device: ``config.device`` (from ``--device`` or ``--set device=...``, one field) exists on this machine;
* executor: ``--address`` only with ``--executor dask``; the address is ``[tcp://]HOST:PORT`` and a TCP
  connection to it opens within :data:`ADDRESS_TIMEOUT_S` seconds;
* output directory: it, or the nearest folder above it that exists, is a writable directory (whether it
  holds another run or foreign files is the store's check, :meth:`attnlab.store.RunStore.check`);
* the study's own ``Study.preflight(config)`` (models and data it will load: opened and checked);
* resources: generic limits on counts (:data:`MAX_SEEDS`, :data:`MAX_COUNT`) and the study's
  ``Study.estimate(config) -> (bytes, work[, field])`` against the machine's memory.  ``force=True``
  (``--force``) skips the resource refusals, never the other checks.
"""
from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path
from typing import Any

from .errors import ConfigError, UserError

ADDRESS_TIMEOUT_S = 3.0
MAX_SEEDS = 10_000          # seeds of one run; more is a sweep over `seed`, not one run (refused unless --force)
MAX_COUNT = 2**31 - 1       # any other integer size/count field (not `seed`): beyond one machine (unless --force)
EXECUTORS = ("local", "dask", "serial")


def check_device(device: str) -> None:
    """``config.device`` names a device this machine has."""
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device", f"{device}: CUDA is not available on this machine")
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ConfigError("device", f"{device}: no such CUDA device ({torch.cuda.device_count()} present)")
    elif device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("device", "mps: not available on this machine")


def parse_address(address: str) -> tuple[str, int]:
    """``[tcp://]HOST:PORT`` (IPv6 as ``[::1]:8786``) -> (host, port); UserError when malformed."""
    text = address.strip()
    for scheme in ("tcp://", "tls://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--address {address!r}: expected HOST:PORT of a Dask scheduler (e.g. 10.0.0.5:8786)")
    return host, int(port)


def check_executor(executor: str, address: str | None, workers: int | None,
                   timeout: float = ADDRESS_TIMEOUT_S) -> None:
    """The executor is known; ``address`` goes with dask only, is well formed and reachable."""
    if executor not in EXECUTORS:
        raise UserError(f"--executor {executor!r}: must be one of {', '.join(EXECUTORS)}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UserError(f"--workers {workers}: must be an integer >= 1")
    if address is None:
        return
    if executor != "dask":
        raise UserError(f"--address {address}: only with --executor dask (the executor is {executor})")
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror as e:
        raise UserError(f"--address {address}: unknown host {host!r} ({e.strerror or e})") from None
    except OSError as e:
        raise UserError(f"--address {address}: no Dask scheduler reachable within {timeout:g} s "
                        f"({e.strerror or type(e).__name__})") from None


def check_output(path: Path) -> None:
    """The output directory can be created or written: it, or its nearest existing parent, is a writable
    directory."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise UserError(f"--out {path}: exists and is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"--out {path}: not writable")
        return
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"--out {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {path}: cannot be created ({parent} is not writable)")


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, or a smaller cgroup limit."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def check_resources(study, config, force: bool = False, memory: int | None = None) -> dict[str, Any] | None:
    """Generic count limits and the study's estimate against the machine's memory; returns the estimate
    ``{"bytes", "work"}`` (None when the study gives none). ``force`` skips the refusals."""
    if not force:
        if config.seeds > MAX_SEEDS:
            raise ConfigError("seeds", f"{config.seeds} seeds in one run is beyond this lab's limit of {MAX_SEEDS} "
                              f"(sweep over `seed` instead, or --force to run anyway)")
        for f in dataclasses.fields(config):
            v = getattr(config, f.name)
            values = v if isinstance(v, tuple) else (v,)
            for x in values:
                if f.name != "seed" and isinstance(x, int) and not isinstance(x, bool) and abs(x) > MAX_COUNT:
                    raise ConfigError(f.name, f"{x} is beyond what one machine holds (a count above 2^31; "
                                      f"--force to run anyway)")
    estimate = getattr(study, "estimate", None)
    got = estimate(config) if estimate is not None else None
    if got is None:
        return None
    nbytes, work, *field = got
    memory = machine_memory() if memory is None else memory
    if nbytes > memory and not force:
        name = field[0] if field and field[0] else "config"
        raise ConfigError(name, f"this config needs about {_size(nbytes)} of memory, the machine has "
                          f"{_size(memory)} (lower the sizes, or --force to run anyway)")
    return {"bytes": int(nbytes), "work": float(work)}


def preflight(study, config, out: Path | None, executor: str, address: str | None, workers: int | None,
              force: bool = False) -> dict[str, Any] | None:
    """Every check above, in order; returns the resource estimate (see :func:`check_resources`)."""
    check_device(config.device)
    check_executor(executor, address, workers)
    if out is not None:
        check_output(out)
    estimate = check_resources(study, config, force)
    hook = getattr(study, "preflight", None)
    if hook is not None:
        hook(config)
    return estimate
