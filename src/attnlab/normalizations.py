"""Registry of attention normalizations: one place, used by every study.

``normalize(scores, name, dim=-1, mask=None, temperature=1.0, **params)`` maps attention scores
(logits) of any leading shape to attention weights.  Conventions shared by every entry:

* ``scores`` is a float32/float64 tensor; the logits used are ``s = scores / temperature``.
* ``dim`` is the key axis (an int), or a tuple of axes for the joint ``bayes_softmax``.
* ``mask`` is a boolean tensor broadcastable to ``scores``; ``True`` = the key may be attended.
  Masked entries get exactly zero weight; a row with every key masked gets all zeros (never NaN).
* Every entry is stable at logits of +-1e4 and temperatures in [1e-4, 1e4] (no NaN/inf) and is
  differentiable with autograd.

| name          | weights                                                                                |
|---------------|----------------------------------------------------------------------------------------|
| softmax       | exp(s_i) / sum_j exp(s_j)                                                               |
| softmax1      | exp(s_i) / (exp(b) + sum_j exp(s_j)); b = ``bias`` (default 0: an implicit sink of logit 0, Miller 2023) |
| bayes_softmax | exp(s_i + b_h) / sum_{h', j} exp(s_{h'j} + b_{h'}), jointly over the tuple ``dim``; ``bias`` b per head; optional ``sink`` logit adds exp(sink) to the denominator |
| linear        | s_i (unnormalized linear attention); ``affine=True`` gives 1 + s_i                      |
| sigmoid       | 1 / (1 + exp(-(s_i + b))), b = ``bias`` (default 0); elementwise, no normalization      |
| sparsemax     | argmin_p ||p - s||^2 on the simplex (Martins & Astudillo 2016), ``entmax`` package     |
| entmax15      | 1.5-entmax (Peters et al. 2019), ``entmax`` package                                     |
| ssmax         | softmax(c * log(n) * s), n = number of unmasked keys in the row; ``c`` (default 1) is the scale (Nakanishi 2025, scalable softmax) |

Each entry declares how it normalizes, so that every model in every study can take any entry by name
through :func:`attend` without knowing names:

* ``axes``: ``"keys"`` (each query's row over the keys) or ``"heads_and_keys"`` (one normalization jointly
  over the heads and the keys of a query, like ``bayes_softmax``);
* ``bias``: whether the entry takes a per-head ``bias`` logit (a model gives it a learnable one).

New entries are added with :func:`register` and then reach every study (the normalization matrix tries
every registered name).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import torch

Dim = int | tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Normalization:
    name: str
    fn: Callable[..., torch.Tensor]   # fn(s, dim, mask, **params) with s already divided by temperature
    sums_to_one: bool                 # weights over `dim` sum to 1 (when at least one key is unmasked)
    formula: str
    multi_dim: bool = False           # accepts a tuple of dims
    axes: str = "keys"                # "keys" | "heads_and_keys" (joint over heads and keys)
    bias: bool = False                # takes a per-head `bias` logit (learnable in the models)


_REGISTRY: dict[str, Normalization] = {}


AXES = ("keys", "heads_and_keys")


def register(name: str, fn, *, sums_to_one: bool, formula: str, multi_dim: bool = False, axes: str = "keys",
             bias: bool = False) -> None:
    """Add a normalization to the registry: ``fn(s, dim, mask, **params) -> weights`` (``s`` already divided
    by the temperature).  ``axes="heads_and_keys"`` entries get a tuple ``dim`` (heads, keys) from
    :func:`attend`; ``bias=True`` entries get the model's per-head ``bias`` logit."""
    if axes not in AXES:
        raise ValueError(f"axes must be one of {AXES}, got {axes!r}")
    if axes == "heads_and_keys":
        multi_dim = True
    _REGISTRY[name] = Normalization(name, fn, sums_to_one, formula, multi_dim, axes, bias)


def unregister(name: str) -> None:
    """Remove an entry (for tests that register one at run time)."""
    _REGISTRY.pop(name, None)


def available() -> list[str]:
    """Names of the registered normalizations."""
    return list(_REGISTRY)


