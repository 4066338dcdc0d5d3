"""Read an arxiv-sanity-lite instance's files; import its papers (accounts.lite: its users).

Lite keeps its data in SqliteDict files: SQLite tables of (key TEXT PRIMARY KEY, value BLOB) where
value is a pickle, zlib-compressed for the `tags` table of dict.db and the `papers` table of
papers.db, plain for `email` and `last_active`. Pickles run code when loaded, so values go through
a restricted unpickler that builds plain data only and refuses everything else.
"""

from __future__ import annotations

import builtins
import io
import logging
import pickle
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from sanity.arxiv import FeedError, PaperRecord, entry_record
from sanity.db import db
from sanity.ingest.upsert import check_storable, upsert_papers

MAX_VALUE_BYTES = 64 * 1024 * 1024  # one value, uncompressed: far above any real one
SAFE_BUILTINS = frozenset(
    {"dict", "set", "frozenset", "list", "tuple", "str", "int", "float", "bool"}
)

log = logging.getLogger(__name__)


class LiteError(Exception):
    """A file that is not usable lite data; the message is one line saying why."""


def _struct_time(values, fields=None) -> tuple:
    """Stand-in for time.struct_time (lite stores feedparser's published_parsed): a tuple."""
    return tuple(values)


class Refused(pickle.UnpicklingError):
    """The pickle names something other than plain data."""


class SafeUnpickler(pickle.Unpickler):
    """Builds only dict, set, frozenset, list, tuple, str, int, float, bool (and None, bytes).

    Anything else a pickle names (os.system, subprocess, builtins.eval, ...) is refused before
    it can be called. time.struct_time becomes a plain tuple.
    """

    def find_class(self, module: str, name: str):
        if module in ("builtins", "__builtin__") and name in SAFE_BUILTINS:
            return getattr(builtins, name)
        if (module, name) == ("time", "struct_time"):
            return _struct_time
        raise Refused(f"refusing to unpickle {module}.{name}: only plain data is allowed")


def _inflate(blob: bytes) -> bytes:
    inflater = zlib.decompressobj()
    data = inflater.decompress(blob, MAX_VALUE_BYTES)
    if inflater.unconsumed_tail:
        raise LiteError(f"a value is larger than {MAX_VALUE_BYTES // 2**20} MB uncompressed")
    return data


def loads(blob: bytes | str) -> object:
    """One SqliteDict value: zlib-compressed or plain pickle, loaded with SafeUnpickler."""
    if isinstance(blob, str):
        blob = blob.encode("latin-1")
    blob = bytes(blob)
    try:
        data = _inflate(blob) if blob[:1] == b"\x78" else blob  # 0x78: the zlib header
    except zlib.error as exc:
        raise LiteError(f"corrupt compressed value ({exc})") from None
    try:
        return SafeUnpickler(io.BytesIO(data)).load()
    except Refused as exc:
        raise LiteError(str(exc)) from None
    except Exception as exc:  # truncated or garbage pickles fail in many ways
        raise LiteError(f"unreadable value ({type(exc).__name__}: {exc})") from None


