"""First-pages thumbnails (THUMBNAILS=true): each recent paper's PDF is fetched once through the
polite client, rendered in a separate process (render.py) into a small WebP strip stored as
DATA_DIR/thumbs/<id>.webp, and dropped; strips of papers older than THUMBNAIL_DAYS are pruned.

A PDF that cannot be had (404, not a PDF, broken, encrypted, too large) is recorded and never
fetched again. When arXiv itself does not answer (5xx or no connection after the client's
retries) the run stops at once, recording the paper for a later retry (at most MAX_ATTEMPTS).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select

from sanity.db import db
from sanity.ingest.polite import FetchError, PoliteClient, TooLarge
from sanity.leases import THUMBNAILS_LOCK, Lease
from sanity.models import Paper, Thumbnail
from sanity.timeutil import Clock

log = logging.getLogger(__name__)

SUFFIX = ".webp"
MEDIA_TYPE = "image/webp"
MAX_IMAGE_BYTES = 60_000  # hard cap on one strip
MAX_ATTEMPTS = 3  # runs that may try a paper arXiv did not answer for
RENDER_TIMEOUT = 60.0  # seconds for one document in the render process
PDF_MAGIC = b"%PDF-"
# The render process (not imported here: web processes import this module and need no PDFium).
RENDER_SCRIPT = Path(__file__).with_name("render.py")
EXIT_UNRENDERABLE = 3  # render.py's exit code for a document it cannot render


class ThumbnailsOff(Exception):
    """THUMBNAILS is false: nothing may be fetched."""


class Unusable(Exception):
    """This paper's PDF cannot give a thumbnail (404, not a PDF, broken, encrypted, too big)."""


@dataclass
class Strip:
    data: bytes
    width: int
    height: int


class SourceDown(Exception):
    """arXiv did not answer (after the client's retries): stop this run, try again later."""


@dataclass
class ThumbStats:
    """What one run did."""

    made: int = 0
    failed: int = 0
    pruned: int = 0
    requests: int = 0
    bytes: int = 0
    render_seconds: float = 0.0
    stopped: str | None = None  # why the run ended early (arXiv down), else None

    def summary(self) -> str:
        text = (
            f"thumbnails: {self.made} made ({self.bytes:,} bytes), {self.failed} skipped, "
            f"{self.pruned} pruned, {self.requests} requests"
        )
        return text + (f"; stopped early: {self.stopped}" if self.stopped else "")


def thumbs_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "thumbs"


def file_name(pid: str) -> str:
    """The strip's file name: the id with its one slash (old-style ids) made safe."""
    return pid.replace("/", "_") + SUFFIX


def thumb_path(pid: str) -> Path:
    return thumbs_dir(current_app.config["DATA_DIR"]) / file_name(pid)


def window_start(clock: Clock):
    return clock.now() - timedelta(days=float(current_app.config["THUMBNAIL_DAYS"]))


def candidates(clock: Clock) -> list[str]:
    """Recent papers without a strip or a final verdict: never tried first, newest first."""
    tried = func.coalesce(Thumbnail.attempts, 0)
    query = (
        select(Paper.id)
        .outerjoin(Thumbnail, Thumbnail.paper_id == Paper.id)
        .where(Paper.published >= window_start(clock))
        .where(
            or_(
                Thumbnail.paper_id.is_(None),
                and_(Thumbnail.status == "retry", Thumbnail.attempts < MAX_ATTEMPTS),
            )
        )
        .order_by(tried, Paper.published.desc(), Paper.id)
    )
    return list(db.session.scalars(query))


