"""The lab's one seed path (attnlab.rng): distinct keys give distinct streams, equal keys equal ones."""
import numpy as np
import pytest
import torch

from attnlab import rng


def test_old_collisions_are_gone():
    # parts joined without a separator (specialization's old _seed) and strings cut to 8 bytes (head-count's)
    assert rng.derive_seed(0, "plateau", "data", 11, 1) != rng.derive_seed(0, "plateau", "data", 1, 11)
    assert rng.derive_seed(0, "variance_a", 1) != rng.derive_seed(0, "variance_b", 1)


def test_type_tags_and_nesting_distinguish_keys():
    keys = [(1,), ("1",), (1.0,), (True,), ((1, 2),), (1, 2), ((1,), 2), (None,), ("a", "b"), ("ab",), ()]
    seeds = {rng.derive_seed(7, *k) for k in keys}
    assert len(seeds) == len(keys)
    assert rng.derive_seed(7, "x") != rng.derive_seed(8, "x")       # the run seed counts


def test_equal_keys_equal_streams_and_many_distinct():
    a = rng.numpy_rng(3, "model", 2, 0.5).standard_normal(5)
    b = rng.numpy_rng(3, "model", 2, 0.5).standard_normal(5)
    np.testing.assert_array_equal(a, b)
    seeds = {rng.derive_seed(0, "task", h, T, s) for h in range(8) for T in (8, 16, 32) for s in range(20)}
    assert len(seeds) == 8 * 3 * 20
    ta = torch.randn(4, generator=rng.torch_generator(1, "w"))
    tb = torch.randn(4, generator=rng.torch_generator(1, "w"))
    assert torch.equal(ta, tb)
    assert 0 <= rng.derive_seed(0, "x") < 2 ** 63


def test_bad_parts_refused():
    with pytest.raises(TypeError):
        rng.derive_seed(0, {"a": 1})
    with pytest.raises(ValueError):
        rng.derive_seed(-1, "x")
