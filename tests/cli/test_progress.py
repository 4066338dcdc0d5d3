"""Progress of long commands: a tqdm bar on a terminal, periodic lines elsewhere."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import termios

import pytest
from tqdm import tqdm

from sanity.cli.progress import Progress
from tests import processes
from tests.ingest.test_snapshot import line, write


def test_off_a_terminal_progress_prints_periodic_lines_and_no_bar(app):
    """A pipe or log file gets the command's own lines, at most one per `every` seconds."""
    stream = io.StringIO()
    progress = Progress("import", every=0.0, stream=stream)
    progress.update(10, 100, line=lambda: "  10 lines")
    progress.update(20, 100, line=lambda: "  20 lines")
    progress.close()
    assert progress.bar is None
    assert stream.getvalue() == "  10 lines\n  20 lines\n"
    quiet = io.StringIO()
    progress = Progress("import", every=3600.0, stream=quiet)
    progress.update(10, line=lambda: "  10 lines")
    assert quiet.getvalue() == ""


def test_cli_import_off_a_terminal_has_no_bar(runner, tmp_path):
    """`sanity import` under a non-terminal stderr prints its summary and no bar characters."""
    path = write(tmp_path, *(line(f"2603.{i:05d}") for i in range(1, 30)))
    result = runner.invoke(args=["import", path, "--batch-size", "5"])
    assert result.exit_code == 0, result.output
    assert "imported 29 lines" in result.output
    assert "\r" not in result.output and "B/s" not in result.output


@pytest.mark.slow
def test_import_on_a_terminal_shows_a_bar_with_rate(app, tmp_path):
    """Run for real with stderr on a pseudo-terminal: a tqdm bar with 100%, bytes and a rate;
    then the first feature build in the import's own process (no child), a bar per pass."""
    path = write(tmp_path, *(line(f"2603.{i:05d}") for i in range(1, 200)))
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    proc = subprocess.Popen(
        [processes.SANITY, "import", path, "--batch-size", "20"],
        env=processes.sanity_env(app),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    stdout = proc.stdout.read().decode()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    terminal = b"".join(chunks).decode()
    assert "imported 199 lines" in stdout
    size = os.path.getsize(path)
    bar = re.compile(r"import: 100%\|█+\| ([\d.]+k?)/([\d.]+k?)B? \[[\d:]+<[\d:]+, +[\d.]+[kM]?B/s")
    match = bar.search(terminal)
    assert match, terminal
    assert match.group(1) == match.group(2) == tqdm.format_sizeof(size), terminal
    for stage in ("vocabulary", "counting"):
        assert re.search(rf"compute: {stage}: 100%\|█+\| 199/199", terminal), terminal
