"""`sanity user ...`: administer accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from . import accounts

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
        return accounts.check_password(password)
    except accounts.AccountError as exc:
        raise click.BadParameter(str(exc), param_hint="password") from None


def _user(name: str):
    user = accounts.find_user(name)
    if user is None:
        raise click.BadParameter(f"no user named {name!r}", param_hint="NAME")
    return user


def _needs_db(f):
    from .cli import needs_database

    return needs_database(f)


@user_cli.command("create")
@click.argument("name")
@click.option("--email", help="Address for digests (counts as verified).")
@click.option("--digest", is_flag=True, help="Turn daily digests on.")
@click.option("--admin", is_flag=True, help="Make the account an administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_needs_db
def create(name: str, email: str | None, digest: bool, admin: bool, password_stdin: bool):
    """Create an account (without a password when none is given and there is no terminal)."""
    password = _read_password(password_stdin, required=False)
    try:
        user = accounts.create_user(
            name, password, email, admin=admin, digest=digest and bool(email),
            email_verified=bool(email),
        )  # fmt: skip
    except accounts.AccountError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    extra = "" if password else " (no password yet: set one with `sanity user set-password`)"
    click.echo(f"created user {user.username}{extra}")


@user_cli.command("list")
@_needs_db
def list_users():
    """List accounts."""
    from sqlalchemy import select

    from .db import db
    from .models import User

    rows = db.session.scalars(select(User).order_by(User.username_key)).all()
    for u in rows:
        flags = [f for f, on in (("admin", u.is_admin), ("disabled", u.is_disabled),
                                 ("digest", u.digest_enabled)) if on]  # fmt: skip
        click.echo(f"{u.username}\t{u.email or '-'}\t{','.join(flags) or '-'}")
    click.echo(f"{len(rows)} users", err=True)


@user_cli.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_needs_db
def delete(name: str, yes: bool):
    """Delete an account with its tags and tokens."""
    user = _user(name)
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete {user.username} and all their tags?", abort=True)
    accounts.delete_user(user)
    click.echo(f"deleted user {name}")


@user_cli.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the account again.")
@_needs_db
def disable(name: str, enable: bool):
    """Disable an account (it cannot log in or use tokens) or enable it again."""
    from .db import db

    user = _user(name)
    user.is_disabled = not enable
    db.session.commit()
    click.echo(f"{'enabled' if enable else 'disabled'} user {user.username}")


@user_cli.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_needs_db
def set_password(name: str, password_stdin: bool):
    """Set a new password (signs the user out everywhere)."""
    from .db import db

    user = _user(name)
    accounts.set_password(user, _read_password(password_stdin, required=True))
    db.session.commit()
    click.echo(f"password set for {user.username}")


@user_cli.command("token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="A name to recognise it by.")
@_needs_db
def token(name: str, label: str):
    """Print a new API token for the user, alone on the last line."""
    user = _user(name)
    click.echo(f"new API token for {user.username} (shown once):", err=True)
    click.echo(accounts.create_token(user, label))
