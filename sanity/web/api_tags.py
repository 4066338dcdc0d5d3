"""The tag endpoints of the JSON API (session with CSRF token, or Bearer token)."""

from __future__ import annotations

from flask import abort, jsonify
from flask_login import current_user

from sanity.accounts import tags
from sanity.web import args, schemas
from sanity.web.declare import Blueprint

bp = Blueprint("api_tags", __name__, url_prefix="/api", description="Your tags")


def _tags_body() -> dict:
    data = tags.user_tags(current_user)
    return {
        "tags": {name: entry["positive"] for name, entry in data.items()},
        "negative": {name: entry["negative"] for name, entry in data.items() if entry["negative"]},
    }


@bp.route("/tags")
@bp.login_required
@bp.answers(schemas.Tags)
def list_tags():
    """The user's tags: positive papers per tag, and "not interested" papers per tag."""
    return jsonify(_tags_body())


@bp.route("/tags/<name>/papers/<path:pid>", methods=["PUT"])
@bp.login_required
@bp.path(args.TagPaperPath())
@bp.query(args.NegativeArgs())
@bp.answers(schemas.Tags, 404)
def add(name: str, pid: str, negative: bool):
    """Add a paper to a tag (created on first use); ?negative=1 marks it not interesting."""
    try:
        tags.add_paper(current_user, name, pid, negative)
    except tags.TagError as exc:
        abort(400, str(exc))
    except LookupError as exc:
        abort(404, str(exc))
    return jsonify(_tags_body())


@bp.route("/tags/<name>/papers/<path:pid>", methods=["DELETE"])
@bp.login_required
@bp.path(args.TagPaperPath())
@bp.answers(schemas.Tags, 404)
def remove(name: str, pid: str):
    """Take a paper out of a tag."""
    if not tags.remove_paper(current_user, name, pid):
        abort(404, f"paper {pid[:80]} is not in tag {name[:80]!r}")
    return jsonify(_tags_body())


@bp.route("/tags/<name>", methods=["DELETE"])
@bp.login_required
@bp.path(args.TagPath())
@bp.answers(schemas.Tags, 404)
def delete(name: str):
    """Delete a tag and its memberships (the papers stay)."""
    if not tags.delete_tag(current_user, name):
        abort(404, f"no tag named {name[:80]!r}")
    return jsonify(_tags_body())


@bp.route("/tags/<name>/rename", methods=["POST"])
@bp.login_required
@bp.path(args.TagPath())
@bp.body(args.NewName())
@bp.answers(schemas.Tags, 404, 413)
def rename(name: str, new_name: str):
    """Rename a tag: {"name": "new name"} (onto an existing tag: merge)."""
    try:
        tags.rename_tag(current_user, name, new_name)
    except tags.TagError as exc:
        abort(400, str(exc))
    except LookupError as exc:
        abort(404, str(exc))
    return jsonify(_tags_body())
