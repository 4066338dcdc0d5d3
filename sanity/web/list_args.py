"""The paper list's URL state. Every view of the list lives in the URL (q, rank, pid, tags,
days, category, hide, C, page), so a page can be bookmarked and shared, and every link it
renders keeps the rest of the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import url_for
from sqlalchemy import func, select

from sanity.db import db
from sanity.models import Paper
from sanity.timeutil import as_utc
from sanity.web.args import ListArgsSchema
from sanity.web.declare import parser

WINDOWS = [("latest", "latest day"), ("3", "3 days"), ("7", "week"), ("30", "month")]
WINDOW_PHRASES = {
    "latest": "from the latest announcement day",
    "3": "from the last 3 days",
    "7": "from the last week",
    "30": "from the last month",
}
LIST_ARGS = ListArgsSchema()


@dataclass
class ListArgs:
    """The paper list's state, parsed from and rendered back into the URL."""

    q: str = ""
    rank: str = "time"
    pid: str = ""
    tags: list[str] = field(default_factory=list)
    days: str = ""
    category: str = ""
    page: int = 1
    hide: bool = False
    C: float | None = None

    def implied_rank(self) -> str:
        if self.q:
            return "search"
        if self.pid:
            return "similar"
        return "tags" if self.tags else "time"

    def params(self, **changes) -> dict:
        """Query parameters for a link: this state with `changes`, defaults left out."""
        values = {
            "q": self.q,
            "rank": self.rank,
            "pid": self.pid,
            "tags": ",".join(self.tags),
            "days": self.days,
            "category": self.category,
            "hide": "1" if self.hide else "",
            "C": "" if self.C is None else f"{self.C:g}",
            "page": self.page,
        } | changes
        implied = ListArgs(
            q=values["q"], pid=values["pid"], tags=[t for t in [values["tags"]] if t]
        )
        if values["rank"] == implied.implied_rank():
            values["rank"] = ""
        if str(values["page"]) == "1":
            values["page"] = ""
        return {k: v for k, v in values.items() if v not in ("", None)}

    def url(self, **changes) -> str:
        return url_for("papers.index", **self.params(**changes))

    @property
    def window_phrase(self) -> str:
        return WINDOW_PHRASES.get(self.days) or f"from the last {self.days} days"


def parse_args() -> ListArgs:
    """ListArgs from the request's query (sanity.web.args.ListArgsSchema); a 400 names the first
    bad parameter."""
    values = parser.parse(LIST_ARGS, location="query")
    days = values.pop("days", "")
    out = ListArgs(**values, days=days if isinstance(days, str) else f"{days:g}")
    if "rank" not in values:
        out.rank = out.implied_rank()
    return out


def window_days(days: str, now: datetime) -> float | None:
    """The window in days before `now`; "latest" is the 24 hours up to the newest paper."""
    if not days:
        return None
    if days != "latest":
        return float(days)
    newest = as_utc(db.session.scalar(select(func.max(Paper.published))))
    if newest is None:
        return None
    return (now - (newest - timedelta(days=1))).total_seconds() / 86400
