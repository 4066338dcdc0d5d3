"""The numpy BERT runtime on a tiny model written by the test: loading, tokenising, pooling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from sanity.engine.semantic import Model, ModelError, _gelu
from tests.semantic_model import write_model

TEXTS = [
    "Graph neural networks for molecules.",
    "Diffusion models denoising score matching for image generation sampling, a long study "
    "of diffusion models with many words to make this text longer than the others by far.",
    "Robot grasping.",
]


@pytest.fixture
def model_dir(tmp_path):
    return write_model(tmp_path / "tiny")


def test_embeddings_are_unit_rows_of_the_model_dimension(model_dir):
    """One l2-normalised float32 row of the hidden size per text, the same on every call."""
    model = Model(model_dir)
    got = model.encode(TEXTS)
    assert got.shape == (3, 32) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(got, model.encode(TEXTS))
    assert not np.allclose(got[0], got[2])


def test_padding_does_not_change_an_embedding(model_dir):
    """A text embedded alone or in a batch with longer ones (padded) gives the same vector:
    the attention mask and the pooling ignore padding."""
    model = Model(model_dir)
    together = model.encode(TEXTS)
    for i, text in enumerate(TEXTS):
        assert np.allclose(model.encode([text])[0], together[i], atol=1e-5)


def test_long_texts_are_truncated_to_max_seq_length(model_dir):
    """sentence_bert_config.json's max_seq_length bounds the tokens (position table of 64)."""
    model = Model(model_dir)
    assert model.max_tokens == 32
    long = " ".join(["graph"] * 500)
    assert len(model.tokens([long])[0]) == 32
    assert model.encode([long]).shape == (1, 32)


def test_pooling_config_is_followed(tmp_path):
    """CLS pooling (1_Pooling/config.json) gives other vectors than mean pooling."""
    mean = Model(write_model(tmp_path / "mean")).encode(TEXTS)
    cls = Model(write_model(tmp_path / "cls", pooling="cls_token")).encode(TEXTS)
    assert cls.shape == mean.shape and not np.allclose(cls, mean)


def test_a_changed_model_has_another_fingerprint(tmp_path):
    """Other weights: another fingerprint, so stored embeddings are recomputed."""
    a = Model(write_model(tmp_path / "a", seed=1))
    b = Model(write_model(tmp_path / "b", seed=2))
    assert a.fingerprint != b.fingerprint
    assert Model(tmp_path / "a").fingerprint == a.fingerprint


def test_a_model_changed_deep_inside_or_in_its_length_has_another_fingerprint(tmp_path):
    """Fine-tuned weights of the same size that differ only in the last layer (far past the
    file's head), or another max_seq_length, change the vectors, so the fingerprint too."""
    root = write_model(tmp_path / "m")
    before = Model(root)
    raw = load_file(str(root / "model.safetensors"))
    last = max(k for k in raw if k.endswith("intermediate.dense.weight"))
    raw[last] = raw[last][::-1].copy()  # the last layer's rows in reverse order
    size = (root / "model.safetensors").stat().st_size
    save_file(raw, str(root / "model.safetensors"))
    assert (root / "model.safetensors").stat().st_size == size
    tuned = Model(root)
    assert not np.allclose(tuned.encode(TEXTS), before.encode(TEXTS))
    assert tuned.fingerprint != before.fingerprint
    shorter = Model(write_model(tmp_path / "short", max_seq_length=8))
    assert shorter.fingerprint != Model(write_model(tmp_path / "long")).fingerprint


def test_a_bad_model_directory_is_one_clear_error(tmp_path, model_dir):
    """Missing directory, missing weights, another architecture: ModelError naming it."""
    with pytest.raises(ModelError, match="not a directory"):
        Model(tmp_path / "nothing")
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="model.safetensors"):
        Model(model_dir)
    other = write_model(tmp_path / "gpt")
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(config | {"model_type": "gpt2"}))
    with pytest.raises(ModelError, match="not BERT"):
        Model(other)


def test_gelu_is_the_exact_erf_gelu_to_float32_precision():
    from scipy.special import erf  # optional: the reference only

    x = np.linspace(-12, 12, 210_000).astype(np.float32).reshape(-1, 7)
    before = x.copy()
    exact = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    got = _gelu(x[:, ::2])  # a strided view: computed on a copy, the view left as it was
    assert got.dtype == np.float32
    assert np.abs(got - exact[:, ::2]).max() < 2e-6
    assert np.array_equal(x, before)
