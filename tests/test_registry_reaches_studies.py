"""The registry keeps its promise: a normalization registered at run time (here, in the test) runs in all
five studies' normalization experiments without touching study code (issue 12, item 5)."""
import math

import pytest
import torch

from attnlab import normalizations
from attnlab.studies import registry

NAME = "softmax_half_test"


def _softmax_half(s, dim, mask):
    """softmax(s / 2) over `dim`, masked keys at exactly zero (a new entry no study has heard of)."""
    z = s / 2
    if mask is not None:
        z = torch.where(mask, z, torch.tensor(float("-inf"), dtype=s.dtype))
    m = torch.amax(z, dim=dim, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(z - m)
    return e / e.sum(dim=dim, keepdim=True).clamp_min(torch.finfo(s.dtype).tiny)


@pytest.fixture
def runtime_entry():
    normalizations.register(NAME, _softmax_half, sums_to_one=True, formula="exp(s_i/2) / sum_j exp(s_j/2)")
    yield NAME
    normalizations.unregister(NAME)


@pytest.mark.parametrize("study_name", ["specialization", "copy-transition", "head-count", "gd-heads",
                                        "selectivity"])
def test_runtime_normalization_reaches_study(runtime_entry, study_name):
    study = registry()[study_name]
    result = study.normalization_matrix(runtime_entry, "smoke")
    assert isinstance(result, dict) and result, f"{study_name} returned {result!r}"
    assert all(math.isfinite(float(v)) for v in result.values()), result
