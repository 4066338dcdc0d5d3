"""Database handle, declarative base and connection settings for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Stable constraint names keep Alembic batch migrations on SQLite predictable.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)


# Objects the ORM does not model (the full-text table and its shadow tables, the tsvector column
# and its GIN index) are created by migrations; autogenerate must leave them alone.
UNMODELLED_PREFIXES = ("papers_fts", "ix_papers_search", "search_vector")


def include_name(name, type_, parent_names) -> bool:
    """Alembic filter: compare only what the models describe."""
    if name and name.startswith(UNMODELLED_PREFIXES):
        return False
    if type_ == "table":
        return name in db.metadata.tables
    return True


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres:// and postgresql:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@event.listens_for(Engine, "connect")
def _session_settings(dbapi_connection, connection_record) -> None:
    """WAL, foreign keys and a busy timeout on every SQLite connection; PostgreSQL without
    JIT compilation (a search over a million papers is costed high enough to be compiled,
    which added 30 ms to a query of 80, and no query here runs long enough to gain)."""
    module = type(dbapi_connection).__module__
    if module.startswith("psycopg"):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        dbapi_connection.commit()
        return
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def init_app(app: Flask) -> None:
    """Point Flask-SQLAlchemy at DATABASE_URL (SQLite in the instance folder by default)."""
    url = app.config.get("DATABASE_URL")
    if not url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        url = "sqlite:///" + str(Path(app.instance_path) / "sanity.db")
    url = normalize_url(url)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    options = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # One SQLite file shared by request threads and the scheduler thread.
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    db.init_app(app)
    migrate.init_app(app, db)


def is_sqlite() -> bool:
    """True when the current app's database is SQLite."""
    return db.engine.dialect.name == "sqlite"


CHUNK = 500  # ids per IN (...) query, well under every database's parameter limit


def chunked(ids: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """`ids` in slices of `size`, for IN (...) queries."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def schema_problem() -> str | None:
    """Why the database cannot be used yet (unreachable, not migrated, outdated), or None."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    try:
        with db.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return f"cannot open the database {db.engine.url.render_as_string()}: {reason}"
    if current is None:
        return "the database is empty: run `sanity db upgrade` first"
    if current != head:
        return f"the database is at revision {current}, not {head}: run `sanity db upgrade`"
    return None
