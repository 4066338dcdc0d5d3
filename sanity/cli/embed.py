"""`sanity embed`: sentence embeddings for papers new or changed since the last run (the
opt-in semantic layer, with SEMANTIC_MODEL set)."""

from __future__ import annotations

import os

import click

from sanity.cli.common import InputError, needs_database, setup_logging, warn
from sanity.engine import embedding_job, embeddings

EMBED_NICENESS = 10


def run_embeddings(echo=click.echo) -> None:
    """Embed what is missing, with a progress line every few seconds; one clear line on a bad
    model directory."""
    last = [0.0]

    def report(stats: embedding_job.EmbedStats) -> None:
        if stats.seconds - last[0] >= 5:
            last[0] = stats.seconds
            warn(f"  {stats.embedded:,} papers embedded, {stats.rate:.1f} papers/s")

    try:
        echo(embedding_job.embed_missing(report).summary())
    except (embeddings.SemanticOff, embeddings.ModelProblem) as exc:
        raise InputError(str(exc)) from None  # the setting (or its directory) is the problem


@click.command("embed")
@needs_database
def embed_command() -> None:
    """Compute missing sentence embeddings now (with SEMANTIC_MODEL set); resumable."""
    setup_logging()
    os.nice(EMBED_NICENESS)  # background work: page views on the same machine come first
    run_embeddings()
