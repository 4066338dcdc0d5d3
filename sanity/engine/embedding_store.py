"""Embedding builds on disk: `DATA_DIR/embeddings/<build_id>/` holds a memory-mapped float16
array of l2-normalised vectors, a float32 copy that requests rank from, and the row -> paper
id list; a build is written to a temp directory, renamed into place, then named in `CURRENT`
(the feature builds' atomic rules). `EmbeddingStore` is a process's cache of the current one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sanity.engine.builds import CURRENT, prune, publish, read_current

log = logging.getLogger(__name__)


@dataclass
class Embeddings:
    """One published build: `vectors[row]` (float16, l2-normalised) is the paper `ids[row]`."""

    build_id: str
    model: str  # the model's fingerprint
    ids: list[str]
    updated: np.ndarray  # epoch seconds of the paper version embedded, per row
    vectors: np.ndarray
    scoring: np.ndarray | None = None  # the same as float32, memory-mapped: one BLAS pass

    def __post_init__(self) -> None:
        self.index = {pid: row for row, pid in enumerate(self.ids)}

    @property
    def for_scoring(self) -> np.ndarray:
        """The vectors to rank with: the float32 copy when the build has one (a float16 pass
        converts every value first, about 8x slower)."""
        return self.vectors if self.scoring is None else self.scoring

    @property
    def n(self) -> int:
        return len(self.ids)


def root_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "embeddings"


def save(emb: Embeddings, data_dir: str | os.PathLike) -> Path:
    """Write a build to a temp directory, rename it into place, then switch CURRENT to it."""
    root = root_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{emb.build_id}.tmp-{os.getpid()}"
    try:
        tmp.mkdir()
        np.save(tmp / "vectors.npy", np.asarray(emb.vectors, dtype=np.float16))
        _save_float32(tmp / "scoring.npy", emb.vectors)
        np.save(tmp / "updated.npy", np.asarray(emb.updated, dtype=np.int64))
        meta = {"build_id": emb.build_id, "model": emb.model, "ids": emb.ids}
        final = publish(tmp, root, emb.build_id, meta)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(root, keep=[emb.build_id], keep_builds=2)
    return final


def _save_float32(path: Path, vectors: np.ndarray, block: int = 65_536) -> None:
    """A float32 copy of the vectors, written a block of rows at a time (small memory)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=vectors.shape)
    for start in range(0, len(vectors), block):
        out[start : start + block] = vectors[start : start + block]
    out.flush()
    del out


def current_build_id(data_dir: str | os.PathLike) -> str | None:
    return read_current(root_dir(data_dir))


class BuildUnreadable(Exception):
    """A build's files are there but damaged (not what `save` writes)."""


def load(data_dir: str | os.PathLike, build_id: str | None = None) -> Embeddings | None:
    """A published build (the current one by default), its vectors memory-mapped; or None.
    FileNotFoundError when a file is missing, BuildUnreadable when one is damaged."""
    build_id = build_id or current_build_id(data_dir)
    if not build_id:
        return None
    path = root_dir(data_dir) / build_id
    try:
        meta = json.loads((path / "meta.json").read_text())
        scoring = path / "scoring.npy"
        found = Embeddings(
            build_id=str(meta["build_id"]),
            model=str(meta["model"]),
            ids=list(meta["ids"]),
            updated=np.load(path / "updated.npy"),
            vectors=np.load(path / "vectors.npy", mmap_mode="r"),
            scoring=np.load(scoring, mmap_mode="r") if scoring.exists() else None,
        )
    except (ValueError, KeyError, TypeError, EOFError, UnicodeDecodeError) as exc:
        raise BuildUnreadable(f"{path}: {exc}") from None
    shapes = {len(found.ids), len(found.updated), found.vectors.shape[0]}
    if len(shapes) != 1 or found.vectors.ndim != 2:
        raise BuildUnreadable(f"{path}: its files disagree on the number of papers")
    return found


class EmbeddingStore:
    """Per-process cache of the current build; a newer one is swapped in when it appears. A
    build that cannot be read is logged once and ranked without (words alone), never a 500."""

    CHECK_SECONDS = 1.0

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self._found: Embeddings | None = None
        self._checked = 0.0
        self._broken: str | None = None
        self._lock = threading.Lock()

    def get(self) -> Embeddings | None:
        now = time.monotonic()
        if now - self._checked < self.CHECK_SECONDS:
            return self._found
        with self._lock:
            self._checked = now
            try:
                wanted = current_build_id(self.data_dir)
            except OSError as exc:  # e.g. permissions: keep what we have, look again later
                log.warning("embeddings: cannot read %s (%s)", CURRENT, exc)
                return self._found
            if not wanted or wanted == self._broken:
                return self._found
            if self._found is not None and self._found.build_id == wanted:
                return self._found
            try:
                self._found = load(self.data_dir, wanted)
            except FileNotFoundError as exc:
                if current_build_id(self.data_dir) != wanted:
                    self._checked = 0.0  # pruned after reading CURRENT: read it again
                else:  # CURRENT names a build that is not there
                    self._mark_broken(wanted, exc)
            except BuildUnreadable as exc:
                self._mark_broken(wanted, exc)
            except OSError as exc:  # e.g. out of file handles: not the build's fault
                log.warning("embeddings %s: cannot read now (%s)", wanted, exc)
        return self._found

    def _mark_broken(self, build_id: str, exc: Exception) -> None:
        """Log once; keep serving the build already loaded, if any (words alone if none)."""
        log.error("embeddings %s cannot be read (%s): left out", build_id, exc)
        self._broken = build_id


_stores: dict[str, EmbeddingStore] = {}
_stores_lock = threading.Lock()


def store_for(data_dir: str) -> EmbeddingStore:
    with _stores_lock:
        return _stores.setdefault(data_dir, EmbeddingStore(data_dir))
