"""The web stage: blueprints for pages, the JSON API and feeds, plus security and errors."""

from __future__ import annotations

from flask import Flask

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

BLUEPRINTS = [
    papers.bp,
    pages.bp,
    auth.bp,
    api.bp,
    api_tags.bp,
    api_export.bp,
    searches.bp,
    feeds.bp,
    account_mail.bp,
]


def init_app(app: Flask) -> None:
    """Error handlers, security (sessions, CSRF, limits, headers) and every blueprint."""
    errors.init_app(app)
    security.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.jinja_env.globals["feed_links"] = feeds.feed_links
