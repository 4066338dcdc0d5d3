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
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from sanity.accounts import users
from sanity.db import db
from sanity.mail import links, send
from sanity.web.security import (
    client_address,
    count_hit,
    csrf,
    csrf_exempt,
    limiter,
    stop_if_over,
)

log = logging.getLogger(__name__)

bp = Blueprint("account_mail", __name__)


class ResetRequestForm(FlaskForm):
    username = StringField("Username or email", [InputRequired(), Length(max=254)])


class ResetForm(FlaskForm):
    password = PasswordField("New password", [InputRequired(), Length(max=users.MAX_PASSWORD)])
    password2 = PasswordField(
        "Repeat new password", [InputRequired(), EqualTo("password", "The passwords differ.")]
    )


# ---- address verification ----


def _account_key() -> str:
    user_id = current_user.get_id() if current_user.is_authenticated else "-"
    return "mail-account:" + str(user_id).partition(":")[0]


@bp.post("/profile/verify")
@limiter.limit(lambda: current_app.config["VERIFY_LIMIT_PER_ADDRESS"], key_func=client_address)
@limiter.limit(lambda: current_app.config["MAIL_LIMIT_PER_ACCOUNT"], key_func=_account_key)
@login_required
def send_verification():
    """Mail a verification link to the address on the profile (limited per account, per
    client address and per recipient, so fresh accounts cannot be used to flood a mailbox)."""
    user = current_user._get_current_object()
    if not user.email:
        flash("Add an email address first.", "error")
    elif user.email_verified:
        flash(f"{user.email} is already verified.", "ok")
    else:
        stop_if_over("MAIL_LIMIT_PER_RECIPIENT", user.email.casefold())
        count_hit("MAIL_LIMIT_PER_RECIPIENT", user.email.casefold())
        try:
            message = send.render_message(
                user.email, "Verify your email address for sanity", "verify",
                user=user, url=links.verify_link(user), days=links.VERIFY_MAX_AGE // 86400,
            )  # fmt: skip
            send.send(message)
        except send.MailError as exc:
            log.error("verification mail for %s not sent: %s", user.username, exc)
            flash("The email could not be sent just now. Please try again later.", "error")
        else:
            flash(f"We sent a verification link to {user.email}. Open it to confirm.", "ok")
    return redirect(url_for("auth.profile"))


@bp.get("/verify/<token>")
def verify(token: str):
    """Mark the address verified if the link is genuine, fresh and for the current address."""
    user, payload = links.payload_user(links.VERIFY_SALT, token, links.VERIFY_MAX_AGE)
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
    """Ask for a reset link; the answer (and its timing) is the same whether or not the
    account exists: the lookup and the mail happen in a background thread."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        send.run_in_background(mail_reset_links, form.username.data)
        return render_template("auth/reset_request.html", form=form, sent=True)
    return render_template("auth/reset_request.html", form=form), 400 if form.errors else 200


def mail_reset_links(identifier: str) -> None:
    """Mail a reset link to the verified address of each account `identifier` names."""
    for user in users.reset_targets(identifier):
        if not count_hit("MAIL_LIMIT_PER_RECIPIENT", user.email.casefold()):
            log.warning("reset mail for %s not sent: recipient limit", user.username)
            continue
        try:
            send.send(send.render_message(
                user.email, "Reset your sanity password", "reset",
                user=user, url=links.reset_link(user), minutes=links.RESET_MAX_AGE // 60,
            ))  # fmt: skip
        except send.MailError as exc:
            log.error("reset mail for %s not sent: %s", user.username, exc)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Set a new password with a mailed link (once, within the hour)."""
    user, _ = links.reset_user(token)
    if user is None:
        return render_template("auth/reset.html", form=None), 400
    form = ResetForm()
    if form.validate_on_submit():
        try:
            users.set_password(user, form.password.data)  # rotates the session token
        except users.AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            db.session.commit()  # the link checked the address it was mailed to is still theirs
            flash("Your password was changed. Log in with the new one.", "ok")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form), 400 if form.errors else 200


# ---- unsubscribe ----


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf_exempt  # RFC 8058 one-click posts carry no CSRF token; the signed token is the check
def unsubscribe(token: str):
    """Turn digests off without logging in: a confirm page, its form, or a one-click POST."""
    user = links.user_for_unsubscribe(token)
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
