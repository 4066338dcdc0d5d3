"""Error handling: JSON errors under /api, site-styled pages elsewhere; roll back on error."""

from __future__ import annotations

import logging
import re

from flask import Flask, abort, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from sanity.db import db
from sanity.engine.store import EngineUnavailable

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def respond(exc: HTTPException):
    db.session.rollback()
    message = exc.description or exc.name
    # The exception's own headers (Allow on a 405, Retry-After on a 429), not its body's type.
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if wants_json():
        response = jsonify(error=message)
        response.status_code = exc.code or 500
        response.headers.extend(headers)
        return response
    page = render_template("error.html", code=exc.code, name=exc.name, message=message)
    return page, exc.code, headers


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_JSON_DEPTH = 64  # far deeper than any document of ours; Python's parser recurses
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (strings skipped)."""
    depth = deepest = 0
    for bracket in BRACKETS.findall(JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def check_input() -> None:
    """NUL characters have no business in any input (and PostgreSQL text refuses them); a
    body nested deeper than MAX_JSON_DEPTH is refused before any parser recurses into it."""
    values = [request.path]
    values += [v for _, vs in request.args.lists() for v in vs]
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.mimetype in FORMS:
            values += [v for _, vs in request.form.lists() for v in vs]
        else:  # JSON, or any body an endpoint may parse as JSON (text/plain included)
            body = request.get_data(cache=True)
            if b"\\u0000" in body or b"\x00" in body:
                abort(400, "the request contains a NUL character")
            if json_depth(body) > MAX_JSON_DEPTH:
                abort(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    if any("\x00" in v for v in values):
        abort(400, "the request contains a NUL character")


def init_app(app: Flask) -> None:
    app.before_request(check_input)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return respond(exc)

    @app.errorhandler(EngineUnavailable)
    def engine_unavailable(exc: EngineUnavailable):
        return respond(ServiceUnavailable(str(exc)))

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError):
        log.error("database error: %s", exc.orig)
        return respond(ServiceUnavailable("The database is unavailable; try again shortly."))

    @app.errorhandler(Exception)
    def crashed(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return respond(InternalServerError("Something went wrong on our side."))
