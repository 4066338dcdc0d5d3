"""Import arXiv's bulk metadata snapshot (Kaggle's arxiv-metadata-oai-snapshot: one JSON object
a line, gzip accepted) through the upsert path, in batches."""

from __future__ import annotations

import fnmatch
import gzip
import io
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import BinaryIO

from sqlalchemy import text

from sanity import fulltext
from sanity.arxiv import PaperRecord, clean_text, id_month, parse_datetime, parse_id
from sanity.db import db
from sanity.ingest.upsert import MAX_VERSION, UnstorableRecord, check_storable, upsert_papers
from sanity.timeutil import as_utc

log = logging.getLogger(__name__)


class SnapshotLineError(ValueError):
    """One line of a snapshot file could not be used."""


def _snapshot_date(value: object) -> datetime | None:
    """An RFC 2822 version date or an ISO date, in UTC; None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, OverflowError):
        pass
    try:
        return parse_datetime(value)
    except OverflowError:  # e.g. year 1 with a positive offset
        return None


def _snapshot_authors(obj: dict) -> list[str]:
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed and all(isinstance(a, list) for a in parsed):
        names = []
        for parts in parsed:
            last, first, suffix = (list(parts) + ["", "", ""])[:3]
            names.append(clean_text(" ".join(str(p) for p in (first, last, suffix) if p)))
        return [n for n in names if n]
    raw = obj.get("authors")
    if isinstance(raw, list):
        return [clean_text(str(a)) for a in raw if clean_text(str(a))]
    text = clean_text(raw if isinstance(raw, str) else "").replace(" and ", ", ")
    return [name.strip() for name in text.split(",") if name.strip()]


def _snapshot_text(obj: dict, key: str, pid: str) -> str | None:
    """An optional text field, whitespace collapsed; None when absent, null or blank."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SnapshotLineError(f"{pid}: {key} is not a string")
    return clean_text(value) or None


def _snapshot_categories(obj: dict, pid: str) -> list[str]:
    value = obj.get("categories") or ""
    if isinstance(value, list) and all(isinstance(c, str) for c in value):
        value = " ".join(value)
    if not isinstance(value, str):
        raise SnapshotLineError(f"{pid}: categories is not a string")
    return list(dict.fromkeys(value.split()))


def _snapshot_versions(obj: dict, pid: str) -> tuple[int | None, datetime, datetime]:
    """(highest version number or None, v1 date, latest version date); without versions, the
    earliest and latest of update_date, published and updated; without any, the first day of
    the month the id was assigned in."""
    versions = obj.get("versions") if isinstance(obj.get("versions"), list) else []
    numbers, dates = [], []
    for entry in versions:
        if isinstance(entry, dict):
            text = str(entry.get("version", "")).lstrip("v")
            if text.isascii() and text.isdigit():
                numbers.append(int(text))
            created = _snapshot_date(entry.get("created"))
            if created:
                dates.append(created)
    if not dates:  # other exports (the arXiv API's fields): published / updated
        found = (_snapshot_date(obj.get(key)) for key in ("update_date", "published", "updated"))
        dates = [d for d in found if d is not None]
    if not dates:  # no date at all: the month its id was assigned in
        month = id_month(pid)
        if month is None:
            raise SnapshotLineError(f"{pid}: no date, and its id names no month")
        dates = [month]
    version = max(numbers) if numbers else None
    if version is not None and version > MAX_VERSION:
        raise SnapshotLineError(f"{pid}: version number {version} out of range")
    return version, min(dates), max(dates)


def snapshot_record(obj: object) -> PaperRecord:
    """Turn one snapshot object (Kaggle's arxiv-metadata-oai-snapshot format) into a record."""
    if not isinstance(obj, dict):
        raise SnapshotLineError("not a JSON object")
    if obj.get("id") in (None, ""):
        raise SnapshotLineError("no id")
    try:
        pid, _ = parse_id(str(obj["id"]))
    except ValueError as exc:
        raise SnapshotLineError(str(exc)) from None
    title = clean_text(obj.get("title") if isinstance(obj.get("title"), str) else "")
    if not title:
        raise SnapshotLineError(f"{pid}: no title")
    version, published, updated = _snapshot_versions(obj, pid)
    record = PaperRecord(
        id=pid,
        version=version,
        title=title,
        abstract=_snapshot_text(obj, "abstract", pid) or "",
        authors=_snapshot_authors(obj),
        categories=_snapshot_categories(obj, pid),
        published=published,
        updated=updated,
        comment=_snapshot_text(obj, "comments", pid),
        journal_ref=_snapshot_text(obj, "journal-ref", pid),
        doi=_snapshot_text(obj, "doi", pid),
        license=_snapshot_text(obj, "license", pid),
    )
    try:
        check_storable(record)
    except UnstorableRecord as exc:
        raise SnapshotLineError(str(exc)) from None
    return record


