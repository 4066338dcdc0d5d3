"""The plain paper list with the crawl status (the full UI comes with accounts)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from ..db import db
from ..papers import last_crawl, papers_select, stats_dict
from ..timeutil import get_clock

bp = Blueprint("papers", __name__)


@bp.get("/")
def index():
    """Newest papers, paginated, with the last crawl's outcome."""
    page = request.args.get("page", 1, type=int)
    page = page if page and page > 0 else 1
    per_page = current_app.config["PAPERS_PER_PAGE"]
    listing = db.paginate(papers_select(), page=page, per_page=per_page, error_out=False)
    return render_template(
        "index.html", listing=listing, crawl=last_crawl(), stats=stats_dict(), now=get_clock().now()
    )
