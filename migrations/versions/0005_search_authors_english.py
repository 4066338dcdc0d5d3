"""search: authors in the tsvector with the english configuration (PostgreSQL)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Queries are built with the english configuration, which stems words ("Lovelace" ->
"lovelac"); authors indexed with `simple` kept their full form and never matched. SQLite's
FTS5 table is unaffected.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _vector(authors_config: str) -> str:
    return f"""ALTER TABLE papers ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('{authors_config}', coalesce(authors::text, '')), 'B') ||
        setweight(to_tsvector('english', coalesce(abstract, '')), 'C')
    ) STORED"""


def _swap(authors_config: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_papers_search")
    op.execute("ALTER TABLE papers DROP COLUMN IF EXISTS search_vector")
    op.execute(_vector(authors_config))
    op.execute("CREATE INDEX ix_papers_search ON papers USING gin (search_vector)")


def upgrade():
    _swap("english")


def downgrade():
    _swap("simple")
