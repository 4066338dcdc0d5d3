"""The SQLite search index after bulk loads: rebuilt once, never left without its triggers."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import text

from sanity import fulltext
from sanity.db import db
from sanity.engine.search import rebuild_index, search
from sanity.ingest.snapshot import import_snapshot
from sanity.ingest.upsert import upsert_papers
from sanity.query import parse_query
from tests.factories import make_record
from tests.ingest.test_snapshot import line, snapshot


@pytest.fixture(autouse=True)
def no_bulk_load_left_behind():
    """`_bulk` is per process: no test leaves it set for the tests after it."""
    yield
    fulltext._bulk = False


def triggers() -> set[str]:
    names = db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    return set(names) & set(fulltext.TRIGGERS)


def found(word: str) -> int:
    """How many papers a search finds."""
    return search(parse_query(word))[1]


def integrity_check() -> None:
    """FTS5 raises if its index does not match the content table."""
    db.session.execute(
        text("INSERT INTO papers_fts(papers_fts, rank) VALUES('integrity-check', 1)")
    )


def lines(first: int, count: int, word: str) -> bytes:
    return snapshot(
        *(line(f"2601.{n:05d}", title=f"{word} paper {n}") for n in range(first, first + count))
    )


def test_the_triggers_are_the_ones_the_migration_creates(app):
    made = dict(
        db.session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
    )
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    assert {n: squash(made[n]) for n in fulltext.TRIGGERS} == {
        n: squash(s) for n, s in fulltext.TRIGGERS.items()
    }


def test_a_large_import_indexes_in_bulk_and_puts_the_triggers_back(app):
    """Into an empty table the triggers are dropped after the first batch; at the end they are
    back and every paper, from before and after the switch, is searchable."""
    seen = []
    stats = import_snapshot(
        io.BytesIO(lines(1, 50, "quokka")),
        batch_size=10,
        on_progress=lambda s: seen.append(triggers()),
    )
    assert stats.new == 50
    assert seen[0] == set() and all(s == set() for s in seen)  # bulk from the first batch on
    assert triggers() == set(fulltext.TRIGGERS)
    integrity_check()
    assert found("quokka") == 50

    # A later small import into the now-full table keeps indexing row by row.
    seen.clear()
    import_snapshot(
        io.BytesIO(lines(100, 5, "wombat")),
        batch_size=2,
        on_progress=lambda s: seen.append(triggers()),
    )
    assert all(s == set(fulltext.TRIGGERS) for s in seen)
    assert found("wombat") == 5
    integrity_check()


def test_an_import_switches_to_bulk_once_it_outgrows_the_table(app):
    import_snapshot(io.BytesIO(lines(1, 20, "quokka")), batch_size=20)
    seen = []
    import_snapshot(
        io.BytesIO(lines(100, 60, "wombat")),
        batch_size=10,
        on_progress=lambda s: seen.append(triggers()),
    )
    assert seen[0] == set(fulltext.TRIGGERS)  # 10 written: fewer than the table held
    assert seen[1:] and all(s == set() for s in seen[1:])  # 20: as many, bulk from here
    assert triggers() == set(fulltext.TRIGGERS)
    assert found("wombat") == 60 and found("quokka") == 20
    integrity_check()


def test_a_failing_import_still_leaves_a_complete_index(app):
    data = lines(1, 30, "quokka") + b"\x00 not json\n"

    def fail(stats):
        if stats.lines >= 20:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        import_snapshot(io.BytesIO(data), batch_size=10, on_progress=fail)
    assert triggers() == set(fulltext.TRIGGERS)
    assert found("quokka") == 20  # the committed batches, searchable
    integrity_check()


def test_a_killed_bulk_load_is_repaired_by_the_next_write_of_papers(app):
    """The process that dropped the triggers died: the next upsert, anywhere, repairs the index
    before it writes, so the papers loaded in between and the new ones are all found."""
    import_snapshot(io.BytesIO(lines(1, 10, "quokka")), batch_size=10)
    fulltext.start_bulk()
    upsert_papers([make_record(title="Platypus loaded in bulk")])
    db.session.commit()
    fulltext._bulk = False  # a new process: it knows of no bulk load
    assert triggers() == set()

    upsert_papers([make_record(title="Platypus crawled later")])
    db.session.commit()
    assert triggers() == set(fulltext.TRIGGERS)
    assert found("platypus") == 2 and found("quokka") == 10
    integrity_check()


def test_compute_rebuild_restores_missing_triggers(app):
    upsert_papers([make_record(title="Echidna")])
    db.session.commit()
    fulltext.start_bulk()
    fulltext._bulk = False
    rebuild_index()
    assert triggers() == set(fulltext.TRIGGERS)
    assert found("echidna")


def test_a_repair_rolled_back_with_its_write_leaves_the_triggers_missing(app):
    """The repair is part of the writer's transaction: if that rolls back, the triggers are not
    back either (they would mark a stale index as complete), and the next write repairs it."""
    upsert_papers([make_record(title="Numbat")])
    db.session.commit()
    fulltext.start_bulk()
    upsert_papers([make_record(title="Numbat in bulk")])
    db.session.commit()
    fulltext._bulk = False

    upsert_papers([make_record(title="Numbat rolled back")])
    db.session.rollback()
    assert triggers() == set()

    upsert_papers([make_record(title="Numbat kept")])
    db.session.commit()
    assert triggers() == set(fulltext.TRIGGERS)
    assert found("numbat") == 3
    integrity_check()
