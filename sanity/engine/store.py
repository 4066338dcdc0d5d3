"""Where feature builds live: atomic save into `DATA_DIR/features/<build_id>/`, memory-mapped
load, and a per-process cache that swaps in a newer build when `CURRENT` names one."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from sanity.engine import ondisk
from sanity.engine.authors import Authors
from sanity.engine.builds import prune, publish, read_current
from sanity.engine.features import Doc, Features, Params, new_build_id

log = logging.getLogger(__name__)


class EngineUnavailable(Exception):
    """No feature build exists yet (run `sanity compute`, or wait for the first crawl)."""


def features_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "features"


def staging(data_dir: str | os.PathLike) -> Path:
    """A new folder in which a build writes its matrix files (`feature_build.build(out=...)`) before
    `save(..., staged=...)` publishes it; removed with the other leftovers if never saved."""
    root = features_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".staged-{uuid.uuid4().hex[:8]}.tmp-{os.getpid()}"
    tmp.mkdir()
    return tmp


def save(
    features: Features,
    data_dir: str | os.PathLike,
    keep_builds: int = 2,
    staged: Path | None = None,
) -> Path:
    """Write a build to a temp directory (or finish the `staged` one that already holds its
    matrix files), rename it into place, then switch CURRENT to it."""
    root = features_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = staged or root / f".{features.build_id}.tmp-{os.getpid()}"
    try:
        X = features.X
        if staged is None:
            tmp.mkdir()
            for name in ("data", "indices", "indptr"):  # plain arrays: loaded by memory mapping
                np.save(tmp / f"X.{name}.npy", getattr(X, name))
            columns = X.T.tocsr()  # per term, the papers using it: similarity touches only those
            for name in ("data", "indices", "indptr"):
                np.save(tmp / f"XT.{name}.npy", getattr(columns, name))
            del columns
        for name in ("idf", "published", "updated"):
            np.save(tmp / f"{name}.npy", getattr(features, name))
        np.save(tmp / "author_idf.npy", features.authors.idf)
        meta = {
            "shape": list(X.shape),
            "build_id": features.build_id,
            "vocab_id": features.vocab_id,
            "fitted_docs": features.fitted_docs,
            "params": asdict(features.params),
            "vocabulary": features.vocabulary,
            "ids": features.ids,
            "categories": features.categories,
            "authors": _authors_meta(features.authors),
        }
        final = publish(tmp, root, features.build_id, meta)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno is None:  # numpy's short write: "N requested and M written"
            raise OSError(f"{exc} in {root} (is the disk full?)") from exc
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(root, keep=[features.build_id], keep_builds=keep_builds)
    store = _stores.get(str(data_dir))
    if store is not None:
        store.invalidate()  # this process sees its own build at once
    return final


def save_with_rows(base: Features, docs: list[Doc], data_dir: str | os.PathLike) -> Features:
    """`features.with_rows(base, docs)` saved as the current build, written straight to disk:
    base's rows are copied chunk by chunk from its files (plain reads), the new rows after
    them, and the transpose by blocks of columns; memory holds only the new rows."""
    source = features_dir(data_dir) / base.build_id
    replaced = {d.id for d in docs}
    keep = np.array([pid not in replaced for pid in base.ids], dtype=bool)
    width = base.X.shape[1]
    new_rows = base.vectorize([d.text for d in docs], [d.authors for d in docs])
    new_rows = sp.csr_matrix(new_rows, shape=(len(docs), width), dtype=np.float32)
    row_nnz = np.diff(np.asarray(base.X.indptr))
    shape = (int(keep.sum()) + len(docs), width)
    staged = staging(data_dir)
    try:
        writer = ondisk.CsrWriter(staged, "X", shape[0], int(row_nnz[keep].sum()) + new_rows.nnz)
        column_nnz = np.bincount(new_rows.indices, minlength=width).astype(np.int64)
        for first, (data, indices, indptr) in ondisk.read_rows(source, "X", 20_000):
            rows = sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, width))
            rows = rows[keep[first : first + rows.shape[0]]]
            column_nnz += np.bincount(rows.indices, minlength=width)
            writer.append(rows)
        writer.append(new_rows)
        writer.close()
        ondisk.write_transpose(staged, shape[0], width, column_nnz)
        meta = {"shape": list(shape)}
        fresh = replace(
            base,
            build_id=new_build_id(),
            X=_load_matrix(staged, meta),
            columns=_load_matrix(staged, meta, "XT"),
            ids=[pid for pid, k in zip(base.ids, keep, strict=True) if k] + [d.id for d in docs],
            published=np.concatenate([base.published[keep], [d.published for d in docs]]).astype(
                np.int64
            ),
            updated=np.concatenate([base.updated[keep], [d.updated for d in docs]]).astype(
                np.int64
            ),
            categories=[c for c, k in zip(base.categories, keep, strict=True) if k]
            + [d.categories for d in docs],
            index={},
            _category_masks={},
        )
        save(fresh, data_dir, staged=staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return fresh


def _authors_meta(authors: Authors) -> dict:
    return {
        "keys": authors.keys,
        "names": authors.names,
        "aliases": authors.aliases,
        "weight": authors.weight,
    }


def _load_authors(path: Path, meta: dict) -> Authors:
    found = meta.get("authors")
    if not found:
        return Authors()
    return Authors(
        keys=found["keys"],
        names=found["names"],
        idf=np.load(path / "author_idf.npy"),
        aliases=found["aliases"],
        weight=float(found["weight"]),
    )


def current_build_id(data_dir: str | os.PathLike) -> str | None:
    return read_current(features_dir(data_dir))


def load(data_dir: str | os.PathLike, build_id: str | None = None) -> Features | None:
    """Load a build (the current one by default); None if there is none yet."""
    build_id = build_id or current_build_id(data_dir)
    if not build_id:
        return None
    path = features_dir(data_dir) / build_id
    meta = json.loads((path / "meta.json").read_text())
    known = set(Params.__dataclass_fields__)
    params = Params(**{k: v for k, v in meta["params"].items() if k in known})
    if "authors" not in meta:  # built before author features: say so, so that it is refit
        params = replace(params, author_weight=0.0)
    return Features(
        build_id=meta["build_id"],
        vocab_id=meta["vocab_id"],
        X=_load_matrix(path, meta),
        columns=_load_matrix(path, meta, "XT") if (path / "XT.data.npy").exists() else None,
        vocabulary=meta["vocabulary"],
        idf=np.load(path / "idf.npy"),
        ids=meta["ids"],
        published=np.load(path / "published.npy"),
        updated=np.load(path / "updated.npy"),
        categories=_shared(meta["categories"]),
        params=params,
        fitted_docs=meta["fitted_docs"],
        authors=_load_authors(path, meta),
    )


def _shared(values: list[str]) -> list[str]:
    """`values` with equal strings as one object: a million papers have a few thousand
    distinct category lists, and each parsed string would otherwise cost its own memory."""
    seen: dict[str, str] = {}
    return [seen.setdefault(v, v) for v in values]


def _load_matrix(path: Path, meta: dict, name: str = "X") -> sp.csr_matrix:
    """The TF-IDF matrix (or its transpose), memory-mapped read-only: every web worker on the
    machine shares one copy in the page cache, and a new build is ready without reading it
    all first."""
    parts = ("data", "indices", "indptr")
    data, indices, indptr = (np.load(path / f"{name}.{p}.npy", mmap_mode="r") for p in parts)
    shape = tuple(meta["shape"]) if name == "X" else tuple(reversed(meta["shape"]))
    return sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)


class FeatureStore:
    """Per-process cache of the current build; swaps in a newer build when one appears."""

    CHECK_SECONDS = 1.0

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self._features: Features | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._checked = 0.0

    def get(self) -> Features | None:
        now = time.monotonic()
        if self._features is not None and now - self._checked < self.CHECK_SECONDS:
            return self._features
        wanted = current_build_id(self.data_dir)
        self._checked = now
        if wanted is None or (self._features and self._features.build_id == wanted):
            return self._features
        # One thread loads; the others keep serving the old build meanwhile.
        if not self._lock.acquire(blocking=self._features is None):
            return self._features
        try:
            if not self._features or self._features.build_id != wanted:
                try:
                    self._features = load(self.data_dir, wanted)
                    log.info("features: loaded build %s (%d docs)", wanted, self._features.n)
                except FileNotFoundError:  # pruned between reading CURRENT and loading
                    self._checked = 0.0
        finally:
            self._lock.release()
        return self._features


_stores: dict[str, FeatureStore] = {}
_stores_lock = threading.Lock()


def store_for(data_dir: str) -> FeatureStore:
    with _stores_lock:
        return _stores.setdefault(data_dir, FeatureStore(data_dir))
