"""Progress of long commands on stderr: on a terminal a tqdm bar (count, rate, ETA when the total
is known); otherwise (logs, pipes, cron) the periodic lines the command passes, at most one every
`every` seconds, so that logs stay readable."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import click
from tqdm import tqdm


def _width(stream) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, AttributeError, ValueError):
        return 0


class Progress:
    """One stage of a command: `update(done, total, line)` as work gets done, then `close()`."""

    def __init__(
        self, desc: str, unit: str = "it", every: float = 2.0, stream=None, scale: bool = True
    ) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.started = self.last = time.monotonic()
        self.bar: tqdm | None = None
        if self.stream.isatty():
            sized = _width(self.stream) > 0  # else a terminal with no size set: assume 80x24
            self.bar = tqdm(
                desc=desc,
                unit=unit,
                unit_scale=scale,
                file=self.stream,
                dynamic_ncols=sized,
                ncols=None if sized else 80,
                nrows=None if sized else 24,
                mininterval=0.2,
            )

    def due(self) -> bool:
        """True at most once every `every` seconds (for the lines off a terminal)."""
        if time.monotonic() - self.last < self.every:
            return False
        self.last = time.monotonic()
        return True

    def rate(self, count: int) -> float:
        return count / max(time.monotonic() - self.started, 1e-9)

    def update(
        self,
        done: int,
        total: int | None = None,
        line: Callable[[], str] | None = None,
        postfix: str = "",
    ) -> None:
        """`done` units so far (of `total`, if known); `postfix` follows the bar on a terminal,
        `line()` is the text off one."""
        if self.bar is not None:
            if total is not None and total != self.bar.total:
                self.bar.total = total
            if postfix:
                self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(done - self.bar.n)
        elif line is not None and self.due():
            click.echo(line(), file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
