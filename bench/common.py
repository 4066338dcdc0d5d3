"""Shared helpers for the benchmarks: the real arXiv metadata in ../shared/data, a fresh app."""

from __future__ import annotations

import gzip
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "papers.jsonl.gz"
sys.path.insert(0, str(ROOT))


def require_data() -> None:
    """Exit 0 with a message when the shared data is absent."""
    if not DATA.exists():
        print(f"skipped: {DATA} not found (see shared/data/README.md)")
        sys.exit(0)


def load_records(limit: int | None = None, seed: int = 7) -> list[dict]:
    """Shared-data records; a random `limit` of them (resampled with new ids if fewer)."""
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    if limit is None:
        return records
    rng = random.Random(seed)
    if limit <= len(records):
        return rng.sample(records, limit)
    extra = []
    for i in range(limit - len(records)):
        copy = dict(rng.choice(records))
        copy["id"] = f"9{i:03d}.{i:05d}"[:10]
        extra.append(copy)
    return records + extra


def when(record: dict) -> datetime:
    """Publication time: published, else the listing date (the shared data has few dates)."""
    text = record.get("published") or record.get("listing_date") or "2020-01-01"
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_record(record: dict):
    from sanity.arxiv import PaperRecord

    published = when(record)
    return PaperRecord(
        id=record["id"],
        version=1,
        title=record["title"],
        abstract=record["abstract"],
        authors=record.get("authors") or [],
        categories=record.get("categories") or [],
        published=published,
        updated=published,
    )


def make_app(instance: Path, **overrides):
    """A production-config app on a fresh SQLite database in `instance`, migrated."""
    import os

    from flask_migrate import upgrade

    from config import Config
    from sanity import create_app

    os.environ["SANITY_INSTANCE_PATH"] = str(instance)
    app = create_app(Config, {"SECRET_KEY": "b" * 32, **overrides}, require_secret=False)
    with app.app_context():
        upgrade()
    return app


def insert(app, records: list[dict], batch: int = 5000) -> float:
    """Upsert records into the app's database; returns seconds taken."""
    from sanity.db import db
    from sanity.ingest.upsert import upsert_papers

    started = time.monotonic()
    with app.app_context():
        for i in range(0, len(records), batch):
            upsert_papers([to_record(r) for r in records[i : i + batch]])
            db.session.commit()
    return time.monotonic() - started


def fill(app, records: list[dict]) -> None:
    """Insert the records and build the features, saying how long each took."""
    from sanity.engine import jobs

    print(f"inserting {len(records):,} papers ...", flush=True)
    insert(app, records)
    started = time.monotonic()
    with app.app_context():
        jobs.full_build()
    print(f"features built in {time.monotonic() - started:.0f} s", flush=True)


def stats(values: list[float]) -> tuple[float, float]:
    """(median, 95th percentile) in milliseconds."""
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return median * 1000, p95 * 1000
