"""Named job locks with a lease, held in the database so they work across processes."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError

from sanity.db import db
from sanity.models import JobLock
from sanity.timeutil import Clock, as_utc

INGEST_LOCK = "ingest"  # crawl, harvest and import write papers one at a time
FEATURES_LOCK = "features"  # one feature build or update at a time
DIGEST_LOCK = "digest"  # one digest run at a time
THUMBNAILS_LOCK = "thumbnails"  # one thumbnail run at a time (it fetches from arXiv)

log = logging.getLogger(__name__)


class LockBusy(Exception):
    """Another process holds the lock and its lease has not expired."""


def _read(path: str, link: bool = False) -> str:
    try:
        return os.readlink(path) if link else Path(path).read_text().strip()[:12]
    except OSError:
        return "?"


def _machine() -> str:
    """This boot of this host and PID namespace: process ids are only comparable within one.
    (The hostname alone is not enough: cloned machines share it, and every host's first PID
    namespace has the same id.)"""
    boot = _read("/proc/sys/kernel/random/boot_id")
    namespace = _read("/proc/self/ns/pid", link=True)
    return f"{socket.gethostname()}/{boot}/{namespace}"


def new_owner() -> str:
    """A unique holder name that says where the holder runs."""
    return f"{_machine()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(owner: str) -> bool:
    """True when the holder ran on this machine and its process no longer exists.

    A SIGKILLed crawl or feature build cannot release its lock; without this the next run
    would wait for the lease to expire. Holders elsewhere are judged by their lease alone.
    """
    parts = owner.rsplit(":", 2)  # machine (may hold colons), pid, random suffix
    if len(parts) != 3 or parts[0] != _machine() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by another user
        return False
    return False


class Lease:
    """A lock held for a limited time; renew() extends it, release() gives it up."""

    def __init__(self, name: str, clock: Clock, seconds: float, owner: str | None = None) -> None:
        self.name = name
        self.clock = clock
        self.seconds = seconds
        self.owner = owner or new_owner()
        self.renewed = clock.monotonic()

    @classmethod
    def for_job(cls, name: str, clock: Clock) -> Lease:
        """A lease of the configured JOB_LEASE_SECONDS."""
        return cls(name, clock, float(current_app.config["JOB_LEASE_SECONDS"]))

    def _claim(self) -> bool:
        now = self.clock.now()
        expires = now + timedelta(seconds=self.seconds)
        claimed = db.session.execute(
            update(JobLock)
            .where(JobLock.name == self.name)
            .where((JobLock.expires < now) | (JobLock.owner == self.owner))
            .values(owner=self.owner, acquired=now, expires=expires)
        ).rowcount
        if claimed:
            db.session.commit()
            self.renewed = self.clock.monotonic()
            return True
        db.session.rollback()
        try:
            db.session.execute(
                insert(JobLock).values(
                    name=self.name, owner=self.owner, acquired=now, expires=expires
                )
            )
            db.session.commit()
            self.renewed = self.clock.monotonic()
            return True
        except IntegrityError:
            db.session.rollback()
            return False

    def acquire(self, wait: float = 0.0, poll: float = 2.0) -> Lease:
        """Take the lock, waiting up to `wait` seconds for the holder, or raise LockBusy
        naming the holder."""
        deadline = self.clock.monotonic() + wait
        while not self._claim() and not self._take_over_from_dead_holder():
            if self.clock.monotonic() >= deadline:
                self._refuse()
            self.clock.sleep(poll)
        return self

    def _refuse(self) -> None:
        holder = db.session.get(JobLock, self.name, populate_existing=True)
        detail = (
            f"held by {holder.owner} until {as_utc(holder.expires):%Y-%m-%d %H:%M:%S} UTC"
            if holder
            else "held by another process"
        )
        db.session.rollback()
        raise LockBusy(f"{self.name} is already running ({detail})")

    def _take_over_from_dead_holder(self) -> bool:
        holder = db.session.get(JobLock, self.name, populate_existing=True)
        if holder is None or not holder_is_dead(holder.owner):
            db.session.rollback()
            return False
        dead = holder.owner
        db.session.execute(
            delete(JobLock).where(JobLock.name == self.name).where(JobLock.owner == dead)
        )
        db.session.commit()
        log.warning("%s lock: its holder %s died; taking over", self.name, dead)
        return self._claim()

    def renew(self) -> None:
        """Extend the lease; raise LockBusy if it was lost (expired and taken by another)."""
        if not self._claim():
            raise LockBusy(f"lost the {self.name} lock")

    def keep(self) -> None:
        """Renew once a third of the lease has passed: long jobs call this between batches
        (never with uncommitted work, since renewing commits)."""
        if self.clock.monotonic() - self.renewed >= self.seconds / 3:
            self.renew()

    @contextmanager
    def kept_alive(self) -> Iterator[Lease]:
        """Renew this (acquired) lease from a thread every third of its length until the block
        ends, then release it: for long jobs without checkpoints, whose lease would otherwise
        expire and let a second run start beside them."""
        app = current_app._get_current_object()
        stop = threading.Event()

        def heartbeat() -> None:
            with app.app_context():
                while not stop.wait(self.seconds / 3):
                    try:
                        self.renew()
                    except Exception:
                        log.exception("%s lock: renewing the lease failed", self.name)
                    finally:
                        db.session.remove()

        thread = threading.Thread(target=heartbeat, name=f"{self.name}-lease", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.release()

    def release(self) -> None:
        db.session.rollback()
        db.session.execute(
            delete(JobLock).where(JobLock.name == self.name).where(JobLock.owner == self.owner)
        )
        db.session.commit()

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
