"""The semantic layer's switch: whether it is on, the model (loaded once per process, again
when its files change), and which embeddings a request may rank with: the current build of
SEMANTIC_MODEL's, kept by `embedding_store` (`embedding_job` computes them).

Off unless `SEMANTIC_MODEL` names a model directory; the model runtime (`semantic`, which needs
the optional `sanity[semantic]` extra) is imported only then, through `runtime()`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from flask import current_app

from sanity.engine.embedding_store import Embeddings, store_for

MODEL_FILES = (
    "config.json",
    "tokenizer.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "model.safetensors",
)

log = logging.getLogger(__name__)


class SemanticOff(Exception):
    """The semantic layer is off (SEMANTIC_MODEL is empty)."""


class ModelProblem(Exception):
    """SEMANTIC_MODEL names no usable model (missing files, an unsupported architecture)."""


def enabled(config=None) -> bool:
    return bool(str((config or current_app.config).get("SEMANTIC_MODEL") or "").strip())


_models: dict[str, object] = {}
_models_lock = threading.Lock()
_fingerprint: tuple[tuple, str | None] = ((), None)  # (the files' key, their fingerprint)
_warned: set[str] = set()  # builds of another model, logged once


def runtime(path: str | None = None):
    """The model named by SEMANTIC_MODEL, loaded once per process (SemanticOff when unset)."""
    path = path or str(current_app.config.get("SEMANTIC_MODEL") or "").strip()
    if not path:
        raise SemanticOff("the semantic layer is off: set SEMANTIC_MODEL")
    try:
        from sanity.engine import semantic  # optional: the `semantic` extra, only when on
    except ImportError as exc:
        raise ModelProblem(f"{exc.name} is missing: pip install 'sanity[semantic]'") from None

    with _models_lock:
        loaded = _models.get(path)
        now = model_fingerprint(path)
        if loaded is not None and now is not None and loaded.fingerprint != now:
            del _models[path]  # the directory's files were replaced: load them again
        if path not in _models:
            try:
                threads = int(current_app.config.get("SEMANTIC_THREADS") or 1)
                _models[path] = semantic.Model(path, threads=threads, fingerprint=now)
            except semantic.ModelError as exc:
                raise ModelProblem(str(exc)) from None
        return _models[path]


def paper_text(title: str, abstract: str) -> str:
    """What is embedded for a paper: title and abstract (authors have their own features)."""
    return f"{' '.join((title or '').split())}. {' '.join((abstract or '').split())}"


def model_fingerprint(path: str) -> str | None:
    """The fingerprint of the model directory (computed again only when its files change), or
    None when it cannot be read here (the model's own errors are reported where it loads)."""
    global _fingerprint
    try:
        key = (path, *(_mtime(Path(path) / name) for name in MODEL_FILES))
    except OSError:
        return None
    known, value = _fingerprint
    if known != key:
        try:
            from sanity.engine import semantic  # optional: the `semantic` extra, only when on

            value = semantic.model_fingerprint(Path(path))
        except (ImportError, OSError):
            value = None
        _fingerprint = (key, value)  # one assignment: a concurrent reader sees old or new
    return value


def _mtime(path: Path) -> int:
    """A file's modification time; -1 for an optional file that is absent."""
    if path.name != "model.safetensors" and not path.exists():
        return -1
    return path.stat().st_mtime_ns


def current() -> Embeddings | None:
    """This process's current embeddings when the layer is on and a build of SEMANTIC_MODEL's
    exists, else None. A build of another model (SEMANTIC_MODEL changed) is not used: its
    vectors are not comparable with the new model's queries; papers rank by their words until
    `sanity embed` has embedded them again."""
    if not enabled():
        return None
    found = store_for(current_app.config["DATA_DIR"]).get()
    if found is None or not found.n:
        return None
    wanted = model_fingerprint(str(current_app.config["SEMANTIC_MODEL"]).strip())
    if wanted is not None and wanted != found.model:
        if found.build_id not in _warned:
            _warned.add(found.build_id)
            log.warning(
                "embeddings %s are another model's: ranking by words until `sanity embed` "
                "has embedded every paper with SEMANTIC_MODEL",
                found.build_id,
            )
        return None
    return found


def count() -> int | None:
    """Papers in the current build (0 before the first); None when the layer is off."""
    if not enabled():
        return None
    found = current()
    return found.n if found is not None else 0


def left_out() -> int:
    """Papers in a stored build that is not used: another model's (SEMANTIC_MODEL changed)."""
    if not enabled():
        return 0
    found = store_for(current_app.config["DATA_DIR"]).get()
    return found.n if found is not None and current() is None else 0
