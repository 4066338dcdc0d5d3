"""A tiny sentence-transformers model written by the tests: the real directory layout
(config.json, tokenizer.json, model.safetensors, modules.json, 1_Pooling/config.json,
sentence_bert_config.json), a BERT of 2 layers and hidden size 32 with seeded random weights,
and a WordPiece tokenizer made with the `tokenizers` library."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from tests.factories import TOPICS

HIDDEN, LAYERS, HEADS, INNER, POSITIONS = 32, 2, 4, 64, 64
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = sorted({w for text in TOPICS.values() for w in text.split()} | {
    "we", "study", "with", "in", "setting", "a", "the", "of", "and", "learning", "model",
    "neural", "networks", "graphs", "robots", "images", "cats", "dogs",
})  # fmt: skip


def vocabulary() -> dict[str, int]:
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens = SPECIAL + WORDS + chars + ["##" + c for c in string.ascii_lowercase + string.digits]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}


def tokenizer(vocab: dict[str, int]) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    return tok


def weights(vocab_size: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def r(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {
        "embeddings.word_embeddings.weight": r(vocab_size, HIDDEN, scale=1.0),
        "embeddings.position_embeddings.weight": r(POSITIONS, HIDDEN),
        "embeddings.token_type_embeddings.weight": r(2, HIDDEN),
        "embeddings.LayerNorm.weight": np.ones(HIDDEN, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(HIDDEN, np.float32),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name, (rows, cols) in {
            "attention.self.query": (HIDDEN, HIDDEN),
            "attention.self.key": (HIDDEN, HIDDEN),
            "attention.self.value": (HIDDEN, HIDDEN),
            "attention.output.dense": (HIDDEN, HIDDEN),
            "intermediate.dense": (INNER, HIDDEN),
            "output.dense": (HIDDEN, INNER),
        }.items():  # torch's Linear layout: (out, in)
            w[p + name + ".weight"], w[p + name + ".bias"] = r(rows, cols), r(rows, scale=0.02)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + norm + ".weight"] = np.ones(HIDDEN, np.float32)
            w[p + norm + ".bias"] = np.zeros(HIDDEN, np.float32)
    w["embeddings.position_ids"] = np.arange(POSITIONS, dtype=np.int64)[None]
    return w


def write_model(
    root: Path, seed: int = 0, max_seq_length: int = 32, pooling: str = "mean_tokens"
) -> Path:
    """Write the model directory; returns it."""
    root.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": INNER,
        "hidden_act": "gelu", "max_position_embeddings": POSITIONS, "type_vocab_size": 2,
        "vocab_size": len(vocab), "layer_norm_eps": 1e-12, "pad_token_id": 0,
    }  # fmt: skip
    (root / "config.json").write_text(json.dumps(config))
    tokenizer(vocab).save(str(root / "tokenizer.json"))
    save_file(weights(len(vocab), seed), str(root / "model.safetensors"))
    kinds = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(kinds)
    ]
    (root / "modules.json").write_text(json.dumps(modules))
    (root / "1_Pooling").mkdir(exist_ok=True)
    pool = {"word_embedding_dimension": HIDDEN}
    for mode in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens"):
        pool[f"pooling_mode_{mode}"] = mode == pooling
    (root / "1_Pooling" / "config.json").write_text(json.dumps(pool))
    (root / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False})
    )
    return root
