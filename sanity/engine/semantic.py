"""The semantic layer's model runtime: a sentence-transformers BERT model run in plain numpy.

A model directory as sentence-transformers distributes it (`config.json`, `tokenizer.json`,
`model.safetensors`, `modules.json`, `1_Pooling/config.json`, maybe
`sentence_bert_config.json`) is read with `tokenizers` and `safetensors` alone: no PyTorch, no
ONNX. These two packages come with the optional `sanity[semantic]` extra, so this module is
imported only where the layer is on (`sanity.engine.embeddings.runtime`), never by default.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

REQUIRED = ("config.json", "tokenizer.json", "model.safetensors")
BATCH = 32  # texts per forward pass, sorted by length so that little padding is computed


class ModelError(Exception):
    """The model directory is missing, incomplete or of a kind this runtime cannot run."""


@dataclass(frozen=True)
class Pooling:
    """How token vectors become one sentence vector (sentence-transformers' Pooling)."""

    mode: str = "mean"  # mean | cls | max | mean_sqrt_len
    normalize: bool = True


def _read_json(path: Path, default=None):
    if not path.exists():
        if default is not None:
            return default
        raise ModelError(f"{path.parent}: {path.name} is missing")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read it ({exc})") from None


def _pooling_folder(root: Path) -> str:
    modules = _read_json(root / "modules.json", default=[])
    kinds = {m.get("type", "").rsplit(".", 1)[-1]: m.get("path", "") for m in modules}
    return kinds.get("Pooling", "1_Pooling")


def _pooling(root: Path) -> Pooling:
    conf = _read_json(root / _pooling_folder(root) / "config.json",
                      default={"pooling_mode_mean_tokens": True})  # fmt: skip
    modes = [m for m in ("cls_token", "max_tokens", "mean_sqrt_len_tokens", "mean_tokens")
             if conf.get(f"pooling_mode_{m}")]  # fmt: skip
    if len(modes) != 1:
        raise ModelError(f"{root}: pooling {modes or 'none'} is not supported (one mode only)")
    mode = {"cls_token": "cls", "max_tokens": "max", "mean_sqrt_len_tokens": "mean_sqrt_len"}
    return Pooling(mode.get(modes[0], "mean"), normalize=True)


def model_fingerprint(root: Path) -> str:
    """What identifies the model's output: every file that shapes it (config, tokenizer,
    modules, sequence length, pooling) and the whole weights file (a fine-tuned model of the
    same size differs only deep inside it). Embeddings made with another fingerprint are
    recomputed. Reads the weights once: about 0.2 s for all-MiniLM-L6-v2."""
    digest = hashlib.sha256()
    names = ("config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json")
    for name in (*names, f"{_pooling_folder(root)}/config.json"):
        path = root / name
        digest.update(path.read_bytes() if path.exists() else b"-")
    with open(root / "model.safetensors", "rb") as f:
        digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()[:16]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


# erf(z) ~ z P(z^2) / Q(z^2) on |z| <= 4 (erf(4) = 1 - 1.5e-8): a rational least-squares fit,
# 4e-7 from erf in float32. scipy's erf costs ~20 ns per value and was a quarter of a forward.
_P = (
    1.1283790461,
    0.19230819352,
    0.052981763019,
    0.0038447062795,
    0.00028618799736,
    2.027286573e-06,
)
_Q = (1.0, 0.50376059839, 0.11487953583, 0.015124428893, 0.0011810574145, 3.7928556067e-05)
_ERF_P, _ERF_Q = tuple(map(np.float32, _P)), tuple(map(np.float32, _Q))
_ROWS = 32  # rows per elementwise chunk: its temporaries stay in the CPU cache


def _horner(coefs: tuple, s: np.ndarray) -> np.ndarray:
    out = s * coefs[-1]
    for c in coefs[-2:0:-1]:
        out += c
        out *= s
    out += coefs[0]
    return out


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU of BERT, in place where x is contiguous, chunk by chunk."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    flat = x.reshape(-1, x.shape[-1])
    for start in range(0, len(flat), _ROWS):
        part = flat[start : start + _ROWS]
        z = part * np.float32(0.7071067811865476)
        np.clip(z, -4.0, 4.0, out=z)
        s = z * z
        erf = _horner(_ERF_P, s)
        erf *= z
        erf /= _horner(_ERF_Q, s)
        erf += 1.0
        erf *= 0.5
        part *= erf
    return x


ACTIVATIONS = {
    "gelu": _gelu,
    "relu": lambda x: np.maximum(x, 0),
    "gelu_new": lambda x: 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3))),
}


