"""Helpers shared by the commands: errors with exit codes, the database check, logging."""

from __future__ import annotations

import functools
import logging
import sys

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from sanity import check_secret_key
from sanity.db import schema_problem
from sanity.leases import LockBusy


class InputError(click.ClickException):
    """Bad input from the user: one clear line, exit code 2."""

    exit_code = 2


def needs_database(f):
    """Run in the app context, after checking the database is reachable and migrated; a busy
    job lock or a database error is one clear line, not a traceback."""

    @functools.wraps(f)
    @with_appcontext
    def wrapper(*args, **kwargs):
        problem = schema_problem()
        if problem:
            raise click.ClickException(problem)
        try:
            return f(*args, **kwargs)
        except LockBusy as exc:
            raise click.ClickException(str(exc)) from None
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0]
            raise click.ClickException(f"database error: {reason}") from None

    return wrapper


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def require_secret(app: Flask) -> None:
    """Long-running commands refuse a missing or placeholder SECRET_KEY (as the WSGI app)."""
    if app.debug or app.testing:
        return
    try:
        check_secret_key(app)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None


def warn(message: str) -> None:
    click.echo(message, err=True)
