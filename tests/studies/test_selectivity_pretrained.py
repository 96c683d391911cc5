"""selectivity: captured raw logits reproduce the model's own attention probabilities (output_attentions=True).

The tiny GPT-2 and tiny Llama (GQA + RoPE, 2 key/value heads for 4 query heads) are built in code with random
weights and run everywhere; the real offline models are marked `pretrained` (SmolLM2 also `slow`: ~40 s CPU to
dequantize the GGUF file)."""
import pytest
import torch

from attnlab.studies.selectivity import metrics as M
from attnlab.studies.selectivity.data import load_text
from attnlab.studies.selectivity.pretrained import (CAPTURE, LoadedModel, _register_capture, chunk_ids, extract,
                                                    load_model)


def _check_against_eager(lm: LoadedModel, L: int):
    ids = chunk_ids(lm, load_text(""), L, 0, L)
    layers = extract(lm, ids)
    lm.model.set_attn_implementation("eager")
    with torch.no_grad():
        ref = lm.model(input_ids=ids, output_attentions=True).attentions
    lm.model.set_attn_implementation(CAPTURE)
    assert len(ref) == len(layers) == lm.n_layers
    for lt, A in zip(layers, ref):
        valid = torch.tril(torch.ones(L, L, dtype=torch.bool))[None] if lt.causal else torch.ones(1, L, L, dtype=torch.bool)
        ours = M.masked_softmax(lt.scaling * lt.logits, valid)
        assert ours.shape == A[0].shape
        assert torch.allclose(ours, A[0].float(), atol=2e-5), float((ours - A[0]).abs().max())
        assert lt.values.shape[0] == lt.logits.shape[0]          # GQA groups expanded to query heads


def _tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    _register_capture()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    model = LlamaForCausalLM(cfg).eval()
    model.set_attn_implementation(CAPTURE)
    return LoadedModel("tiny-llama", model, None, True, 256, 2, 4, "none")


def test_tiny_gpt2_capture_matches_output_attentions():
    _check_against_eager(load_model("tiny-gpt2"), 48)


def test_tiny_llama_gqa_rope_capture_matches_output_attentions():
    _check_against_eager(_tiny_llama(), 40)


@pytest.mark.pretrained
def test_minilm_capture_matches_output_attentions():
    lm = load_model("minilm")
    assert (lm.n_layers, lm.n_heads, lm.causal) == (6, 12, False)
    _check_against_eager(lm, 64)


@pytest.mark.pretrained
@pytest.mark.slow
def test_smollm2_capture_matches_output_attentions():
    lm = load_model("smollm2")
    assert (lm.n_layers, lm.n_heads, lm.causal) == (30, 9, True)
    _check_against_eager(lm, 64)


def test_compact_layers_give_the_same_logits():
    """extract(compact=True) keeps q and k; LayerTensors.full() rebuilds exactly the logits of the full extract."""
    import torch

    from attnlab.studies.selectivity.pretrained import chunk_ids, extract, load_model

    lm = load_model("tiny-gpt2")
    ids = chunk_ids(lm, "The critical N of a head, measured on a short text of a few dozen bytes. " * 3, 64, 0, 64)
    full, compact = extract(lm, ids), extract(lm, ids, compact=True)
    for a, b in zip(full, compact):
        assert b.logits is None and torch.equal(b.full().logits, a.logits) and torch.equal(b.values, a.values)
