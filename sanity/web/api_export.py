"""Exports and imports in the JSON API: BibTeX for papers and tags, the whole library."""

from __future__ import annotations

import re
import unicodedata

from flask import Blueprint, Response, abort, jsonify, request, stream_with_context
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import BadRequest

from sanity.accounts import library
from sanity.arxiv import parse_id
from sanity.db import db
from sanity.models import Paper
from sanity.papers import get_paper
from sanity.timeutil import get_clock
from sanity.web import bibtex
from sanity.web.openapi import PID, TAG, _json, _op, _param

bp = Blueprint("api_export", __name__, url_prefix="/api")

MAX_IDS = 1000


def _filename(stem: str, suffix: str) -> str:
    """An ASCII file name for Content-Disposition (accents dropped, other characters -> '-')."""
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", plain).strip("-.") or "export") + suffix


def _download(body, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    return response


def _bibtex(papers: list[Paper], stem: str) -> Response:
    return _download(bibtex.entries(papers), "text/x-bibtex", _filename(stem, ".bib"))


@bp.get("/papers/<path:pid>/bibtex")
def paper_bibtex(pid: str):
    """One paper as a BibTeX entry."""
    paper = get_paper(pid)
    return _bibtex([paper], paper.id)


@bp.get("/bibtex")
def selection_bibtex():
    """BibTeX for ?ids=ID,ID (in that order); every bad or unknown id is named."""
    raw = [part.strip() for part in request.args.get("ids", "").split(",") if part.strip()]
    if not raw:
        abort(400, "ids is required: comma-separated arXiv ids")
    if len(raw) > MAX_IDS:
        abort(400, f"ids: at most {MAX_IDS} ids")
    ids, bad = [], []
    for item in raw:
        try:
            ids.append(parse_id(item)[0])
        except ValueError:
            bad.append(item[:80])
    if bad:
        abort(400, "ids: not arXiv ids: " + ", ".join(bad[:20]))
    ids = list(dict.fromkeys(ids))
    found = {p.id: p for p in db.session.scalars(select(Paper).where(Paper.id.in_(ids)))}
    missing = [pid for pid in ids if pid not in found]
    if missing:
        abort(404, "ids: not in this database: " + ", ".join(missing[:20]))
    return _bibtex([found[pid] for pid in ids], "selection")


@bp.get("/tags/<name>/bibtex")
@login_required
def tag_bibtex(name: str):
    """The positive papers of one of your tags as BibTeX, oldest addition first."""
    papers = library.tag_papers(current_user, name)
    if papers is None:
        abort(404, f"no tag named {name[:80]!r}")
    return _bibtex(papers, name)


@bp.get("/library")
@login_required
def export_json():
    """Your whole library (tags with polarity, saved searches) as JSON, streamed."""
    body = library.iter_json(current_user, get_clock().now())
    filename = _filename(f"sanity-library-{current_user.username}", ".json")
    return _download(stream_with_context(body), "application/json", filename)


@bp.get("/library.csv")
@login_required
def export_csv():
    """Your tag memberships as CSV: tag,paper_id,negative,added,title."""
    body = library.iter_csv(current_user)
    filename = _filename(f"sanity-library-{current_user.username}", ".csv")
    return _download(stream_with_context(body), "text/csv", filename)


@bp.post("/library")
@login_required
def import_json():
    """Restore a library export (merging; importing twice changes nothing)."""
    try:
        body = request.get_json(force=True)
    except BadRequest:
        abort(400, "the body is not valid JSON")
    try:
        parsed = library.parse(body)
    except library.LibraryError as exc:
        abort(400, str(exc))
    try:
        result = library.restore(current_user, parsed)
    except IntegrityError:  # a concurrent change to the same tags
        db.session.rollback()
        abort(409, "your library changed during the import; send it again")
    return jsonify(result.as_dict())


def _text(mimetype: str, description: str) -> dict:
    return {"description": description, "content": {mimetype: {"schema": {"type": "string"}}}}


def openapi_paths() -> dict:
    """These endpoints in OpenAPI 3.1, for sanity.openapi.spec(extra_paths=...)."""
    entry = {"type": "object", "required": ["id"],
             "properties": {"id": {"type": "string"}, "added": {"type": ["string", "null"]},
                            "negative": {"type": "boolean"}}}  # fmt: skip
    search = {"type": "object", "required": ["name", "query"],
              "properties": {"name": {"type": "string"}, "query": {"type": "string"},
                             "category": {"type": ["string", "null"]}}}  # fmt: skip
    lib = {"type": "object", "required": ["version"],
           "properties": {"version": {"type": "integer", "const": 1}, "user": {"type": "string"},
                          "exported": {"type": "string", "format": "date-time"},
                          "tags": {"type": "object",
                                   "additionalProperties": {"type": "array", "items": entry}},
                          "saved_searches": {"type": "array", "items": search}}}  # fmt: skip
    restored = {"type": "object",
                "required": ["tags_created", "papers_added", "papers_updated", "papers_unchanged",
                             "skipped", "saved_searches_created", "saved_searches_updated",
                             "saved_searches_unchanged"]}  # fmt: skip
    bib = _text("text/x-bibtex", "BibTeX entries")
    return {
        "/api/papers/{id}/bibtex": {"get": _op("One paper as BibTeX", bib, [PID])},
        "/api/bibtex": {"get": _op("Papers as BibTeX, in the given order", bib, [
            _param("ids", required=True, description="comma-separated arXiv ids (at most 1000)")
        ])},
        "/api/tags/{name}/bibtex": {"get": _op(
            "The positive papers of one of your tags as BibTeX", bib, [TAG], auth=True)},
        "/api/library": {
            "get": _op("Your whole library (tags with polarity, saved searches)", _json(lib),
                       auth=True),
            "post": _op("Restore a library export (merges; idempotent; unknown ids skipped)",
                        _json(restored), auth=True, body=lib),
        },
        "/api/library.csv": {"get": _op(
            "Your tag memberships as CSV: tag,paper_id,negative,added,title",
            _text("text/csv", "CSV with a header row"), auth=True)},
    }  # fmt: skip
