"""`sanity import-lite`: bring accounts, tags and papers over from arxiv-sanity-lite."""

from __future__ import annotations

import click

from sanity.accounts.lite import import_users
from sanity.cli.common import InputError, needs_database, warn
from sanity.cli.jobs import rank_changed
from sanity.cli.progress import Progress
from sanity.ingest.lite import LiteError, check_papers_file, import_papers, read_users
from sanity.leases import INGEST_LOCK, Lease
from sanity.timeutil import get_clock


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
    try:
        users = read_users(dict_db)  # read and checked whole before anything is written
        if papers_db:
            check_papers_file(papers_db)
    except LiteError as exc:
        raise InputError(str(exc)) from None
    aliases = _import_papers(papers_db) if papers_db else {}
    _import_users(users, trust_emails, aliases)


def _import_papers(path: str) -> dict[str, str]:
    lease = Lease.for_job(INGEST_LOCK, get_clock())
    progress = Progress("import-lite", unit="paper")

    def report(stats) -> None:
        lease.keep()  # between batches
        progress.update(
            stats.read,
            line=lambda: (
                f"  {stats.read:,} papers: {stats.new:,} new, {stats.updated:,} "
                f"updated, {progress.rate(stats.read):,.0f} papers/s"
            ),
            postfix=f"{stats.new:,} new, {stats.updated:,} updated",
        )

    try:
        with lease, progress:
            stats = import_papers(path, progress=report, report=lambda m: warn(f"skipped {m}"))
    except LiteError as exc:
        raise InputError(str(exc)) from None
    rank_changed(stats.new + stats.updated)
    click.echo(
        f"papers: {stats.read:,} read, {stats.new:,} new, {stats.updated:,} updated, "
        f"{stats.unchanged:,} unchanged, {stats.bad:,} malformed"
    )
    return stats.aliases


def _import_users(users, trust_emails: bool, aliases: dict[str, str]) -> None:
    stats = import_users(users, trust_emails, report=warn, aliases=aliases)
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
