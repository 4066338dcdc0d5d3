"""The tag endpoints of the JSON API (session with CSRF token, or Bearer token)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user, login_required

from sanity.accounts import tags
from sanity.arxiv import parse_id

bp = Blueprint("api_tags", __name__, url_prefix="/api")


def _paper_id(pid: str) -> str:
    try:
        return parse_id(pid)[0]
    except ValueError:
        abort(400, f"not an arXiv id: {pid[:80]}")


def _tags_body() -> dict:
    data = tags.user_tags(current_user)
    return {
        "tags": {name: entry["positive"] for name, entry in data.items()},
        "negative": {name: entry["negative"] for name, entry in data.items() if entry["negative"]},
    }


@bp.get("/tags")
@login_required
def list_tags():
    """The user's tags: positive papers per tag, and "not interested" papers per tag."""
    return jsonify(_tags_body())


@bp.put("/tags/<name>/papers/<path:pid>")
@login_required
def add(name: str, pid: str):
    """Add a paper to a tag (created on first use); ?negative=1 marks it not interesting."""
    negative = request.args.get("negative", "0").lower() in ("1", "true", "yes")
    try:
        tags.add_paper(current_user, name, _paper_id(pid), negative)
    except tags.TagError as exc:
        abort(400, str(exc))
    except LookupError as exc:
        abort(404, str(exc))
    return jsonify(_tags_body())


@bp.delete("/tags/<name>/papers/<path:pid>")
@login_required
def remove(name: str, pid: str):
    """Take a paper out of a tag."""
    if not tags.remove_paper(current_user, name, _paper_id(pid)):
        abort(404, f"paper {pid[:80]} is not in tag {name[:80]!r}")
    return jsonify(_tags_body())


@bp.delete("/tags/<name>")
@login_required
def delete(name: str):
    """Delete a tag and its memberships (the papers stay)."""
    if not tags.delete_tag(current_user, name):
        abort(404, f"no tag named {name[:80]!r}")
    return jsonify(_tags_body())


@bp.post("/tags/<name>/rename")
@login_required
def rename(name: str):
    """Rename a tag: {"name": "new name"} (onto an existing tag: merge)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        abort(400, 'send {"name": "new name"}')
    try:
        tags.rename_tag(current_user, name, body["name"])
    except tags.TagError as exc:
        abort(400, str(exc))
    except LookupError as exc:
        abort(404, str(exc))
    return jsonify(_tags_body())
