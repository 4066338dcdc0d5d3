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
from email.utils import parsedate_to_datetime
from typing import BinaryIO

from sqlalchemy import insert, select, update

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


def _dedupe(records: Iterable[PaperRecord]) -> dict[str, PaperRecord]:
    best: dict[str, PaperRecord] = {}
    for record in records:
        held = best.get(record.id)
        if held is None or is_newer(record, held.version, held.updated):
            best[record.id] = record
    return best


def upsert_papers(records: Iterable[PaperRecord]) -> UpsertResult:
    """Insert new papers, replace older versions in place, skip the rest. Does not commit."""
    batch = _dedupe(records)
    result = UpsertResult()
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
        db.session.execute(insert(Paper), inserts)
    if updates:
        db.session.execute(update(Paper), updates)
    return result


# ---- bulk snapshot import ----


class SnapshotLineError(ValueError):
    """One line of a snapshot file could not be used."""


def _snapshot_date(text: str | None):
    if not text:
        return None
    try:
        return as_utc(parsedate_to_datetime(text))
    except (TypeError, ValueError):
        return parse_datetime(text)


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


def snapshot_record(obj: object) -> PaperRecord:
    """Turn one snapshot object (Kaggle's arxiv-metadata-oai-snapshot format) into a record."""
    if not isinstance(obj, dict):
        raise SnapshotLineError("not a JSON object")
    try:
        pid, _ = parse_id(str(obj.get("id") or ""))
    except ValueError as exc:
        raise SnapshotLineError(str(exc)) from None
    title = clean_text(obj.get("title") if isinstance(obj.get("title"), str) else "")
    if not title:
        raise SnapshotLineError(f"{pid}: no title")
    versions = obj.get("versions") if isinstance(obj.get("versions"), list) else []
    numbers, dates = [], []
    for entry in versions:
        if isinstance(entry, dict):
            text = str(entry.get("version", "")).lstrip("v")
            if text.isdigit():
                numbers.append(int(text))
            created = _snapshot_date(entry.get("created"))
            if created:
                dates.append(created)
    fallback = parse_datetime(obj.get("update_date"))
    published = min(dates) if dates else fallback
    updated = max(dates) if dates else fallback
    if published is None or updated is None:
        raise SnapshotLineError(f"{pid}: no versions and no update_date")
    categories = obj.get("categories") or ""
    if isinstance(categories, list):
        categories = " ".join(categories)
    return PaperRecord(
        id=pid,
        version=max(numbers) if numbers else None,
        title=title,
        abstract=clean_text(obj.get("abstract") or ""),
        authors=_snapshot_authors(obj),
        categories=list(dict.fromkeys(str(categories).split())),
        published=published,
        updated=updated,
        comment=clean_text(obj.get("comments")) or None,
        journal_ref=clean_text(obj.get("journal-ref")) or None,
        doi=clean_text(obj.get("doi")) or None,
        license=clean_text(obj.get("license")) or None,
    )


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
    changed_ids: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def open_snapshot(path: str) -> BinaryIO:
    """Open a snapshot file, gzip by magic number, or standard input for '-'."""
    if path == "-":
        stream = sys.stdin.buffer
    else:
        stream = open(path, "rb")  # noqa: SIM115 - closed by the caller
    peek = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    if peek == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def _matches(record: PaperRecord, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(c, p) for c in record.categories for p in patterns)


def _read_records(
    stream: BinaryIO, patterns: list[str], stats: ImportStats, on_error: Callable[[str], None]
) -> Iterator[PaperRecord]:
    for number, raw in enumerate(io.BufferedReader(stream, 1 << 20), start=1):  # type: ignore[arg-type]
        stats.lines = number
        if not raw.strip():
            continue
        try:
            record = snapshot_record(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError, SnapshotLineError) as exc:
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


def _short(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at column {exc.colno})"
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
        stats.changed_ids.extend(result.new_ids + result.updated_ids)
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
