"""PostgreSQL: keep each paper's tsvector in its row (compressed), not in the TOAST table

Ranking a search's matches reads each match's tsvector; stored out of line, every read is a
TOAST index lookup and a second page (measured at 1M papers: 10,000 matches ranked in 149 ms
out of line, 62 ms in the row). Rows written from now on are stored so; existing rows keep
their layout until the table is rewritten (`VACUUM FULL papers`, see docs/scaling.md).
SQLite: nothing to do.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE papers ALTER COLUMN search_vector SET STORAGE MAIN")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE papers ALTER COLUMN search_vector SET STORAGE EXTENDED")
