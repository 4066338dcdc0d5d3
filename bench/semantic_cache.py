"""Embeddings of benchmark records with the semantic layer's runtime, cached and resumable:
each chunk is appended to `<cache>.parts/` as it is done, so an interrupted run continues."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np

from sanity.engine.embeddings import paper_text
from sanity.engine.semantic import Model

CHUNK = 256


def embed_records(model_dir: str, records: list[dict], cache: str | None) -> np.ndarray:
    """float16 embeddings of the records' title + abstract (rows in record order); prints
    throughput (papers/s, with the load average) and the process's peak memory."""
    model = Model(model_dir, threads=int(os.environ.get("SEMANTIC_THREADS", "1")))
    parts = Path(cache + ".parts") if cache else None
    if cache and Path(cache).exists():
        found = np.load(cache)
        if len(found) == len(records):
            return found
    if parts:
        parts.mkdir(exist_ok=True)
    out, done, started = [], 0, time.monotonic()
    for start in range(0, len(records), CHUNK):
        part = parts / f"{start:09d}.npy" if parts else None
        if part is not None and part.exists():
            out.append(np.load(part))
            continue
        chunk = records[start : start + CHUNK]
        vectors = model.encode([paper_text(r["title"], r["abstract"]) for r in chunk])
        out.append(vectors.astype(np.float16))
        if part is not None:
            np.save(part, out[-1])
        done += len(chunk)
        rate = done / (time.monotonic() - started)
        print(f"  embedded {start + len(chunk):,}/{len(records):,}: {rate:.2f} papers/s, "
              f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    E = np.concatenate(out) if out else np.zeros((0, model.dim), np.float16)
    if cache:
        np.save(cache, E)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"embeddings: {E.shape[0]:,} x {E.shape[1]} float16 = {E.nbytes / 2**20:.1f} MiB; "
          f"peak memory of this process {peak:.0f} MiB")  # fmt: skip
    return E


def embed_texts(model_dir: str, texts: list[str]) -> np.ndarray:
    """float32 embeddings of a few texts (not cached)."""
    model = Model(model_dir, threads=int(os.environ.get("SEMANTIC_THREADS", "1")))
    return np.asarray(model.encode(texts), dtype=np.float32)
