"""Upsert parsed papers, and import arXiv's bulk metadata snapshot (one JSON object a line)."""

from __future__ import annotations

import fnmatch
import gzip
import io
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import BinaryIO

from sqlalchemy import String, insert, select, update

from .arxiv import PaperRecord, clean_text, parse_datetime, parse_id
from .db import db
from .models import Paper
from .timeutil import as_utc, utcnow

CHUNK = 500  # ids per IN (...) query, well under every database's parameter limit


@dataclass
class UpsertResult:
    new_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)
    skipped: int = 0

    @property
    def new(self) -> int:
        return len(self.new_ids)

    @property
    def updated(self) -> int:
        return len(self.updated_ids)


def is_newer(record: PaperRecord, version: int | None, updated) -> bool:
    """Whether a record should replace the stored paper (a later version; by date if unknown)."""
    if record.version is not None and version is not None:
        return record.version > version
    stored_day = as_utc(updated).date()
    if record.version is not None:  # stored version unknown: a versioned record as new is better
        return record.updated.date() >= stored_day
    return record.updated.date() > stored_day


def _row(record: PaperRecord) -> dict:
    return {
        "id": record.id,
        "version": record.version,
        "title": record.title,
        "abstract": record.abstract,
        "authors": record.authors,
        "primary_category": record.primary_category,
        "categories": " ".join(record.categories),
        "published": record.published,
        "updated": record.updated,
        "comment": record.comment,
        "journal_ref": record.journal_ref,
        "doi": record.doi,
        "license": record.license,
    }


def _dedupe(records: Iterable[PaperRecord]) -> tuple[dict[str, PaperRecord], int]:
    """The newest record of each id, and how many records that left out."""
    best: dict[str, PaperRecord] = {}
    seen = 0
    for record in records:
        seen += 1
        held = best.get(record.id)
        if held is None or is_newer(record, held.version, held.updated):
            best[record.id] = record
    return best, seen - len(best)


def upsert_papers(records: Iterable[PaperRecord]) -> UpsertResult:
    """Insert new papers, replace older versions in place, skip the rest. Does not commit."""
    batch, duplicates = _dedupe(records)
    result = UpsertResult(skipped=duplicates)  # a repeat within the batch changes nothing
    ids = list(batch)
    stored: dict[str, tuple] = {}
    for i in range(0, len(ids), CHUNK):
        rows = db.session.execute(
            select(Paper.id, Paper.version, Paper.updated).where(Paper.id.in_(ids[i : i + CHUNK]))
        )
        stored.update({pid: (version, updated) for pid, version, updated in rows})
    inserts, updates = [], []
    now = utcnow()
    for pid, record in batch.items():
        if pid not in stored:
            inserts.append(_row(record) | {"added": now})
            result.new_ids.append(pid)
        elif is_newer(record, *stored[pid]):
            updates.append(_row(record))
            result.updated_ids.append(pid)
        else:
            result.skipped += 1
    if inserts:
        # Core, not ORM, bulk insert: the ORM drops None values from each row's parameters, so
        # rows that differ in which fields are null split into many small executemany() calls.
        db.session.execute(insert(Paper.__table__), inserts)
    if updates:
        db.session.execute(update(Paper), updates)
    return result


# ---- bulk snapshot import ----


class SnapshotLineError(ValueError):
    """One line of a snapshot file could not be used."""


# Columns of bounded length: a longer value would make PostgreSQL reject the whole batch.
_LIMITS = {
    column.name: column.type.length
    for column in Paper.__table__.columns
    if isinstance(column.type, String) and column.type.length
}
_MAX_VERSION = 2**31 - 1  # an INTEGER column


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
    """(highest version number or None, v1 date, latest version date); update_date if none."""
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
    if not dates:
        fallback = _snapshot_date(obj.get("update_date"))
        if fallback is None:
            raise SnapshotLineError(f"{pid}: no versions and no update_date")
        dates = [fallback]
    version = max(numbers) if numbers else None
    if version is not None and version > _MAX_VERSION:
        raise SnapshotLineError(f"{pid}: version number {version} out of range")
    return version, min(dates), max(dates)


def _check_storable(record: PaperRecord) -> None:
    """Refuse values every database would not store as given (NUL, lone surrogates, length)."""
    for name, limit in _LIMITS.items():
        if len(getattr(record, name) or "") > limit:
            raise SnapshotLineError(f"{record.id[:80]}: {name} longer than {limit} characters")
    optional = (record.comment, record.journal_ref, record.doi, record.license)
    text = "\n".join(
        [record.title, record.abstract, *record.authors, *record.categories]
        + [value for value in optional if value]
    )
    if "\x00" in text:
        raise SnapshotLineError(f"{record.id}: text contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise SnapshotLineError(f"{record.id}: lone surrogate in text") from None


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
    _check_storable(record)
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
    """Import a snapshot stream in batches, one transaction each; idempotent."""
    stats = ImportStats()
    started = time.monotonic()
    batch: list[PaperRecord] = []

    def flush() -> None:
        result = upsert_papers(batch)
        db.session.commit()
        stats.new += result.new
        stats.updated += result.updated
        stats.unchanged += result.skipped
        stats.changed += result.new + result.updated
        stats.seconds = time.monotonic() - started
        batch.clear()
        if on_progress:
            on_progress(stats)

    for record in _read_records(stream, categories or [], stats, on_error or (lambda m: None)):
        batch.append(record)
        if len(batch) >= batch_size:
            flush()
    flush()
    return stats
