"""Helpers to run the real `sanity` command in a subprocess against a test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

SANITY = str(Path(sys.executable).parent / "sanity")


def sanity_env(app, **extra) -> dict[str, str]:
    """Environment for a subprocess sharing the test app's database and fake arXiv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANITY_")}
    env.update(
        SANITY_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SANITY_INSTANCE_PATH=app.instance_path,
        SANITY_DATA_DIR=app.config["DATA_DIR"],
        SANITY_ARXIV_API_URL=app.config["ARXIV_API_URL"],
        SANITY_ARXIV_OAI_URL=app.config["ARXIV_OAI_URL"],
        SANITY_ARXIV_DELAY_SECONDS="0",
        SANITY_ARXIV_BACKOFF_SECONDS="0.05",
        SANITY_CRAWL_PAGE_SIZE=str(app.config["CRAWL_PAGE_SIZE"]),
    )
    env.update({f"SANITY_{k}": str(v) for k, v in extra.items()})
    return env


def start(args: list[str], env: dict[str, str], cwd: str | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [SANITY, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(args: list[str], env: dict[str, str], cwd: str | None = None, timeout: float = 60):
    return subprocess.run(
        [SANITY, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll until predicate() is truthy; return its value or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


def stop(proc: subprocess.Popen, sig: int, timeout: float = 60) -> tuple[str, str]:
    """Signal a process, wait for it, and collect (and close) its output pipes; one that does
    not stop in time is killed (and reaped) before the timeout is raised, so that it never
    outlives its test."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


@contextmanager
def serving(app, **settings) -> Iterator[str]:
    """`sanity serve --no-scheduler` on the test app's database; yields its base URL once it
    answers, stops it after."""
    port = free_port()
    env = sanity_env(app, SECRET_KEY="s" * 40, **settings)
    proc = start(["serve", "--no-scheduler", "--port", str(port)], env)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(base + "/api/health", timeout=1).ok
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=30)
        yield base
    finally:
        stop(proc, signal.SIGTERM)
