"""First-pages thumbnails (THUMBNAILS=true): /thumbs/ID, and which cards on a page show one."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select

from sanity.arxiv import parse_id
from sanity.db import db
from sanity.ingest.thumbnails import MEDIA_TYPE, thumb_path
from sanity.models import Thumbnail

bp = Blueprint("thumbs", __name__)

MAX_AGE = 86400  # a strip never changes; pruned ones are no longer linked


@bp.get("/thumbs/<path:pid>")
def thumb(pid: str):
    """A paper's first-pages strip (WebP); 404 when it has none or thumbnails are off."""
    try:
        key, _ = parse_id(pid)  # only an arXiv id reaches the file system
    except ValueError:
        abort(400, f"not an arXiv id: {pid[:80]}")
    if not current_app.config["THUMBNAILS"]:
        abort(404, "thumbnails are off")
    try:
        data = thumb_path(key).read_bytes()
    except FileNotFoundError:
        abort(404, f"no thumbnail for {key}")
    response = Response(data, mimetype=MEDIA_TYPE)
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    response.set_etag(hashlib.sha256(data).hexdigest()[:32])
    return response.make_conditional(request)


def note_thumbnails(papers) -> None:
    """Read in one query which of a page's papers have a strip (none with THUMBNAILS off),
    for `thumbnail(pid)` in the cards."""
    if not current_app.config["THUMBNAILS"]:
        return
    ids = [p.id for p in papers]
    rows = db.session.execute(
        select(Thumbnail.paper_id, Thumbnail.width, Thumbnail.height)
        .where(Thumbnail.paper_id.in_(ids))
        .where(Thumbnail.status == "ok")
    )
    found = request.environ.setdefault("sanity.thumbs", {})
    found.update({pid: (width, height) for pid, width, height in rows})


@bp.app_template_global()
def thumbnail(pid: str) -> dict | None:
    """{url, width, height} of the paper's strip if the view noted one, else None."""
    size = request.environ.get("sanity.thumbs", {}).get(pid)
    if size is None:
        return None
    url = f"{request.script_root}/thumbs/{quote(pid)}"
    return {"url": url, "width": size[0], "height": size[1]}
