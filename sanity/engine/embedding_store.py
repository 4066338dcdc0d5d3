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

from sanity.engine.store import _fsync_write

CURRENT = "CURRENT"

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
    final, tmp = root / emb.build_id, root / f".{emb.build_id}.tmp-{os.getpid()}"
    try:
        tmp.mkdir()
        np.save(tmp / "vectors.npy", np.asarray(emb.vectors, dtype=np.float16))
        _save_float32(tmp / "scoring.npy", emb.vectors)
        np.save(tmp / "updated.npy", np.asarray(emb.updated, dtype=np.int64))
        meta = {"build_id": emb.build_id, "model": emb.model, "ids": emb.ids}
        _fsync_write(tmp / "meta.json", json.dumps(meta).encode())
        for path in tmp.iterdir():
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
        os.rename(tmp, final)
        pointer = root / f".{CURRENT}.tmp-{os.getpid()}"
        _fsync_write(pointer, emb.build_id.encode())
        os.replace(pointer, root / CURRENT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in sorted(p for p in root.iterdir() if p.is_dir() and p.name[0].isdigit())[:-2]:
        if old.name != emb.build_id:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _save_float32(path: Path, vectors: np.ndarray, block: int = 65_536) -> None:
    """A float32 copy of the vectors, written a block of rows at a time (small memory)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=vectors.shape)
    for start in range(0, len(vectors), block):
        out[start : start + block] = vectors[start : start + block]
    out.flush()
    del out


def current_build_id(data_dir: str | os.PathLike) -> str | None:
    try:
        return (root_dir(data_dir) / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def load(data_dir: str | os.PathLike, build_id: str | None = None) -> Embeddings | None:
    """A published build (the current one by default), its vectors memory-mapped; or None."""
    build_id = build_id or current_build_id(data_dir)
    if not build_id:
        return None
    path = root_dir(data_dir) / build_id
    meta = json.loads((path / "meta.json").read_text())
    return Embeddings(
        build_id=meta["build_id"],
        model=meta["model"],
        ids=meta["ids"],
        updated=np.load(path / "updated.npy"),
        vectors=np.load(path / "vectors.npy", mmap_mode="r"),
        scoring=np.load(scoring, mmap_mode="r")
        if (scoring := path / "scoring.npy").exists()
        else None,
    )


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
            self._checked, wanted = now, None
            try:
                wanted = current_build_id(self.data_dir)
                if (
                    wanted
                    and wanted != self._broken
                    and (self._found is None or self._found.build_id != wanted)
                ):
                    self._found = load(self.data_dir, wanted)
            except FileNotFoundError:  # pruned between reading CURRENT and loading
                self._checked = 0.0
            except (OSError, ValueError, KeyError) as exc:
                if wanted != self._broken:
                    log.error(
                        "embeddings %s cannot be read (%s): ranking without them", wanted, exc
                    )
                self._broken, self._found = wanted, None
        return self._found


_stores: dict[str, EmbeddingStore] = {}
_stores_lock = threading.Lock()


def store_for(data_dir: str) -> EmbeddingStore:
    with _stores_lock:
        return _stores.setdefault(data_dir, EmbeddingStore(data_dir))
