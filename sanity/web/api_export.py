"""Exports and imports in the JSON API: BibTeX for papers and tags, the whole library."""

from __future__ import annotations

import re
import unicodedata

from flask import Response, abort, jsonify, request, stream_with_context
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import BadRequest

from sanity.accounts import library, restore
from sanity.db import db
from sanity.models import Paper
from sanity.papers import get_paper
from sanity.timeutil import get_clock
from sanity.web import args, bibtex, schemas
from sanity.web.declare import Blueprint

bp = Blueprint("api_export", __name__, url_prefix="/api", description="BibTeX and your library")
BIBTEX = "text/x-bibtex"


def _filename(stem: str, suffix: str) -> str:
    """An ASCII file name for Content-Disposition (accents dropped, other characters -> '-')."""
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", plain).strip("-.") or "export") + suffix


def _download(body, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    return response


def _bibtex(papers: list[Paper], stem: str) -> Response:
    return _download(bibtex.entries(papers), BIBTEX, _filename(stem, ".bib"))


@bp.route("/papers/<path:pid>/bibtex")
@bp.path(args.PaperPath())
@bp.answers(None, 404, mimetype=BIBTEX)
def paper_bibtex(pid: str):
    """One paper as a BibTeX entry."""
    paper = get_paper(pid)
    return _bibtex([paper], paper.id)


@bp.route("/bibtex")
@bp.query(args.IdsArgs())
@bp.answers(None, 404, mimetype=BIBTEX)
def selection_bibtex(ids: list[str]):
    """BibTeX for ?ids=ID,ID (in that order); every bad or unknown id is named."""
    found = {p.id: p for p in db.session.scalars(select(Paper).where(Paper.id.in_(ids)))}
    missing = [pid for pid in ids if pid not in found]
    if missing:
        abort(404, "ids: not in this database: " + ", ".join(missing[:20]))
    return _bibtex([found[pid] for pid in ids], "selection")


@bp.route("/tags/<name>/bibtex")
@bp.login_required
@bp.path(args.AnyTagPath())
@bp.answers(None, 404, mimetype=BIBTEX)
def tag_bibtex(name: str):
    """The positive papers of one of your tags as BibTeX, oldest addition first."""
    papers = library.tag_papers(current_user, name)
    if papers is None:
        abort(404, f"no tag named {name[:80]!r}")
    return _bibtex(papers, name)


@bp.route("/library")
@bp.login_required
@bp.answers(schemas.Library)
def export_json():
    """Your whole library (tags with polarity, saved searches) as JSON, streamed."""
    body = library.iter_json(current_user, get_clock().now())
    filename = _filename(f"sanity-library-{current_user.username}", ".json")
    return _download(stream_with_context(body), "application/json", filename)


@bp.route("/library.csv")
@bp.login_required
@bp.answers(None, mimetype="text/csv")
def export_csv():
    """Your tag memberships as CSV: tag,paper_id,negative,added,title."""
    body = library.iter_csv(current_user)
    filename = _filename(f"sanity-library-{current_user.username}", ".csv")
    return _download(stream_with_context(body), "text/csv", filename)


@bp.route("/library", methods=["POST"])
@bp.login_required
# Documented by the schema; checked by the library format's own parser, whose messages say
# exactly where in a large file the problem is (tags["ml"][12].id).
@bp.doc(
    requestBody={"required": True, "content": {"application/json": {"schema": schemas.Library}}}
)
@bp.answers(schemas.Restored, 400, 409, 413)
def import_json():
    """Restore a library export (merging; importing twice changes nothing)."""
    try:
        body = request.get_json(force=True)
    except BadRequest:
        abort(400, "the body is not valid JSON")
    try:
        parsed = restore.parse(body)
    except restore.LibraryError as exc:
        abort(400, str(exc))
    try:
        result = restore.restore(current_user, parsed)
    except restore.LibraryError as exc:  # over a quota together with what the user holds
        db.session.rollback()
        abort(400, str(exc))
    except IntegrityError:  # a concurrent change to the same tags
        db.session.rollback()
        abort(409, "your library changed during the import; send it again")
    return jsonify(result.as_dict())
