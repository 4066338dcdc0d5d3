"""The one write path for papers: insert new ones, replace older versions in place."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import String, insert, select, update

from sanity import fulltext
from sanity.arxiv import PaperRecord
from sanity.db import chunked, db
from sanity.models import Paper
from sanity.timeutil import as_utc, utcnow


class UnstorableRecord(ValueError):
    """A record holding a value no database would store as given."""


# Columns of bounded length: a longer value would make PostgreSQL reject the whole batch.
_LIMITS = {
    column.name: column.type.length
    for column in Paper.__table__.columns
    if isinstance(column.type, String) and column.type.length
}
MAX_VERSION = 2**31 - 1  # an INTEGER column
log = logging.getLogger(__name__)


@dataclass
class UpsertResult:
    new_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)
    skipped: int = 0
    unstorable: list[str] = field(default_factory=list)  # why each refused record was left out

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
    """Insert new papers, replace older versions in place, skip the rest (and any record no
    database would store, reported in `unstorable` and the log). Does not commit."""
    fulltext.ensure()
    refused = []
    batch, duplicates = _dedupe(_storable(records, refused))
    result = UpsertResult(skipped=duplicates, unstorable=refused)  # repeats change nothing
    ids = list(batch)
    stored: dict[str, tuple] = {}
    for chunk in chunked(ids):
        rows = db.session.execute(
            select(Paper.id, Paper.version, Paper.updated).where(Paper.id.in_(chunk))
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


def _storable(records: Iterable[PaperRecord], refused: list[str]) -> Iterator[PaperRecord]:
    for record in records:
        try:
            check_storable(record)
        except UnstorableRecord as exc:
            log.warning("skipped a record: %s", exc)
            refused.append(str(exc))
            continue
        yield record


def check_storable(record: PaperRecord) -> None:
    """Refuse values every database would not store as given (NUL, lone surrogates, length,
    a version beyond the INTEGER column)."""
    if record.version is not None and not 0 <= record.version <= MAX_VERSION:
        raise UnstorableRecord(f"{record.id[:80]}: version {record.version} is out of range")
    for name, limit in _LIMITS.items():
        if len(getattr(record, name) or "") > limit:
            raise UnstorableRecord(f"{record.id[:80]}: {name} longer than {limit} characters")
    optional = (record.comment, record.journal_ref, record.doi, record.license)
    text = "\n".join(
        [record.title, record.abstract, *record.authors, *record.categories]
        + [value for value in optional if value]
    )
    if "\x00" in text:
        raise UnstorableRecord(f"{record.id}: text contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnstorableRecord(f"{record.id}: lone surrogate in text") from None