def info(name: str) -> Normalization:
    if name not in _REGISTRY:
        raise ValueError(f"unknown normalization {name!r} (available: {', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def normalize(scores: torch.Tensor, name: str, dim: Dim = -1, mask: torch.Tensor | None = None,
              temperature: float = 1.0, **params) -> torch.Tensor:
    """Attention weights from ``scores`` under the normalization ``name`` (see the module table)."""
    entry = info(name)
    if not torch.is_floating_point(scores):
        raise TypeError("scores must be a floating-point tensor")
    if isinstance(dim, (tuple, list)) and not entry.multi_dim:
        if len(dim) != 1:
            raise ValueError(f"normalization {name!r} takes a single dim, got {dim}")
        dim = dim[0]
    if isinstance(temperature, torch.Tensor):
        s = scores / temperature
    else:
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be positive and finite, got {temperature}")
        s = scores / temperature if temperature != 1.0 else scores
    if mask is not None:
        mask = torch.as_tensor(mask, device=scores.device).to(torch.bool).expand_as(s)
    return entry.fn(s, dim, mask, **params)


def attend(scores: torch.Tensor, name: str, *, head_dim: int, key_dim: int = -1,
           mask: torch.Tensor | None = None, bias: torch.Tensor | None = None, temperature: float = 1.0,
           **params) -> torch.Tensor:
    """Attention weights of a multi-head ``scores`` tensor under any registry entry, by its declared axes.

    scores: (..., H, ..., K) with the heads at ``head_dim`` and the keys at ``key_dim``.
    bias:   per-head logit broadcastable to ``scores`` with size 1 on the key axis, e.g. (H, 1, 1) for
            (B, H, Q, K); passed on only to entries that declare ``bias=True`` (ignored by the others).
    ``axes == "keys"``: each (head, query) row is normalized over the keys.  ``axes == "heads_and_keys"``:
    one normalization over heads and keys jointly (``bayes_softmax``: exp(s_hj + b_h) / sum_h'j ...).
    """
    entry = info(name)
    params = dict(params)
    if bias is not None and entry.bias:
        params["bias"] = bias
    dim = (head_dim, key_dim) if entry.axes == "heads_and_keys" else key_dim
    return normalize(scores, name, dim=dim, mask=mask, temperature=temperature, **params)


def has_bias(name: str) -> bool:
    """Whether entry ``name`` takes a per-head bias logit (a model then makes it a learnable parameter)."""
    return info(name).bias


# ---- helpers --------------------------------------------------------------------------------------------
def _dims(dim: Dim) -> tuple[int, ...]:
    return tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)


def _stable_exp(s: torch.Tensor, dim: Dim, mask, extra_logit=None):
    """exp(s - m) with masked entries 0, and m = max over dim (and over extra_logit, e.g. a sink).
    Returns (e, m) with m keepdim; m is finite even for fully masked rows."""
    dims = _dims(dim)
    neg_inf = torch.tensor(float("-inf"), dtype=s.dtype, device=s.device)
    z = s if mask is None else torch.where(mask, s, neg_inf)
    m = torch.amax(z, dim=dims, keepdim=True)
    if extra_logit is not None:
        m = torch.maximum(m, extra_logit)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m)).detach()
    e = torch.exp(z - m)
    return e, m


def _softmax(s, dim, mask):
    e, _ = _stable_exp(s, dim, mask)
    denom = e.sum(dim=_dims(dim), keepdim=True)
    return e / denom.clamp_min(torch.finfo(s.dtype).tiny)


def _as_logit(b, like: torch.Tensor, dim) -> torch.Tensor:
    b = torch.as_tensor(b, dtype=like.dtype, device=like.device)
    shape = list(like.shape)
    for d in _dims(dim):
        shape[d] = 1
    return b.expand(shape) if b.dim() <= len(shape) else b


def _softmax1(s, dim, mask, bias=0.0):
    b = _as_logit(bias, s, dim)
    e, m = _stable_exp(s, dim, mask, extra_logit=b)
    denom = e.sum(dim=_dims(dim), keepdim=True) + torch.exp(b - m)
    return e / denom


