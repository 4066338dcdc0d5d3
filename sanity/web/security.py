"""Sessions (Flask-Login), Bearer tokens, CSRF (Flask-WTF), rate limits and security headers."""

from __future__ import annotations

import ipaddress
import logging
import math
import time

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from limits import parse_many

from sanity.accounts import users
from sanity.db import db
from sanity.models import User
from sanity.web import ratelimit  # noqa: F401 - registers the database:// limits storage
from sanity.web.errors import respond, wants_json

log = logging.getLogger(__name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to do that."
login_manager.login_message_category = "info"
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Sessions carry "id:session_token"; a rotated token (password change) ends them.

    A request with a Bearer token is authenticated by the token alone, never by a cookie that
    came along (those requests skip the CSRF check, so the session must not count).
    """
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return None
    uid, _, token = user_id.partition(":")
    if not uid.isdigit():
        return None
    user = db.session.get(User, int(uid))
    if user is None or user.session_token != token or user.is_disabled:
        return None
    return user


def is_api(req) -> bool:
    return req.path == "/api" or req.path.startswith("/api/")


def has_bearer(req) -> bool:
    return req.headers.get("Authorization", "").lower().startswith("bearer ")


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    """`Authorization: Bearer TOKEN` authenticates API requests (no session, no CSRF).

    Only under /api/: a token is not a browser session, so on an HTML page it counts for
    nothing (the request is anonymous; the profile, its forms and the reset stay out of reach).
    """
    if not is_api(req) or not has_bearer(req):
        return None
    header = req.headers.get("Authorization", "")
    user = users.user_for_token(header[7:].strip())
    if user is not None:
        g.token_auth = True
    return user


@login_manager.unauthorized_handler
def unauthorized():
    if request.path.startswith("/api/"):
        return jsonify(error="log in or send Authorization: Bearer TOKEN"), 401
    flash(login_manager.login_message, "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def csrf_exempt(view):
    """Mark a view that needs no CSRF token: it changes nothing, or checks a signed token."""
    view.csrf_exempt = True
    return view


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.is_secure:  # behind TLS (see TRUSTED_PROXIES): browsers keep to HTTPS
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    secure = str(app.config.get("BASE_URL", "")).startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
    )
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # the token lives as long as the session
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked below, except for Bearer tokens
    app.config["WTF_CSRF_HEADERS"] = ["X-CSRFToken", "X-CSRF-Token"]
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("RATELIMIT_STORAGE_URI") or "database://"
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    app.after_request(security_headers)
    app.before_request(warn_unconfigured_proxy)

    @app.before_request
    def check_csrf():
        """Every state-changing request needs the CSRF token, unless it carries a Bearer
        token (which browsers never attach by themselves)."""
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or request.endpoint is None:
            return
        if is_api(request) and has_bearer(request):
            return
        view = app.view_functions.get(request.endpoint)
        if getattr(view, "needs_login", False) and not current_user.is_authenticated:
            return unauthorized()  # 401 first: no token could make this request succeed
        if getattr(view, "csrf_exempt", False):  # they change nothing, or check a signed token
            return
        csrf.protect()

    @app.teardown_request
    def forget_user(exc=None):
        # The user belongs to one request, even when an app context outlives it (tests, CLI).
        for key in ("_login_user", "token_auth", "csrf_token", "csrf_valid"):
            g.pop(key, None)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError):
        exc.code = 400
        exc.description = f"CSRF check failed: {exc.description} Reload the page and try again."
        return respond(exc)


# ---- limits counted by the views themselves (keys known only inside the view) ----


def _too_many(items, key: tuple[str, ...]):
    """A 429 response with Retry-After: when the last of the exhausted `items` resets."""
    reset = max(limiter.limiter.get_window_stats(item, *key).reset_time for item in items)
    retry = max(1, math.ceil(reset - time.time()))
    message = "Too many attempts. Please wait a little and try again."
    if wants_json():
        response = jsonify(error=message)
    else:
        response = current_app.make_response(
            render_template("error.html", code=429, name="Too Many Requests", message=message)
        )
    response.status_code = 429
    response.headers["Retry-After"] = str(retry)
    return response


def _items(config_key: str):
    enabled = current_app.config.get("RATELIMIT_ENABLED", True)
    return parse_many(current_app.config[config_key]) if enabled else []


def count_hit(config_key: str, *key: str) -> bool:
    """Count one hit against config[config_key] for `key`; False if a limit was used up."""
    return all([limiter.limiter.hit(item, config_key, *key) for item in _items(config_key)])


def stop_if_over(config_key: str, *key: str) -> None:
    """Answer 429 with Retry-After now if the limits for `key` are used up."""
    items = [i for i in _items(config_key) if not limiter.limiter.test(i, config_key, *key)]
    if items:
        abort(_too_many(items, (config_key, *key)))


def client_address() -> str:
    return get_remote_address() or "-"


def reauthenticate(user: User, password: str) -> bool:
    """Check the current password before a sensitive change; wrong ones count like failed
    logins (per account and per client address) and, once too many, are answered 429."""
    keys = [("REAUTH_LIMIT_PER_USER", str(user.id)), ("LOGIN_LIMIT_PER_ADDRESS", client_address())]
    for config_key, key in keys:
        stop_if_over(config_key, "reauth", key)
    if users.check_current_password(user, password):
        return True
    for config_key, key in keys:
        count_hit(config_key, "reauth", key)
    return False


# ---- reverse proxies ----


def _loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def warn_unconfigured_proxy() -> None:
    """With TRUSTED_PROXIES=0 behind a local proxy every client has the proxy's address (and
    shares its rate limits): say so once in the log."""
    app = current_app
    if app.config.get("TRUSTED_PROXIES") or app.extensions.get("sanity.proxy_warned"):
        return
    if "X-Forwarded-For" in request.headers and _loopback(request.remote_addr):
        app.extensions["sanity.proxy_warned"] = True
        log.warning(
            "a request from %s came with X-Forwarded-For, but TRUSTED_PROXIES=0: every client "
            "behind this proxy shares one address and one set of rate limits (failed logins "
            "lock everyone out). Set SANITY_TRUSTED_PROXIES to the number of proxies in front.",
            request.remote_addr,
        )