@dataclass
class ImportStats:
    lines: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    filtered: int = 0
    bad: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    changed: int = 0

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


GZIP_MAGIC = b"\x1f\x8b"


class _GzipSnapshot(gzip.GzipFile):
    """A GzipFile that also closes the file it reads (GzipFile leaves a given fileobj open)."""

    def close(self) -> None:
        source = self.fileobj
        try:
            super().close()
        finally:
            if source is not None:
                source.close()


def open_snapshot(path: str) -> BinaryIO:
    """Open a snapshot file, gzip by magic number, or standard input for '-'."""
    if path == "-":
        stream = sys.stdin.buffer
        if not hasattr(stream, "peek"):  # e.g. a BytesIO standing in for stdin
            stream = io.BufferedReader(stream)
    else:
        stream = open(path, "rb")  # noqa: SIM115 - closed by the caller
    try:
        magic = stream.peek(2)[:2]
    except BaseException:
        stream.close()
        raise
    if magic == GZIP_MAGIC:
        return _GzipSnapshot(fileobj=stream, mode="rb")  # type: ignore[return-value]
    return stream


def _matches(record: PaperRecord, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(c, p) for c in record.categories for p in patterns)


def _read_records(
    stream: BinaryIO, patterns: list[str], stats: ImportStats, on_error: Callable[[str], None]
) -> Iterator[PaperRecord]:
    reader = io.BufferedReader(stream, 1 << 20)  # type: ignore[arg-type]
    try:
        for number, raw in enumerate(reader, start=1):
            stats.lines = number
            if not raw.strip():
                continue
            try:
                record = snapshot_record(json.loads(raw.rstrip(b"\r\n").decode("utf-8")))
            except (
                UnicodeDecodeError,
                json.JSONDecodeError,
                RecursionError,  # absurdly deep nesting
                SnapshotLineError,
            ) as exc:
                stats.bad += 1
                message = f"line {number}: {_short(exc)}"
                if len(stats.errors) < 1000:
                    stats.errors.append(message)
                on_error(message)
                continue
            if patterns and not _matches(record, patterns):
                stats.filtered += 1
                continue
            yield record
    finally:
        # The caller owns the stream: a wrapper left attached would close it when collected
        # (with a ResourceWarning).
        reader.detach()


def _short(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8"
    if isinstance(exc, json.JSONDecodeError):
        # msg is e.g. "Expecting value" or "Unterminated string starting at"
        return f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"
    if isinstance(exc, RecursionError):
        return "invalid JSON (nested too deeply)"
    return str(exc)


def import_snapshot(
    stream: BinaryIO,
    categories: list[str] | None = None,
    batch_size: int = 2000,
    on_progress: Callable[[ImportStats], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> ImportStats:
    """Import a snapshot stream in batches, one transaction each; idempotent. Once it has
    written as many papers as the table held when it began, the search index is rebuilt once
    at the end instead of row by row (`sanity.fulltext`)."""
    stats = ImportStats()
    started = time.monotonic()
    batch: list[PaperRecord] = []
    held = db.session.scalar(text("SELECT count(*) FROM papers")) or 0

    def flush() -> None:
        result = upsert_papers(batch)
        db.session.commit()
        stats.new += result.new
        stats.updated += result.updated
        stats.unchanged += result.skipped
        stats.changed += result.new + result.updated
        stats.seconds = time.monotonic() - started
        batch.clear()
        if stats.changed >= held:
            fulltext.start_bulk()
        if on_progress:
            on_progress(stats)

    try:
        for record in _read_records(stream, categories or [], stats, on_error or (lambda m: None)):
            batch.append(record)
            if len(batch) >= batch_size:
                flush()
        flush()
    except BaseException:
        try:  # the committed batches become searchable; the import's own error is what counts
            fulltext.finish_bulk()
        except Exception:
            log.exception("search index rebuild after a failed import")
        raise
    fulltext.finish_bulk()
    stats.seconds = time.monotonic() - started
    return stats
