"""Named job locks with a lease, held in the database so they work across processes."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError

from .db import db
from .models import JobLock
from .timeutil import Clock, as_utc

INGEST_LOCK = "ingest"  # crawl, harvest and import write papers one at a time


class LockBusy(Exception):
    """Another process holds the lock and its lease has not expired."""


def new_owner() -> str:
    """A unique holder name that says where the holder runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """A lock held for a limited time; renew() extends it, release() gives it up."""

    def __init__(self, name: str, clock: Clock, seconds: float, owner: str | None = None) -> None:
        self.name = name
        self.clock = clock
        self.seconds = seconds
        self.owner = owner or new_owner()

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
            return True
        db.session.rollback()
        try:
            db.session.execute(
                insert(JobLock).values(
                    name=self.name, owner=self.owner, acquired=now, expires=expires
                )
            )
            db.session.commit()
            return True
        except IntegrityError:
            db.session.rollback()
            return False

    def acquire(self) -> Lease:
        """Take the lock or raise LockBusy naming the holder."""
        if not self._claim():
            holder = db.session.get(JobLock, self.name, populate_existing=True)
            detail = (
                f"held by {holder.owner} until {as_utc(holder.expires):%Y-%m-%d %H:%M:%S} UTC"
                if holder
                else "held by another process"
            )
            db.session.rollback()
            raise LockBusy(f"{self.name} is already running ({detail})")
        return self

    def renew(self) -> None:
        """Extend the lease; raise LockBusy if it was lost (expired and taken by another)."""
        if not self._claim():
            raise LockBusy(f"lost the {self.name} lock")

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
