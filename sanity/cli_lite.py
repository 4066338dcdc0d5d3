"""`sanity import-lite`: bring accounts, tags and papers over from arxiv-sanity-lite."""

from __future__ import annotations

import time

import click
from flask import current_app

from .cli import InputError, needs_database
from .timeutil import get_clock


@click.command("import-lite")
@click.argument("dict_db", metavar="DICT_DB")
@click.option(
    "--papers",
    "papers_db",
    metavar="PAPERS_DB",
    help="lite's papers.db: import its papers first, so that more tags resolve.",
)
@click.option(
    "--trust-emails",
    is_flag=True,
    help="Count imported addresses as verified (lite never verified them).",
)
@needs_database
def import_lite_command(dict_db: str, papers_db: str | None, trust_emails: bool) -> None:
    """Import users and tags from arxiv-sanity-lite's dict.db (idempotent).

    Accounts are created without passwords (users set one by password reset); users who already
    exist here (same name, any case) get the tags merged into theirs.
    """
    from .import_lite import LiteError, check_papers_file, read_users

    try:
        users = read_users(dict_db)  # read and checked whole before anything is written
        if papers_db:
            check_papers_file(papers_db)
    except LiteError as exc:
        raise InputError(str(exc)) from None
    aliases = _import_papers(papers_db) if papers_db else {}
    _import_users(users, trust_emails, aliases)


def _warn(message: str) -> None:
    click.echo(message, err=True)


def _import_papers(path: str) -> dict[str, str]:
    from . import compute
    from .import_lite import LiteError, import_papers
    from .locks import INGEST_LOCK, Lease, LockBusy

    clock = get_clock()
    lease = Lease(INGEST_LOCK, clock, float(current_app.config["JOB_LEASE_SECONDS"]))
    started = last = time.monotonic()
    renewed = [clock.monotonic()]

    def progress(stats) -> None:
        nonlocal last
        if clock.monotonic() - renewed[0] >= lease.seconds / 3:  # between batches
            lease.renew()
            renewed[0] = clock.monotonic()
        if time.monotonic() - last >= 2:
            last = time.monotonic()
            rate = stats.read / max(last - started, 1e-9)
            _warn(f"  {stats.read:,} papers: {stats.new:,} new, {stats.updated:,} updated, "
                  f"{rate:,.0f} papers/s")  # fmt: skip

    try:
        with lease:
            stats = import_papers(path, progress=progress, report=lambda m: _warn(f"skipped {m}"))
    except LockBusy as exc:
        raise click.ClickException(str(exc)) from None
    except LiteError as exc:
        raise InputError(str(exc)) from None
    compute.update_after_ingest(stats.new + stats.updated)
    click.echo(
        f"papers: {stats.read:,} read, {stats.new:,} new, {stats.updated:,} updated, "
        f"{stats.unchanged:,} unchanged, {stats.bad:,} malformed"
    )
    return stats.aliases


def _import_users(users, trust_emails: bool, aliases: dict[str, str]) -> None:
    from .import_lite import import_users

    stats = import_users(users, trust_emails, report=_warn, aliases=aliases)
    click.echo(
        f"users: {stats.created:,} created (without passwords), {stats.merged:,} merged, "
        f"{stats.skipped:,} skipped; tags: {stats.tags_created:,} created; tagged papers: "
        f"{stats.added:,} added, {stats.present:,} already there, "
        f"{stats.unknown:,} not in this database (skipped)"
    )
    if stats.unknown_ids:
        sample = ", ".join(sorted(stats.unknown_ids)[:5])
        more = "" if len(stats.unknown_ids) <= 5 else f" and {len(stats.unknown_ids) - 5:,} more"
        click.echo(f"papers not in this database: {sample}{more} (import them, then run again)")
