"""The `sanity` command line as a user meets it."""

from __future__ import annotations

import os
import subprocess
import sys

from tests import processes
from tests.factories import fake_papers


def clean_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANITY_")}
    env["SANITY_INSTANCE_PATH"] = str(tmp_path / "instance")
    return env


def test_help_needs_no_secret_key(tmp_path):
    """`sanity --help` lists the commands on a fresh machine without a secret key."""
    result = processes.run(["--help"], clean_env(tmp_path))
    assert result.returncode == 0
    for command in ("crawl", "harvest", "import", "serve", "worker", "db"):
        assert command in result.stdout


def test_the_command_line_starts_without_the_rankers_and_a_server_loads_them(tmp_path):
    """Commands that do not rank start without scikit-learn (about a second); the WSGI app
    (`sanity:create_app()`, as gunicorn builds it) loads the rankers before its first request."""
    probe = (
        "import sys\n"
        "import sanity.cli\n"
        "app = sanity.cli.create_app(require_secret=False)\n"
        "print('cli', 'sklearn' in sys.modules)\n"
        "sanity.create_app()\n"
        "print('wsgi', 'sklearn' in sys.modules, 'sanity.engine.serving' in sys.modules)\n"
    )
    env = clean_env(tmp_path) | {"SANITY_SECRET_KEY": "k" * 32}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split("\n")  # fmt: skip
    assert out[:2] == ["cli False", "wsgi True True"]


def test_commands_on_an_unmigrated_database_say_what_to_do(tmp_path):
    """Before `sanity db upgrade`, commands exit 1 with one line telling the user to run it."""
    for command in (["crawl"], ["import", "-"], ["serve"]):
        result = processes.run(command, clean_env(tmp_path))
        assert result.returncode == 1, command
        assert "run `sanity db upgrade` first" in result.stderr
        assert "Traceback" not in result.stderr


def test_crawl_command_reports_the_run(app, runner, arxiv):
    """`sanity crawl` prints one summary line of the run."""
    arxiv.add(*fake_papers(12))
    result = runner.invoke(args=["crawl"])
    assert result.exit_code == 0, result.output
    assert "api ok: 1 pages, 12 new, 0 updated" in result.output


def test_crawl_command_failure_is_one_line_and_exit_1(app, tmp_path):
    """An unreachable arXiv gives exit code 1 and the reason, without a traceback."""
    env = processes.sanity_env(app, ARXIV_API_URL="http://127.0.0.1:9/api/query")
    env["SANITY_ARXIV_MAX_RETRIES"] = "1"
    result = processes.run(["crawl"], env)
    assert result.returncode == 1
    assert "api failed" in result.stdout and "could not reach 127.0.0.1" in result.stdout
    assert "Traceback" not in result.stderr