def open_sqlite(path: str) -> tuple[sqlite3.Connection, set[str]]:
    """A read-only connection to a lite file and the names of its tables."""
    file = Path(path)
    if not file.is_file():
        raise LiteError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(file.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LiteError(f"{path}: cannot open ({exc})") from None
    try:
        names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LiteError(f"{path}: not a SQLite database ({exc})") from None
    return conn, {n for (n,) in names}


def read_table(conn: sqlite3.Connection, path: str, table: str) -> Iterator[tuple[str, object]]:
    """(key, value) of every row of a SqliteDict table, values safely unpickled."""
    try:
        rows = conn.execute(f'SELECT key, value FROM "{table}"')
        for key, value in rows:
            try:
                yield str(key), loads(value)
            except LiteError as exc:
                raise LiteError(f"{path}: {table}[{str(key)[:80]!r}]: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise LiteError(f"{path}: cannot read table {table!r} ({exc})") from None


# ---- dict.db ----


@dataclass
class LiteUser:
    name: str
    email: str | None = None
    tags: dict[str, set[str]] = field(default_factory=dict)


def _user_tags(path: str, user: str, value: object) -> dict[str, set[str]]:
    where = f"{path}: tags[{user[:80]!r}]"
    if not isinstance(value, dict):
        raise LiteError(f"{where} is not a mapping of tag names to paper ids")
    out = {}
    for tag, ids in value.items():
        if not isinstance(tag, str) or not isinstance(ids, set | frozenset | list | tuple):
            raise LiteError(f"{where} is not a mapping of tag names to sets of paper ids")
        if not all(isinstance(pid, str) for pid in ids):
            raise LiteError(f"{where}[{tag[:80]!r}] holds something other than paper ids")
        out[tag] = set(ids)
    return out


def read_users(path: str) -> list[LiteUser]:
    """Every user of a lite dict.db with their tags and email (read completely, checked)."""
    conn, tables = open_sqlite(path)
    with closing(conn):
        if "tags" not in tables:
            raise LiteError(f"{path}: no 'tags' table (not an arxiv-sanity-lite dict.db)")
        users = {
            name: LiteUser(name, tags=_user_tags(path, name, value))
            for name, value in read_table(conn, path, "tags")
        }
        if "email" in tables:
            for name, value in read_table(conn, path, "email"):
                if isinstance(value, str) and value.strip():
                    users.setdefault(name, LiteUser(name)).email = value.strip()
    return list(users.values())


# ---- papers.db ----


def lite_record(key: str, value: object) -> PaperRecord:
    """A lite paper (an arXiv API entry as feedparser parsed it) as a PaperRecord."""
    if not isinstance(value, dict):
        raise ValueError("not a mapping")
    entry = dict(value)
    if not entry.get("id"):
        entry["id"] = f"{entry.get('_id') or key}v{entry.get('_version') or 1}"
    record = entry_record(entry)  # lite stored exactly what the API parser reads
    check_storable(record)
    return record


def check_papers_file(path: str) -> None:
    """Raise LiteError unless the file is a SQLite file with a 'papers' table."""
    conn, tables = open_sqlite(path)
    conn.close()
    if "papers" not in tables:
        raise LiteError(f"{path}: no 'papers' table (not an arxiv-sanity-lite papers.db)")


@dataclass
class PaperStats:
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: int = 0
    # lite's key -> our id where they differ (lite keys old-style ids by their number alone)
    aliases: dict[str, str] = field(default_factory=dict)


def import_papers(
    path: str,
    batch_size: int = 1000,
    progress: Callable[[PaperStats], None] | None = None,
    report: Callable[[str], None] | None = None,
) -> PaperStats:
    """Upsert every paper of a lite papers.db, committing per batch; idempotent."""
    check_papers_file(path)
    stats = PaperStats()
    conn, _ = open_sqlite(path)
    with closing(conn):
        batch: list[PaperRecord] = []
        for key, value in read_table(conn, path, "papers"):
            stats.read += 1
            try:
                record = lite_record(key, value)
            except (ValueError, TypeError, AttributeError, KeyError, FeedError) as exc:
                stats.bad += 1
                if report:
                    report(f"paper {key[:80]}: {exc}")
                continue
            batch.append(record)
            if record.id != key:
                stats.aliases[key] = record.id
            if len(batch) >= batch_size:
                _flush(batch, stats, progress)
        _flush(batch, stats, progress)
    return stats


def _flush(batch: list[PaperRecord], stats: PaperStats, progress) -> None:
    if not batch:
        return
    result = upsert_papers(batch)
    db.session.commit()
    stats.new += result.new
    stats.updated += result.updated
    stats.unchanged += len(batch) - result.new - result.updated
    batch.clear()
    if progress:
        progress(stats)
