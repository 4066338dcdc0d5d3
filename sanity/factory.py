"""The Flask application factory (`sanity:create_app()`, through the package)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config
from sanity import db, engine, memory, web

ROOT = Path(__file__).resolve().parent.parent


def _load_secret_key(app: Flask) -> None:
    """SECRET_KEY from config/env, else from <instance>/secret_key (written by `make run`)."""
    if app.config.get("SECRET_KEY"):
        return
    path = Path(app.instance_path) / "secret_key"
    if path.is_file():
        app.config["SECRET_KEY"] = path.read_text().strip() or None


def create_app(
    config_class: type[Config] = Config,
    overrides: dict | None = None,
    require_secret: bool | None = None,
) -> Flask:
    """Build the Flask app. Wires extensions and blueprints; starts nothing.

    Outside the `sanity`/`flask` command line (i.e. under a WSGI server) a real SECRET_KEY is
    required unless debugging or testing.
    """
    app = Flask(
        __name__,
        instance_path=os.environ.get("SANITY_INSTANCE_PATH") or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(config_class.as_dict())
    app.config.update(overrides or {})
    app.debug = bool(app.config["DEBUG"])
    app.testing = bool(app.config["TESTING"])
    _load_secret_key(app)
    serving = require_secret is None and click.get_current_context(silent=True) is None
    if require_secret is None:
        require_secret = serving  # under a WSGI server such as gunicorn
    if require_secret and not (app.debug or app.testing):
        check_secret_key(app)
    if serving and not app.testing:  # `sanity serve` does the same
        memory.bound_malloc_arenas()
        engine.preload()
    app.config.setdefault("DATA_DIR", None)
    app.config["DATA_DIR"] = app.config["DATA_DIR"] or str(Path(app.instance_path) / "data")

    db.init_app(app)
    web.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    return app


def check_secret_key(app: Flask) -> None:
    """Refuse to serve with a missing or placeholder SECRET_KEY."""
    key = app.config.get("SECRET_KEY") or ""
    if len(key) < 16 or key in {"dev", "change-me", "testing-secret-key"}:
        what = "is not set" if not key else "is too short or a placeholder (16+ random characters)"
        raise RuntimeError(
            f"SECRET_KEY {what}: set SANITY_SECRET_KEY or write a random key to "
            f"{Path(app.instance_path) / 'secret_key'} (`make run` does this)"
        )
