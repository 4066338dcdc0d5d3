"""Migrations are the schema: upgrade reaches head and matches the models on both databases."""

from __future__ import annotations

import os
import subprocess

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade

from sanity.db import MIGRATIONS_DIR, db, include_name
from tests import processes

pytestmark = pytest.mark.both_databases


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_upgrade_reaches_head(app):
    """`upgrade` on an empty database reaches the head revision with every table."""
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        tables = set(sa.inspect(conn).get_table_names())
    assert {"papers", "users", "tags", "tag_papers", "crawl_runs", "job_locks"} <= tables


def test_models_and_migrations_do_not_drift(app):
    """Autogenerate against the models finds nothing to change."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_downgrade_to_base_and_back(app):
    """Every migration can be undone and reapplied."""
    downgrade(revision="base")
    with db.engine.connect() as conn:
        assert "papers" not in sa.inspect(conn).get_table_names()
    from flask_migrate import upgrade

    upgrade()
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()


def test_sqlite_uses_wal_and_foreign_keys(app):
    """SQLite connections run in WAL mode with foreign keys enforced."""
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_db_upgrade_from_another_directory(tmp_path):
    """`sanity db upgrade` finds its migrations from any working directory."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANITY_")}
    env["SANITY_INSTANCE_PATH"] = str(tmp_path / "instance")
    result = subprocess.run(
        [processes.SANITY, "db", "upgrade"], cwd=workdir, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'instance' / 'sanity.db'}")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    engine.dispose()
    assert list(workdir.iterdir()) == []  # nothing written to the current directory
