"""The `sanity` command line: one FlaskGroup of thin commands over the stages.

Reached only through the `sanity` console script (`python -m sanity`) and the `flask.commands`
entry points declared in pyproject.toml (so `flask --app sanity CMD` works too); the app factory
never imports this package.
"""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup

from sanity import create_app
from sanity.cli.embed import embed_command
from sanity.cli.jobs import (
    compute_command,
    crawl_command,
    digest_command,
    harvest_command,
    import_command,
    thumbnails_command,
)
from sanity.cli.lite import import_lite_command
from sanity.cli.serve import serve_command, worker_command
from sanity.cli.users import user_cli

COMMANDS = [
    crawl_command,
    harvest_command,
    import_command,
    import_lite_command,
    compute_command,
    embed_command,
    digest_command,
    thumbnails_command,
    serve_command,
    worker_command,
    user_cli,
]


def _create_cli_app() -> Flask:
    return create_app(require_secret=False)


main = FlaskGroup(
    name="sanity",
    help="sanity: crawl arXiv, rank papers, serve the web UI.",
    create_app=_create_cli_app,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
for _command in COMMANDS:
    main.add_command(_command)
