"""`sanity user ...`: administer accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from sanity.accounts import users
from sanity.cli.common import needs_database
from sanity.db import db
from sanity.models import User

user_cli = AppGroup("user", help="Create, list and administer accounts.")


def _read_password(from_stdin: bool, required: bool) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    elif required:
        raise click.UsageError("no terminal to ask for the password: use --password-stdin")
    else:
        return None
    try:
        return users.check_password(password)
    except users.AccountError as exc:
        raise click.BadParameter(str(exc), param_hint="password") from None


def _user(name: str):
    user = users.find_user(name)
    if user is None:
        raise click.BadParameter(f"no user named {name!r}", param_hint="NAME")
    return user


@user_cli.command("create")
@click.argument("name")
@click.option("--email", help="Address for digests (counts as verified).")
@click.option("--digest", is_flag=True, help="Turn daily digests on.")
@click.option("--admin", is_flag=True, help="Make the account an administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@needs_database
def create(name: str, email: str | None, digest: bool, admin: bool, password_stdin: bool):
    """Create an account (without a password when none is given and there is no terminal)."""
    password = _read_password(password_stdin, required=False)
    try:
        user = users.create_user(
            name, password, email, admin=admin, digest=digest and bool(email),
            email_verified=bool(email),
        )  # fmt: skip
    except users.AccountError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    extra = "" if password else " (no password yet: set one with `sanity user set-password`)"
    click.echo(f"created user {user.username}{extra}")


@user_cli.command("list")
@needs_database
def list_users():
    """List accounts."""
    rows = db.session.scalars(select(User).order_by(User.username_key)).all()
    for u in rows:
        flags = [f for f, on in (("admin", u.is_admin), ("disabled", u.is_disabled),
                                 ("digest", u.digest_enabled)) if on]  # fmt: skip
        click.echo(f"{u.username}\t{u.email or '-'}\t{','.join(flags) or '-'}")
    click.echo(f"{len(rows)} users", err=True)


@user_cli.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@needs_database
def delete(name: str, yes: bool):
    """Delete an account with its tags and tokens."""
    user = _user(name)
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete {user.username} and all their tags?", abort=True)
    users.delete_user(user)
    click.echo(f"deleted user {name}")


@user_cli.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the account again.")
@needs_database
def disable(name: str, enable: bool):
    """Disable an account (it cannot log in or use tokens) or enable it again."""
    user = _user(name)
    user.is_disabled = not enable
    db.session.commit()
    click.echo(f"{'enabled' if enable else 'disabled'} user {user.username}")


@user_cli.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@needs_database
def set_password(name: str, password_stdin: bool):
    """Set a new password (signs the user out everywhere)."""
    user = _user(name)
    users.set_password(user, _read_password(password_stdin, required=True))
    db.session.commit()
    click.echo(f"password set for {user.username}")


@user_cli.command("token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="A name to recognise it by.")
@needs_database
def token(name: str, label: str):
    """Print a new API token for the user, alone on the last line."""
    user = _user(name)
    click.echo(f"new API token for {user.username} (shown once):", err=True)
    click.echo(users.create_token(user, label))
