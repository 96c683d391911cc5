"""Multi-head attention building block: shapes, naming, normalization by name, agreement with a naive loop."""
import math

import pytest
import torch

from attnlab.layers import MultiHeadAttention
from attnlab.normalizations import available, causal_mask


@pytest.mark.parametrize("name", available())
def test_shapes_and_grad(name):
    torch.manual_seed(0)
    m = MultiHeadAttention(12, 3, normalization=name, head_bias=True)
    x = torch.randn(2, 5, 12)
    o = m(x, mask=causal_mask(5))
    assert o.out.shape == (2, 5, 12) and o.z.shape == (2, 5, 3, 4)
    assert o.pattern.shape == o.scores.shape == (2, 3, 5, 5)
    o.out.square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_softmax_attention_matches_per_head_loop():
    torch.manual_seed(1)
    m = MultiHeadAttention(8, 2, normalization="softmax").double()
    x = torch.randn(3, 4, 8, dtype=torch.float64)
    o = m(x)
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        q, k, v = x @ m.W_Q.weight[sl].T, x @ m.W_K.weight[sl].T, x @ m.W_V.weight[sl].T
        p = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(4), -1)
        assert torch.allclose(o.pattern[:, h], p)
        assert torch.allclose(o.z[:, :, h], p @ v)
    assert torch.allclose(o.out, o.z.reshape(3, 4, 8) @ m.W_O.weight.T)


def test_bayes_softmax_is_joint_over_heads():
    m = MultiHeadAttention(8, 2, normalization="bayes_softmax", out_proj=False)
    o = m(torch.randn(1, 3, 8))
    assert torch.allclose(o.pattern.sum(dim=(1, 3)), torch.ones(1, 3))