def _bayes_softmax(s, dim, mask, bias=None, sink=None):
    """Joint softmax over the tuple ``dim`` (e.g. (head, token)); ``bias`` broadcasts over s (per head)."""
    if bias is not None:
        s = s + torch.as_tensor(bias, dtype=s.dtype, device=s.device)
    if sink is None:
        return _softmax(s, dim, mask)
    return _softmax1(s, dim, mask, bias=sink)


def _linear(s, dim, mask, affine: bool = False):
    w = 1.0 + s if affine else s
    return w if mask is None else torch.where(mask, w, torch.zeros_like(w))


def _sigmoid(s, dim, mask, bias=0.0):
    w = torch.sigmoid(s + torch.as_tensor(bias, dtype=s.dtype, device=s.device))
    return w if mask is None else torch.where(mask, w, torch.zeros_like(w))


def _sparse_family(fn_name: str, gap: float):
    """sparsemax / entmax15 from the `entmax` package. Masked keys are filled with a logit far enough below
    the row maximum that they are provably outside the support (gap >= 2 suffices for alpha in {1.5, 2}),
    then zeroed exactly."""

    def fn(s, dim, mask):
        import entmax

        f = getattr(entmax, fn_name)
        if mask is None:
            return f(s, dim=dim)
        neg_inf = torch.tensor(float("-inf"), dtype=s.dtype, device=s.device)
        row_max = torch.amax(torch.where(mask, s, neg_inf), dim=dim, keepdim=True)
        row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max)).detach()
        fill = row_max - gap - 4.0 * row_max.abs()
        z = torch.where(mask, s, fill.expand_as(s))
        w = f(z, dim=dim)
        return torch.where(mask, w, torch.zeros_like(w))

    return fn


def _ssmax(s, dim, mask, c=1.0):
    if mask is None:
        n = torch.tensor(float(s.shape[dim]), dtype=s.dtype, device=s.device)
    else:
        n = mask.sum(dim=dim, keepdim=True).to(s.dtype).clamp_min(1.0)
    scale = torch.as_tensor(c, dtype=s.dtype, device=s.device) * torch.log(n)
    return _softmax(s * scale, dim, mask)


register("softmax", _softmax, sums_to_one=True, formula="exp(s_i) / sum_j exp(s_j)", multi_dim=True)
register("softmax1", _softmax1, sums_to_one=False, formula="exp(s_i) / (exp(b) + sum_j exp(s_j))", bias=True)
register("bayes_softmax", _bayes_softmax, sums_to_one=True, axes="heads_and_keys", bias=True,
         formula="exp(s_hi + b_h) / sum_{h',j} exp(s_h'j + b_h') jointly over heads and tokens")
register("linear", _linear, sums_to_one=False, formula="s_i, or 1 + s_i with affine=True")
register("sigmoid", _sigmoid, sums_to_one=False, formula="1 / (1 + exp(-(s_i + b)))", bias=True)
register("sparsemax", _sparse_family("sparsemax", gap=4.0), sums_to_one=True,
         formula="Euclidean projection of s onto the simplex")
register("entmax15", _sparse_family("entmax15", gap=6.0), sums_to_one=True, formula="1.5-entmax of s")
register("ssmax", _ssmax, sums_to_one=True, formula="softmax(c * log(n) * s), n = number of keys")


def causal_mask(n_query: int, n_key: int | None = None, device=None) -> torch.Tensor:
    """(n_query, n_key) boolean mask, True where key <= query (aligned at the end when n_key > n_query)."""
    n_key = n_query if n_key is None else n_key
    q = torch.arange(n_query, device=device)[:, None] + (n_key - n_query)
    k = torch.arange(n_key, device=device)[None, :]
    return k <= q


def padding_mask(lengths: Sequence[int] | torch.Tensor, n_key: int, device=None) -> torch.Tensor:
    """(batch, 1, n_key) boolean mask, True for the first lengths[b] keys of sequence b."""
    lengths = torch.as_tensor(lengths, device=device)
    return (torch.arange(n_key, device=device)[None, :] < lengths[:, None])[:, None, :]