def prune(clock: Clock) -> int:
    """Forget papers older than the window; delete every file without a current strip."""
    old = select(Paper.id).where(Paper.published < window_start(clock))
    db.session.execute(delete(Thumbnail).where(Thumbnail.paper_id.in_(old)))
    db.session.commit()
    folder = thumbs_dir(current_app.config["DATA_DIR"])
    strips = db.session.scalars(select(Thumbnail.paper_id).where(Thumbnail.status == "ok"))
    keep = {file_name(pid): pid for pid in strips}
    lost = [pid for name, pid in keep.items() if not (folder / name).is_file()]
    if lost:  # DATA_DIR wiped or restored from elsewhere: make them again
        db.session.execute(delete(Thumbnail).where(Thumbnail.paper_id.in_(lost)))
        db.session.commit()
    removed = 0
    for path in folder.glob("*") if folder.is_dir() else []:
        if path.name not in keep:  # old strips, and temp files of an interrupted run
            path.unlink(missing_ok=True)
            removed += path.suffix == SUFFIX
    return removed


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_in_child(data: bytes) -> Strip:
    """Render in a separate process with a time limit; RenderError for any failure there."""
    cfg = current_app.config
    argv = [str(cfg["THUMBNAIL_PAGES"]), str(cfg["THUMBNAIL_HEIGHT"]), str(MAX_IMAGE_BYTES)]
    try:
        done = subprocess.run(
            [sys.executable, "-P", str(RENDER_SCRIPT), *argv],
            input=data,
            capture_output=True,
            timeout=RENDER_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise Unusable(f"rendering took over {RENDER_TIMEOUT:g}s") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        expected = done.returncode == EXIT_UNRENDERABLE and lines
        raise Unusable(lines[-1] if expected else f"renderer died ({done.returncode})")
    head, _, image = done.stdout.partition(b"\n")
    width, height = (int(v) for v in head.split())
    return Strip(image, width, height)


def record(pid: str, status: str, reason: str | None = None, strip=None) -> None:
    row = db.session.get(Thumbnail, pid) or Thumbnail(paper_id=pid, attempts=0)
    row.status, row.reason = status, (reason or "")[:255] or None
    row.attempts = (row.attempts or 0) + 1
    row.width, row.height = (strip.width, strip.height) if strip else (0, 0)
    row.size = len(strip.data) if strip else 0
    db.session.add(row)
    db.session.commit()


def fetch_pdf(client: PoliteClient, pid: str) -> bytes:
    """The PDF's bytes; RenderError for an answer that is no PDF, SourceDown if arXiv is down."""
    url = current_app.config["ARXIV_PDF_URL"] + pid
    try:
        data = client.get(url, max_bytes=int(current_app.config["THUMBNAIL_MAX_PDF_BYTES"]))
    except TooLarge as exc:
        raise Unusable(f"PDF too large: {exc}") from None
    except FetchError as exc:
        if exc.status is None or exc.status >= 500 or exc.status == 429:
            raise SourceDown(str(exc)) from None
        raise Unusable(str(exc)) from None  # 404, 403, 410: this paper has none
    if PDF_MAGIC not in data[:1024]:  # PDF readers accept the header within the first 1 KB
        raise Unusable("not a PDF")
    return data


def make_one(client: PoliteClient, pid: str, stats: ThumbStats) -> None:
    """Fetch, render and store one strip, or record why not (SourceDown propagates)."""
    try:
        data = fetch_pdf(client, pid)
        started = time.monotonic()
        try:
            strip = render_in_child(data)
        finally:
            stats.render_seconds += time.monotonic() - started
            del data  # the PDF is never kept
    except Unusable as exc:
        log.info("no thumbnail for %s: %s", pid, exc)
        record(pid, "failed", str(exc))
        stats.failed += 1
        return
    write_atomically(thumb_path(pid), strip.data)
    record(pid, "ok", strip=strip)
    stats.made += 1
    stats.bytes += len(strip.data)


def make_thumbnails(clock: Clock, report=None) -> ThumbStats:
    """Prune, then make the missing strips of recent papers under the thumbnails lock;
    report(stats, done, total) after each paper."""
    if not current_app.config["THUMBNAILS"]:
        raise ThumbnailsOff("THUMBNAILS is off (set SANITY_THUMBNAILS=true to make thumbnails)")
    stats = ThumbStats()
    # Renewed from a thread: one paper may outlast the lease (Retry-After, backoff, render).
    with Lease.for_job(THUMBNAILS_LOCK, clock).acquire().kept_alive():
        stats.pruned = prune(clock)
        client = PoliteClient.from_config(current_app.config, clock)
        try:
            todo = candidates(clock)
            for done, pid in enumerate(todo, 1):
                try:
                    make_one(client, pid, stats)
                except SourceDown as exc:
                    record(pid, "retry", str(exc))
                    stats.stopped = str(exc)
                    break
                if report:
                    report(stats, done, len(todo))
        finally:
            stats.requests = client.requests_made
            client.close()
    return stats
