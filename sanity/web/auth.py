"""Accounts in the browser: register, log in and out, profile, tokens, password, delete."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, Optional

from sanity.accounts import users
from sanity.db import db
from sanity.mail import send
from sanity.models import User
from sanity.web.security import count_hit, limiter, reauthenticate

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
WRONG_PASSWORD = "That is not your current password."


class RegisterForm(FlaskForm):
    username = StringField("Username", [InputRequired(), Length(max=32)])
    email = EmailField("Email (optional, for digests)", [Optional(), Length(max=254)])
    password = PasswordField("Password", [InputRequired(), Length(max=users.MAX_PASSWORD)])
    password2 = PasswordField(
        "Repeat password", [InputRequired(), EqualTo("password", "The passwords differ.")]
    )


class LoginForm(FlaskForm):
    username = StringField("Username", [InputRequired(), Length(max=64)])
    password = PasswordField("Password", [InputRequired(), Length(max=users.MAX_PASSWORD)])
    remember = BooleanField("Remember me")


class SettingsForm(FlaskForm):
    email = EmailField("Email", [Optional(), Length(max=254)])
    current = PasswordField(
        "Current password (needed to change the address)",
        [Optional(), Length(max=users.MAX_PASSWORD)],
        id="settings-current",
    )
    digest = BooleanField("Send me a daily digest of recommendations")


class PasswordForm(FlaskForm):
    current = PasswordField(
        "Current password", [InputRequired(), Length(max=users.MAX_PASSWORD)], id="password-current"
    )
    password = PasswordField("New password", [InputRequired()])
    password2 = PasswordField(
        "Repeat new password", [InputRequired(), EqualTo("password", "The passwords differ.")]
    )


class TokenForm(FlaskForm):
    name = StringField("Token name", [Optional(), Length(max=100)])
    current = PasswordField(
        "Current password", [InputRequired(), Length(max=users.MAX_PASSWORD)], id="token-current"
    )


class DeleteForm(FlaskForm):
    password = PasswordField(
        "Your password", [InputRequired(), Length(max=users.MAX_PASSWORD)], id="delete-password"
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (//evil.example, https://..., \\\\...)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("papers.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("papers.index")
    return target


def _login_key() -> str:
    return "login-user:" + users.username_key(request.form.get("username", ""))[:64]


def _failed(response) -> bool:
    return response.status_code != 302  # a successful login redirects


def start_session(user: User, remember: bool = False) -> None:
    """Log in with a fresh CSRF secret: a token issued before the login is not valid after."""
    session.pop("csrf_token", None)
    g.pop("csrf_token", None)
    login_user(user, remember=remember)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["REGISTER_LIMIT_PER_ADDRESS"], methods=["POST"])
def register():
    """Create an account and log in."""
    if not current_app.config["REGISTRATION_OPEN"]:
        return render_template("auth/closed.html"), 403
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = users.create_user(
                form.username.data, form.password.data, form.email.data or None
            )
        except users.AccountError as exc:
            form.username.errors.append(str(exc))
        else:
            start_session(user)
            flash(f"Welcome, {user.username}! Tag papers you like to get recommendations.", "ok")
            return redirect(url_for("papers.index"))
    return render_template("auth/register.html", form=form), 400 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"], deduct_when=_failed
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_USER"],
    key_func=_login_key,
    methods=["POST"],
    deduct_when=_failed,
)
def login():
    """Log in with username and password (the same message for every failure)."""
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(form.username.data, form.password.data)
        if user is not None:
            start_session(user, remember=bool(form.remember.data))
            return redirect(safe_next(request.args.get("next")))
        form.password.errors.append("Wrong username or password.")
    status = 401 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    """Log out (POST only, with the CSRF token) and end the session on the server too: the
    session token rotates, so neither this cookie nor a remember-me cookie works again."""
    if current_user.is_authenticated:
        users.end_sessions(current_user._get_current_object())
        db.session.commit()
    logout_user()
    session.pop("csrf_token", None)
    flash("You are logged out.", "ok")
    return redirect(url_for("papers.index"))


def _profile(**forms):
    forms.setdefault("settings", SettingsForm(
        email=current_user.email, digest=current_user.digest_enabled))  # fmt: skip
    forms.setdefault("password_form", PasswordForm())
    forms.setdefault("token_form", TokenForm())
    forms.setdefault("delete_form", DeleteForm())
    tokens = sorted(current_user.tokens, key=lambda t: t.created, reverse=True)
    status = 400 if any(f.errors for f in forms.values() if hasattr(f, "errors")) else 200
    return render_template("auth/profile.html", tokens=tokens, **forms), status


@bp.get("/profile")
@login_required
def profile():
    """Email, digest, API tokens, password, account deletion."""
    return _profile()


@bp.post("/profile")
@login_required
def save_settings():
    """Digest on or off; a new address needs the current password and notifies the old one."""
    form = SettingsForm()
    if not form.validate_on_submit():
        return _profile(settings=form)
    user = current_user._get_current_object()
    try:
        email = users.check_email(form.email.data)
    except users.AccountError as exc:
        form.email.errors.append(str(exc))
        return _profile(settings=form)
    old = user.email
    if email != old:
        if not reauthenticate(user, form.current.data or ""):
            form.current.errors.append(WRONG_PASSWORD)
            return _profile(settings=form)
        user.email, user.email_verified = email, False
    user.digest_enabled = bool(form.digest.data) and bool(email)
    db.session.commit()
    if old and email != old:
        notify_address_change(user, old)
    flash("Settings saved.", "ok")
    return redirect(url_for("auth.profile"))


def notify_address_change(user: User, old: str) -> None:
    """Tell the old address that the account's address changed (in the background)."""
    if not count_hit("MAIL_LIMIT_PER_RECIPIENT", old.casefold()):
        log.warning("address-change notice for %s not sent: recipient limit", user.username)
        return
    try:
        message = send.render_message(
            old, "The email address of your sanity account was changed", "email_changed",
            user=user, old=old, new=user.email, base_url=current_app.config["BASE_URL"],
        )  # fmt: skip
    except send.MailError as exc:
        log.error("address-change notice for %s not sent: %s", user.username, exc)
        return
    send.send_in_background(message)