class Model:
    """A BERT sentence encoder: `encode(texts)` gives one L2-normalised float32 row per text."""

    def __init__(
        self, path: str | os.PathLike, threads: int = 1, fingerprint: str | None = None
    ) -> None:
        """`fingerprint`: the directory's, when the caller has it (not read again)."""
        root = Path(path)
        self.threads = max(1, int(threads))
        if not root.is_dir():
            raise ModelError(f"SEMANTIC_MODEL {root} is not a directory")
        missing = [name for name in REQUIRED if not (root / name).exists()]
        if missing:
            needs = "a sentence-transformers model directory has " + ", ".join(REQUIRED)
            raise ModelError(f"{root}: {', '.join(missing)} missing ({needs})")
        self.root = root
        config = _read_json(root / "config.json")
        if config.get("model_type", "bert") != "bert":
            raise ModelError(f"{root}: model_type {config.get('model_type')!r} is not BERT")
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        act = config.get("hidden_act", "gelu")
        if act not in ACTIVATIONS:
            raise ModelError(f"{root}: activation {act!r} is not supported")
        self.act = ACTIVATIONS[act]
        st = _read_json(root / "sentence_bert_config.json", default={"-": 0})
        positions = int(config.get("max_position_embeddings", 512))
        self.max_tokens = min(int(st.get("max_seq_length") or positions), positions)
        self.pooling = _pooling(root)
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.w = self._weights(root / "model.safetensors")
        self.dim = int(self.w["embeddings.word_embeddings.weight"].shape[1])
        self.fingerprint = fingerprint or model_fingerprint(root)

    def _weights(self, path: Path) -> dict[str, np.ndarray]:
        try:
            raw = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for a bad file
            raise ModelError(f"{path}: cannot read the weights ({exc})") from None
        out = {}
        for name, value in raw.items():
            for prefix in ("bert.", "model.", "0.auto_model."):
                if name.startswith(prefix):
                    name = name[len(prefix) :]
            out[name] = np.ascontiguousarray(value, dtype=np.float32)
        if "embeddings.word_embeddings.weight" not in out:
            raise ModelError(f"{path}: no BERT embeddings in the weights")
        for name in [k for k in out if k.endswith(".weight") and out[k].ndim == 2]:
            if "embeddings" not in name:
                out[name] = np.ascontiguousarray(out[name].T)  # x @ W, no transpose per call
        return out

    def tokens(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def encode(self, texts: list[str], batch: int = BATCH) -> np.ndarray:
        """One L2-normalised embedding per text (float32, len(texts) x dim)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokens(texts)
        order = np.argsort([len(t) for t in ids], kind="stable")
        # One BLAS thread by default: on a shared machine OpenBLAS threads that spin for a
        # busy core make a forward pass many times slower, and this is background work.
        with threadpool_limits(limits=self.threads, user_api="blas"):
            for start in range(0, len(order), batch):
                rows = order[start : start + batch]
                out[rows] = self._forward([ids[r] for r in rows])
        return out

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        n, length = len(ids), max(len(t) for t in ids)
        tokens = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, t in enumerate(ids):
            tokens[i, : len(t)], mask[i, : len(t)] = t, 1.0
        w = self.w
        h = (
            w["embeddings.word_embeddings.weight"][tokens]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        h = _layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"],
                        self.eps)  # fmt: skip
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in range(self.layers):
            h = self._layer(h, bias, f"encoder.layer.{layer}.")
        return self._pool(h, mask)

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        weight = self.w[name + ".weight"]  # one 2-d product: a single BLAS call for the batch
        out = x.reshape(-1, x.shape[-1]) @ weight
        out += self.w[name + ".bias"]
        return out.reshape(*x.shape[:-1], weight.shape[1])

    def _layer(self, h: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        n, length, dim = h.shape
        size = dim // self.heads

        def heads(x):  # contiguous: numpy's matmul uses BLAS only on contiguous stacks
            return np.ascontiguousarray(x.reshape(n, length, self.heads, size).swapaxes(1, 2))

        q = heads(self._dense(h, p + "attention.self.query"))
        k = heads(self._dense(h, p + "attention.self.key"))
        v = heads(self._dense(h, p + "attention.self.value"))
        scores = q @ np.ascontiguousarray(k.swapaxes(2, 3))
        scores *= 1.0 / size**0.5
        scores += bias
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, dim)
        attended = self._dense(context, p + "attention.output.dense") + h
        h = _layer_norm(attended, self.w[p + "attention.output.LayerNorm.weight"],
                        self.w[p + "attention.output.LayerNorm.bias"], self.eps)  # fmt: skip
        inner = self.act(self._dense(h, p + "intermediate.dense"))
        out = self._dense(inner, p + "output.dense") + h
        return _layer_norm(out, self.w[p + "output.LayerNorm.weight"],
                           self.w[p + "output.LayerNorm.bias"], self.eps)  # fmt: skip

    def _pool(self, h: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[:, :, None]
        counts = np.maximum(m.sum(1), 1e-9)
        mode = self.pooling.mode
        if mode == "cls":
            v = h[:, 0]
        elif mode == "max":
            v = np.where(m > 0, h, -1e9).max(1)
        else:
            v = (h * m).sum(1) / (np.sqrt(counts) if mode == "mean_sqrt_len" else counts)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        return (v / np.maximum(norms, 1e-12)).astype(np.float32)
