"""The web stage: blueprints for pages, the JSON API and feeds, plus security and errors."""

from __future__ import annotations

from flask import Flask, request
from flask_compress import Compress
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from sanity.engine import embeddings
from sanity.web import (
    account_mail,
    api,
    api_export,
    api_tags,
    auth,
    errors,
    feeds,
    pages,
    papers,
    searches,
    security,
    thumbs,
)
from sanity.web.declare import Api, drop_choice
from sanity.web.fields import MAX_ID

BLUEPRINTS = [papers.bp, pages.bp, auth.bp, searches.bp, feeds.bp, account_mail.bp, thumbs.bp]
# Declared with flask-smorest: validated by their schemas, described at /api/openapi.json.
API_BLUEPRINTS = [api.bp, api_tags.bp, api_export.bp, searches.api_bp]


class BoundedInt(IntegerConverter):
    """`<int:...>` in every route: at most the largest database key (a larger number is no
    route at all, a 404, instead of an overflow in the database driver)."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


# Text responses compressed (zstd, brotli, gzip, as the client accepts); streamed ones (the
# library export) stay streamed, compressed chunk by chunk. Strong ETags get a ":br" suffix.
COMPRESS_MIMETYPES = [
    "text/html", "text/css", "text/plain", "text/csv", "text/x-bibtex", "text/javascript",
    "application/javascript", "application/json", "application/atom+xml", "image/svg+xml",
]  # fmt: skip
compress = Compress()


def init_app(app: Flask) -> None:
    """Compression, error handlers, security (sessions, CSRF, limits, headers) and every
    blueprint. Compression is registered first, so its after_request hook runs last."""
    app.url_map.converters["int"] = BoundedInt
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESS_MIMETYPES)
    app.config["COMPRESS_REGISTER"] = False  # compressed through compress_unless_secret
    compress.init_app(app)
    app.after_request(compress_unless_secret)
    app.after_request(read_static_whole)  # runs before compression
    errors.init_app(app)
    security.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    init_api(app)
    app.jinja_env.globals["feed_links"] = feeds.feed_links
    app.jinja_env.globals["unique_id"] = unique_id
    app.jinja_env.globals["semantic_on"] = embeddings.enabled


def compress_unless_secret(response):
    """Compress, except pages of a logged-in user: they carry a CSRF token and echo what the
    user typed (a search), the mix a compression side channel (BREACH) reads secrets from."""
    if response.mimetype == "text/html" and current_user.is_authenticated:
        return response
    return compress.after_request(response)


def read_static_whole(response):
    """Static files are small: read them whole (closing the file), so they are compressed
    with a Content-Length and answer If-None-Match with a 304 like any page."""
    if request.endpoint == "static" and response.is_streamed and response.status_code == 200:
        response.direct_passthrough = False
        response.make_sequence()
    return response


def unique_id(base: str) -> str:
    """`base`, or `base-2`, `base-3`... if this response already used it: several forms on one
    page (/profile) have fields of the same name, and an id must be unique for labels to work."""
    used = request.environ.setdefault("sanity.html_ids", set())
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}"
    used.add(candidate)
    return candidate


def init_api(app: Flask) -> None:
    """The API blueprints and their OpenAPI 3.1 document at /api/openapi.json (no UI pages:
    the CSP allows no third-party scripts and the service works offline)."""
    app.config.update(
        API_TITLE="sanity",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "arXiv papers: browse, search, similar papers, "
                'recommendations, tags. Errors are {"error": "..."}.'
            },
            "servers": [{"url": str(app.config["BASE_URL"]).rstrip("/")}],
        },
    )
    rest = Api(app)
    for blueprint in API_BLUEPRINTS:
        rest.register_blueprint(blueprint)
    if not embeddings.enabled(app.config):  # the document describes this instance
        drop_choice(rest.spec, "/api/search", "mode", "semantic")