@bp.post("/profile/password")
@login_required
def change_password():
    """A new password (with the current one); every other session and every token ends."""
    form = PasswordForm()
    if not form.validate_on_submit():
        return _profile(password_form=form)
    user = current_user._get_current_object()
    if not reauthenticate(user, form.current.data):
        form.current.errors.append(WRONG_PASSWORD)
        return _profile(password_form=form)
    try:
        users.set_password(user, form.password.data)
    except users.AccountError as exc:
        form.password.errors.append(str(exc))
        return _profile(password_form=form)
    db.session.commit()
    login_user(user)  # this session carries the new session token; the others end
    flash("Password changed. Other sessions were signed out and API tokens revoked.", "ok")
    return redirect(url_for("auth.profile"))


@bp.post("/profile/tokens")
@login_required
def create_token():
    """A new API token, shown once (needs the current password)."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _profile(token_form=form)
    if not reauthenticate(current_user._get_current_object(), form.current.data):
        form.current.errors.append(WRONG_PASSWORD)
        return _profile(token_form=form)
    token = users.create_token(current_user, form.name.data or "")
    return render_template("auth/token.html", token=token)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    if not users.revoke_token(current_user, token_id):
        abort(404, "No such token.")
    flash("Token revoked.", "ok")
    return redirect(url_for("auth.profile"))


@bp.post("/account/delete")
@login_required
def delete_account():
    """Delete the account and its tags after checking the password."""
    form = DeleteForm()
    if not form.validate_on_submit():
        return _profile(delete_form=form)
    user = current_user._get_current_object()
    if not reauthenticate(user, form.password.data):
        form.password.errors.append("That is not your password.")
        return _profile(delete_form=form)
    logout_user()
    users.delete_user(user)
    flash("Your account and its tags were deleted.", "ok")
    return redirect(url_for("papers.index"))
