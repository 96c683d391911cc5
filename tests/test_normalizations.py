"""Property tests of the normalization registry (hypothesis) and its numerical edge cases."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.normalizations import available, causal_mask, info, normalize, padding_mask

NAMES = available()
SUMS_TO_ONE = [n for n in NAMES if info(n).sums_to_one]


def test_registry_has_the_required_entries():
    for name in ["softmax", "softmax1", "bayes_softmax", "linear", "sigmoid", "sparsemax", "entmax15", "ssmax"]:
        assert name in NAMES


def _scores(draw_shape, seed, scale, dtype):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*draw_shape, generator=g, dtype=torch.float64)).to(dtype)


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, keys=st.integers(1, 9), seed=st.integers(0, 10_000), scale=st.sampled_from([0.1, 1.0, 30.0]),
       name=st.sampled_from(SUMS_TO_ONE), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_normalized_weights_sum_to_one(shape, keys, seed, scale, name, dtype):
    s = _scores(shape + (keys,), seed, scale, dtype)
    dim = (-2, -1) if name == "bayes_softmax" else -1
    w = normalize(s, name, dim=dim)
    assert w.dtype == dtype and w.shape == s.shape
    assert (w >= 0).all()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(w.sum(dim=dim), torch.ones((), dtype=dtype), atol=tol)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, keys=st.integers(1, 9), seed=st.integers(0, 10_000), scale=st.sampled_from([0.1, 3.0, 100.0]))
def test_softmax1_is_at_most_softmax(shape, keys, seed, scale):
    s = _scores(shape + (keys,), seed, scale, torch.float64)
    w1, w = normalize(s, "softmax1"), normalize(s, "softmax")
    assert (w1 <= w + 1e-15).all()
    # the missing mass is the sink's weight 1 / (1 + sum exp s)
    sink = 1.0 / (1.0 + torch.exp(s).sum(-1))
    assert torch.allclose(1 - w1.sum(-1), sink, rtol=1e-9, atol=1e-12)


def _sparsemax_reference(z):
    """Float64 sparsemax by the sort-based formula (Martins & Astudillo 2016, alg. 1), one row at a time."""
    out = torch.empty_like(z)
    for i, row in enumerate(z.reshape(-1, z.shape[-1])):
        srt, _ = torch.sort(row, descending=True)
        css = torch.cumsum(srt, 0)
        k = torch.arange(1, len(row) + 1, dtype=row.dtype)
        support = (1 + k * srt) > css
        kz = int(support.nonzero().max()) + 1
        tau = (css[kz - 1] - 1) / kz
        out.reshape(-1, z.shape[-1])[i] = torch.clamp(row - tau, min=0)
    return out


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 6), keys=st.integers(1, 12), seed=st.integers(0, 10_000),
       scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_sparsemax_equals_entmax_alpha_2_and_float64_reference(rows, keys, seed, scale):
    import entmax

    s = _scores((rows, keys), seed, scale, torch.float64)
    w = normalize(s, "sparsemax")
    ref = _sparsemax_reference(s)
    alpha2 = entmax.entmax_bisect(s, alpha=2.0, dim=-1, n_iter=100)
    assert torch.allclose(w, ref, atol=1e-10)
    assert torch.allclose(w, alpha2, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 3), keys=st.integers(1, 8), seed=st.integers(0, 10_000), name=st.sampled_from(NAMES),
       scale=st.sampled_from([1.0, 1e4]))
def test_masked_entries_get_zero_weight(batch, keys, seed, name, scale):
    s = _scores((batch, 2, keys, keys), seed, scale, torch.float32)
    mask = causal_mask(keys)
    dim = (1, 3) if name == "bayes_softmax" else -1
    w = normalize(s, name, dim=dim, mask=mask)
    assert torch.isfinite(w).all()
    assert (w[..., ~mask] == 0).all()
    lengths = torch.randint(1, keys + 1, (batch,), generator=torch.Generator().manual_seed(seed))
    pm = padding_mask(lengths, keys)[:, None]  # (B, 1, 1, K)
    w = normalize(s, name, dim=dim, mask=pm)
    assert (w.masked_select(~pm.expand_as(w)) == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_fully_masked_row_is_zero_not_nan(name):
    s = torch.randn(2, 3, 4)
    mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    mask[0] = True
    dim = (1, 2) if name == "bayes_softmax" else -1
    w = normalize(s, name, dim=dim, mask=mask)
    assert torch.isfinite(w).all() and (w[1] == 0).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("temperature", [1e-4, 1.0, 1e4])
def test_stable_at_extreme_logits_and_temperatures(name, dtype, temperature):
    s = torch.tensor([[1e4, -1e4, 0.0, 1e4 - 1], [-1e4, -1e4, -1e4, -1e4]], dtype=dtype, requires_grad=True)
    dim = (0, 1) if name == "bayes_softmax" else -1
    w = normalize(s, name, dim=dim, temperature=temperature)
    assert torch.isfinite(w).all(), (name, w)
    w.pow(2).sum().backward()
    assert torch.isfinite(s.grad).all(), (name, s.grad)


@pytest.mark.parametrize("name", NAMES)
def test_autograd_matches_finite_differences(name):
    s = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    dim = (0, 1) if name == "bayes_softmax" else -1
    if name in ("sparsemax", "entmax15"):
        s = (3 * torch.randn(2, 5, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: normalize(x, name, dim=dim), (s,), eps=1e-6, atol=1e-5)


def test_ssmax_keeps_max_weight_while_softmax_fades():
    """One key has logit 1 above n - 1 keys at 0: softmax's max weight -> 0 like e/n, ssmax's stays ~ 1 - 1/e."""
    sm, ss = [], []
    for n in [16, 256, 4096, 65536]:
        s = torch.zeros(n, dtype=torch.float64)
        s[0] = 1.0
        sm.append(float(normalize(s, "softmax").max()))
        ss.append(float(normalize(s, "ssmax").max()))
    assert sm[-1] < 1e-3 and sm == sorted(sm, reverse=True)
    # closed form: ssmax max weight = n / (n + n - 1) -> 1/2 (logit gap 1 scaled by log n)
    for n, w in zip([16, 256, 4096, 65536], ss):
        assert math.isclose(w, n / (2 * n - 1), rel_tol=1e-9)
    assert min(ss) > 0.49


def test_bayes_softmax_is_joint_with_per_head_bias():
    s = torch.randn(3, 4, dtype=torch.float64)  # (heads, tokens)
    b = torch.tensor([[0.5], [-1.0], [2.0]], dtype=torch.float64)
    w = normalize(s, "bayes_softmax", dim=(0, 1), bias=b)
    ref = torch.exp(s + b) / torch.exp(s + b).sum()
    assert torch.allclose(w, ref)
    w_sink = normalize(s, "bayes_softmax", dim=(0, 1), bias=b, sink=0.0)
    assert torch.allclose(w_sink, torch.exp(s + b) / (1 + torch.exp(s + b).sum()))


def test_linear_affine_sigmoid_and_temperature():
    s = torch.tensor([[-2.0, 0.0, 3.0]], dtype=torch.float64)
    assert torch.equal(normalize(s, "linear"), s)
    assert torch.equal(normalize(s, "linear", affine=True), 1 + s)
    assert torch.allclose(normalize(s, "sigmoid", bias=1.0), torch.sigmoid(s + 1))
    assert torch.allclose(normalize(s, "softmax", temperature=2.0), torch.softmax(s / 2, -1))
    assert torch.allclose(normalize(s, "softmax1", bias=torch.tensor([[0.7]], dtype=torch.float64)),
                          torch.exp(s) / (math.exp(0.7) + torch.exp(s).sum()))


def test_unknown_name_and_bad_temperature():
    with pytest.raises(ValueError, match="unknown normalization"):
        normalize(torch.zeros(3), "nope")
    with pytest.raises(ValueError, match="temperature"):
        normalize(torch.zeros(3), "softmax", temperature=0.0)
