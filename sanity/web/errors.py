"""Error handling: JSON errors under /api, site-styled pages elsewhere; roll back on error."""

from __future__ import annotations

import logging

from flask import Flask, abort, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from sanity.db import db
from sanity.engine import EngineUnavailable

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def respond(exc: HTTPException):
    db.session.rollback()
    message = exc.description or exc.name
    if wants_json():
        response = jsonify(error=message)
        response.status_code = exc.code or 500
    else:
        response = render_template("error.html", code=exc.code, name=exc.name, message=message)
        response = (response, exc.code)
    return response


def reject_nul() -> None:
    """NUL characters have no business in any input (and PostgreSQL text refuses them)."""
    values = [request.path]
    values += [v for _, vs in request.args.lists() for v in vs]
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.mimetype == "application/json":
            body = request.get_data(cache=True)
            if b"\\u0000" in body or b"\x00" in body:
                abort(400, "the request contains a NUL character")
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values += [v for _, vs in request.form.lists() for v in vs]
    if any("\x00" in v for v in values):
        abort(400, "the request contains a NUL character")


def init_app(app: Flask) -> None:
    app.before_request(reject_nul)

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
