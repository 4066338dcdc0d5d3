"""A user's tags are read once per request: the list page, the API and the feeds turn one read
into training sets and tag controls (counted at the database cursor)."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from sanity.accounts import users as accounts
from sanity.db import db
from sanity.engine import jobs
from tests.factories import register, topical_papers


@contextmanager
def tag_reads():
    """Count the SQL statements that read tag memberships."""
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        if "tag_papers" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_recommendations_read_the_tags_once(client):
    """One read of tag_papers per recommendation request: page, API and feed."""
    topics = topical_papers(6)
    jobs.full_build()
    token = register(client, "rita", "rita password")
    graphs, robots = topics["graphs"], topics["robots"]
    for pid in graphs[:3]:
        client.put(f"/api/tags/graphs/papers/{pid}", headers={"X-CSRFToken": token})
    client.put(f"/api/tags/robots/papers/{robots[0]}?negative=1", headers={"X-CSRFToken": token})
    rita = accounts.find_user("rita")
    bearer = {"Authorization": f"Bearer {accounts.create_token(rita)}"}
    feed = f"/feeds/{accounts.feed_key(rita)}/tags/graphs.atom"
    for url, headers in [
        ("/?rank=tags&tags=graphs", {}),
        ("/?rank=tags&tags=all&hide=1", {}),
        ("/api/recommend?tags=graphs&limit=5", bearer),
        (feed, {}),
    ]:
        with tag_reads() as reads:
            response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        assert len(reads) == 1, (url, reads)
    page = client.get("/?rank=tags&tags=graphs").get_data(as_text=True)
    assert graphs[3] in page  # the recommendation itself still works
