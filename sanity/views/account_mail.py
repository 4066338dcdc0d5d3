"""Mail about accounts: address verification, password reset, one-click digest unsubscribe."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from .. import accounts, mail
from ..auth import csrf, limiter
from ..db import db
from ..digest import user_for_unsubscribe
from ..models import User

log = logging.getLogger(__name__)

bp = Blueprint("account_mail", __name__)

VERIFY_SALT = "verify-email"
RESET_SALT = "reset-password"
VERIFY_MAX_AGE = 3 * 24 * 3600
RESET_MAX_AGE = 3600


class ResetRequestForm(FlaskForm):
    username = StringField("Username or email", [InputRequired(), Length(max=254)])


class ResetForm(FlaskForm):
    password = PasswordField("New password", [InputRequired(), Length(max=accounts.MAX_PASSWORD)])
    password2 = PasswordField(
        "Repeat new password", [InputRequired(), EqualTo("password", "The passwords differ.")]
    )


# ---- signed links ----


def verify_link(user: User) -> str:
    """A link that verifies the user's current address (for VERIFY_MAX_AGE)."""
    token = mail.sign(VERIFY_SALT, {"u": user.id, "e": user.email})
    return mail.external_url("account_mail.verify", token=token)


def reset_link(user: User) -> str:
    """A link that sets a new password once (the session token it carries then changes)."""
    token = mail.sign(RESET_SALT, {"u": user.id, "t": user.session_token, "e": user.email})
    return mail.external_url("account_mail.reset", token=token)


def _payload_user(salt: str, token: str, max_age: float) -> tuple[User | None, dict]:
    payload = mail.unsign(salt, token, max_age)
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        return None, {}
    user = db.session.get(User, payload["u"])
    if user is None or user.is_disabled:
        return None, {}
    return user, payload


def reset_user(token: str) -> tuple[User | None, dict]:
    """The user a reset link is for (with its payload), if genuine, fresh and not used yet."""
    user, payload = _payload_user(RESET_SALT, token, RESET_MAX_AGE)
    if user is None or payload.get("t") != user.session_token:
        return None, {}
    return user, payload


def reset_targets(identifier: str) -> list[User]:
    """Accounts a reset request names: by username, or by a verified address."""
    identifier = identifier.strip()
    if "@" not in identifier:
        user = accounts.find_user(identifier) if len(identifier) <= 64 else None
        found = [user] if user is not None else []
    else:
        found = db.session.scalars(
            select(User).where(
                func.lower(User.email) == identifier.lower(), User.email_verified.is_(True)
            )
        ).all()
    return [u for u in found if u.email and not u.is_disabled]


# ---- address verification ----


def _account_key() -> str:
    user_id = current_user.get_id() if current_user.is_authenticated else "-"
    return "mail-account:" + str(user_id).partition(":")[0]


@bp.post("/profile/verify")
@limiter.limit(lambda: current_app.config["MAIL_LIMIT_PER_ACCOUNT"], key_func=_account_key)
@login_required
def send_verification():
    """Mail a verification link to the address on the profile."""
    user = current_user._get_current_object()
    if not user.email:
        flash("Add an email address first.", "error")
    elif user.email_verified:
        flash(f"{user.email} is already verified.", "ok")
    else:
        message = mail.render_message(
            user.email, "Verify your email address for sanity", "verify",
            user=user, url=verify_link(user), days=VERIFY_MAX_AGE // 86400,
        )  # fmt: skip
        try:
            mail.send(message)
        except mail.MailError as exc:
            log.error("verification mail for %s not sent: %s", user.username, exc)
            flash("The email could not be sent just now. Please try again later.", "error")
        else:
            flash(f"We sent a verification link to {user.email}. Open it to confirm.", "ok")
    return redirect(url_for("auth.profile"))


@bp.get("/verify/<token>")
def verify(token: str):
    """Mark the address verified if the link is genuine, fresh and for the current address."""
    user, payload = _payload_user(VERIFY_SALT, token, VERIFY_MAX_AGE)
    if user is None or not user.email or payload.get("e") != user.email:
        return render_template("auth/verify.html", ok=False), 400
    user.email_verified = True
    db.session.commit()
    return render_template("auth/verify.html", ok=True, user=user)


# ---- password reset ----


def _reset_key() -> str:
    return "reset-target:" + (request.form.get("username") or "").strip().casefold()[:254]


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RESET_LIMIT_PER_ADDRESS"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["MAIL_LIMIT_PER_ACCOUNT"], key_func=_reset_key, methods=["POST"]
)
def reset_request():
    """Ask for a reset link; the answer is the same whether or not the account exists."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        for user in reset_targets(form.username.data):
            message = mail.render_message(
                user.email, "Reset your sanity password", "reset",
                user=user, url=reset_link(user), minutes=RESET_MAX_AGE // 60,
            )  # fmt: skip
            mail.send_in_background(message)  # the response takes as long either way
        return render_template("auth/reset_request.html", form=form, sent=True)
    return render_template("auth/reset_request.html", form=form), 400 if form.errors else 200


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Set a new password with a mailed link (once, within the hour)."""
    user, payload = reset_user(token)
    if user is None:
        return render_template("auth/reset.html", form=None), 400
    form = ResetForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(user, form.password.data)  # rotates the session token
        except accounts.AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            # The link reached the address it was mailed to: that verifies it.
            user.email_verified = user.email_verified or user.email == payload.get("e")
            db.session.commit()
            flash("Your password was changed. Log in with the new one.", "ok")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form), 400 if form.errors else 200


# ---- unsubscribe ----


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058 one-click posts carry no CSRF token; the signed token is the check
def unsubscribe(token: str):
    """Turn digests off without logging in: a confirm page, its form, or a one-click POST."""
    user = user_for_unsubscribe(token)
    if user is None:
        abort(400, "This unsubscribe link is not valid.")
    if request.method == "GET":
        return render_template("auth/unsubscribe.html", user=user, token=token, done=False)
    if request.form.get("List-Unsubscribe") != "One-Click":
        csrf.protect()  # the confirm page's form
    user.digest_enabled = False
    db.session.commit()
    log.info("digests turned off for %s by unsubscribe link", user.username)
    return render_template("auth/unsubscribe.html", user=user, token=token, done=True)
