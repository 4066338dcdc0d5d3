"""Build folders on disk, the rules every kept build follows (features, embeddings): a build
is written in a temp folder, flushed, renamed to `root/<build_id>`, then named in `CURRENT`,
so a reader sees the old build or the whole new one; old builds and what killed writers left
are pruned."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

CURRENT = "CURRENT"


def fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def publish(tmp: Path, root: Path, build_id: str, meta: dict) -> Path:
    """Finish a build written in `tmp`: its `meta.json`, every file flushed, the folder renamed
    to `root/build_id`, then CURRENT switched to it (a reader sees the old build or the whole
    new one). The rules of every build kept on disk (features, embeddings)."""
    fsync_write(tmp / "meta.json", json.dumps(meta).encode())
    for path in tmp.iterdir():
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
    final = root / build_id
    os.rename(tmp, final)
    pointer = root / f".{CURRENT}.tmp-{os.getpid()}"
    fsync_write(pointer, build_id.encode())
    os.replace(pointer, root / CURRENT)
    return final


def read_current(root: Path) -> str | None:
    """The build id CURRENT names in `root`, None before the first build."""
    try:
        return (root / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def prune(root: Path, keep: list[str], keep_builds: int) -> None:
    """Builds (folders named by their time) beyond the newest `keep_builds`, except `keep`,
    and temp folders more than an hour old (left by a killed writer) are removed."""
    builds = sorted(p for p in root.iterdir() if p.is_dir() and p.name[:1].isdigit())
    for old in builds[:-keep_builds]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in root.glob(".*.tmp-*"):
        if time.time() - tmp.stat().st_mtime > 3600:
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink()
