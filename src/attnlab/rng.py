"""One seed path for the whole lab: every random draw derives from the run's seed and a task's key parts.

``derive_seed(run_seed, *key)`` hashes a *canonical encoding* of the key parts (each part tagged with its
type, nested tuples kept as nested lists, serialized as JSON) with SHA-256 and feeds the run seed and the
digest words to :class:`numpy.random.SeedSequence`.  Two keys give the same stream only when they are equal
part for part: ``("data", 11, 1)`` and ``("data", 1, 11)`` differ, and so do ``"variance_a"`` and
``"variance_b"`` (every character of a string counts), ``1`` and ``"1"``, ``1`` and ``1.0``.

Use:

    from attnlab import rng
    g = rng.numpy_rng(config.seed, "plateau", "data", nu, replica)      # numpy Generator
    t = rng.torch_generator(config.seed, "model", h, T, seed)          # torch.Generator (cpu by default)
    s = rng.derive_seed(config.seed, "arpack", row)                    # a 63-bit int, for libraries that take one

No study defines a seed function of its own.
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

__all__ = ["canonical_key", "seed_sequence", "derive_seed", "numpy_rng", "torch_generator"]


def _encode(part: Any):
    if isinstance(part, bool) or isinstance(part, np.bool_):
        return ["b", int(bool(part))]
    if isinstance(part, (int, np.integer)):
        return ["i", str(int(part))]
    if isinstance(part, (float, np.floating)):
        f = float(part)
        return ["f", f.hex() if math.isfinite(f) else repr(f)]
    if isinstance(part, str):
        return ["s", part]
    if part is None:
        return ["n"]
    if isinstance(part, (tuple, list)):
        return ["t", [_encode(p) for p in part]]
    raise TypeError(f"seed key parts must be bool/int/float/str/None or tuples of them, got {type(part).__name__}")


def canonical_key(*key: Any) -> str:
    """The canonical text of a key: a JSON list of type-tagged parts (injective on keys)."""
    return json.dumps([_encode(p) for p in key], separators=(",", ":"), ensure_ascii=True)


def seed_sequence(run_seed: int, *key: Any) -> np.random.SeedSequence:
    """SeedSequence(entropy = [run_seed, 8 words of SHA-256(canonical_key(key))])."""
    if int(run_seed) < 0:
        raise ValueError(f"run seed must be >= 0, got {run_seed}")
    digest = hashlib.sha256(canonical_key(*key).encode("ascii")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4)]
    return np.random.SeedSequence([int(run_seed), *words])


def derive_seed(run_seed: int, *key: Any) -> int:
    """A 63-bit integer seed for ``key`` under ``run_seed`` (for torch.manual_seed, scipy, ARPACK, ...)."""
    lo, hi = seed_sequence(run_seed, *key).generate_state(2, dtype=np.uint32)
    return int((int(hi) << 32 | int(lo)) & ((1 << 63) - 1))


def numpy_rng(run_seed: int, *key: Any) -> np.random.Generator:
    """A numpy Generator (PCG64) on the stream of ``key``."""
    return np.random.default_rng(seed_sequence(run_seed, *key))


def torch_generator(run_seed: int, *key: Any, device="cpu"):
    """A torch.Generator on ``device`` seeded with ``derive_seed(run_seed, *key)``."""
    import torch

    return torch.Generator(device=device).manual_seed(derive_seed(run_seed, *key))
