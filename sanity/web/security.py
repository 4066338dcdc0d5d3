"""Sessions (Flask-Login), Bearer tokens, CSRF (Flask-WTF), rate limits and security headers."""

from __future__ import annotations

from flask import Flask, flash, g, jsonify, redirect, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from sanity.accounts import users
from sanity.db import db
from sanity.models import User
from sanity.web import ratelimit  # noqa: F401 - registers the database:// limits storage
from sanity.web.errors import respond

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


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    """`Authorization: Bearer TOKEN` authenticates API requests (no session, no CSRF)."""
    header = req.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
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

    @app.before_request
    def check_csrf():
        """Every state-changing request needs the CSRF token, unless it carries a Bearer
        token (which browsers never attach by themselves)."""
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or request.endpoint is None:
            return
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
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
