"""`sanity digest`: send the recommendation emails now."""

from __future__ import annotations

import sys

import click

from .cli import needs_database, setup_logging
from .locks import LockBusy


@click.command("digest")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send and record nothing.")
@needs_database
def digest_command(dry_run: bool) -> None:
    """Send each subscriber their digest of new recommendations; exit 1 if any failed."""
    from . import digest

    setup_logging()
    try:
        stats = digest.run(dry_run=dry_run, echo=click.echo)
    except LockBusy as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(stats.summary())
    if stats.failed:
        sys.exit(1)
