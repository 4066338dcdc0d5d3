"""The SQLite full-text index's upkeep: per-row triggers normally, one rebuild after a bulk load.

The FTS5 table `papers_fts` (migration 0002) reads its text from `papers` and is kept in step
by three triggers. Indexing row by row through them costs about twice what one `rebuild` of the
whole table costs per row, so a large import drops the triggers once it has written as many
rows as the table held when it began (then a rebuild is the cheaper way; for an empty table, at
once), and `finish_bulk` puts them back and rebuilds the index. If the process dies in between,
the next write of papers, in any process, finds the triggers missing and does the same
(`ensure`), so no paper stays unsearchable. PostgreSQL keeps its tsvector column and GIN index
current by itself; nothing here applies there.
"""

from __future__ import annotations

from sqlalchemy import text

from sanity.db import db, is_sqlite

# The same statements as migration 0002 creates (tests/test_fulltext.py compares them).
TRIGGERS = {
    "papers_fts_ai": """CREATE TRIGGER papers_fts_ai AFTER INSERT ON papers BEGIN
        INSERT INTO papers_fts(rowid, title, abstract, authors)
        VALUES (new.rowid, new.title, new.abstract, new.authors);
    END""",
    "papers_fts_ad": """CREATE TRIGGER papers_fts_ad AFTER DELETE ON papers BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, title, abstract, authors)
        VALUES ('delete', old.rowid, old.title, old.abstract, old.authors);
    END""",
    "papers_fts_au": """CREATE TRIGGER papers_fts_au AFTER UPDATE ON papers BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, title, abstract, authors)
        VALUES ('delete', old.rowid, old.title, old.abstract, old.authors);
        INSERT INTO papers_fts(rowid, title, abstract, authors)
        VALUES (new.rowid, new.title, new.abstract, new.authors);
    END""",
}
_TRIGGERS_FOUND = text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
_bulk = False  # this process is loading in bulk: the triggers are meant to be missing


def _present() -> set[str]:
    """Which of the index's triggers exist."""
    return set(db.session.scalars(_TRIGGERS_FOUND)) & TRIGGERS.keys()


def rebuild(commit: bool = True) -> None:
    """Rebuild the index from `papers` and put back any missing trigger, in one transaction
    (the caller's, with `commit=False`): if it never commits, the triggers stay missing and
    the next write of papers repairs the index again."""
    global _bulk
    if not is_sqlite():
        return
    # The INSERT first: the driver opens a transaction only for data statements, so a CREATE
    # TRIGGER run before it would commit on its own and mark the index as complete too early.
    db.session.execute(text("INSERT INTO papers_fts(papers_fts) VALUES('rebuild')"))
    found = _present()
    for name, ddl in TRIGGERS.items():
        if name not in found:
            db.session.execute(text(ddl))
    if commit:
        db.session.commit()
    _bulk = False


def ensure() -> None:
    """Before papers are written: an index left without its triggers by a bulk load that never
    finished (a killed import) is repaired first, in the caller's transaction. Costs one
    catalogue lookup."""
    if is_sqlite() and not _bulk and _present() != TRIGGERS.keys():
        rebuild(commit=False)


def start_bulk() -> None:
    """Stop indexing row by row (the caller has committed its work); `finish_bulk` after."""
    global _bulk
    if not is_sqlite() or _bulk:
        return
    for name in TRIGGERS:
        db.session.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    db.session.commit()
    _bulk = True


def finish_bulk() -> None:
    """After a bulk load (also after a failed one, whose open transaction is dropped):
    triggers back, index rebuilt once."""
    if _bulk:
        db.session.rollback()
        rebuild()
