"""The web stage: blueprints for pages, the JSON API and feeds, plus security and errors."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

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
)
from sanity.web.declare import Api
from sanity.web.fields import MAX_ID

BLUEPRINTS = [papers.bp, pages.bp, auth.bp, searches.bp, feeds.bp, account_mail.bp]
# Declared with flask-smorest: validated by their schemas, described at /api/openapi.json.
API_BLUEPRINTS = [api.bp, api_tags.bp, api_export.bp, searches.api_bp]


class BoundedInt(IntegerConverter):
    """`<int:...>` in every route: at most the largest database key (a larger number is no
    route at all, a 404, instead of an overflow in the database driver)."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Error handlers, security (sessions, CSRF, limits, headers) and every blueprint."""
    app.url_map.converters["int"] = BoundedInt
    errors.init_app(app)
    security.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    init_api(app)
    app.jinja_env.globals["feed_links"] = feeds.feed_links


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
