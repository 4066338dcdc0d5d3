"""Bulk harvest over OAI-PMH (ListRecords, metadataPrefix=arXiv), resumable after interruption."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app

from sanity.arxiv import FeedError, build_oai_url, parse_oai
from sanity.db import db
from sanity.ingest.polite import FetchError, PoliteClient, get_parsed
from sanity.ingest.runs import start_run
from sanity.ingest.upsert import upsert_papers
from sanity.leases import INGEST_LOCK, Lease
from sanity.models import CrawlRun
from sanity.timeutil import Clock

log = logging.getLogger(__name__)


def _resume_token(from_date: str | None, set_spec: str | None) -> str | None:
    """The token an interrupted harvest with the same arguments stopped at, if any."""
    last = db.session.scalars(CrawlRun.latest("harvest").limit(1)).first()
    if last is None or last.status == "ok" or not last.resume:
        return None
    same = last.resume.get("from") == from_date and last.resume.get("set") == set_spec
    return last.resume.get("token") if same else None


def harvest(
    clock: Clock,
    from_date: str | None = None,
    set_spec: str | None = None,
    client: PoliteClient | None = None,
    on_page: Callable[[CrawlRun], None] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> CrawlRun:
    """Harvest every record matching from/set, committing each page with its resumption token.

    The run's `new` and `updated` say what changed; the caller runs the feature update.
    `progress(records, complete_size)` is called after each page's commit."""
    cfg = current_app.config
    client = client or PoliteClient.from_config(cfg, clock)
    with Lease.for_job(INGEST_LOCK, clock) as lease:
        token = _resume_token(from_date, set_spec)
        run = start_run("harvest", clock, {"from": from_date, "set": set_spec, "token": token})
        if token:
            log.info("resuming an interrupted harvest at token %s", token)
        status, error, restarted, records = "ok", None, False, 0
        try:
            while True:
                url = build_oai_url(cfg["ARXIV_OAI_URL"], token, from_date, set_spec)
                page = get_parsed(client, url, parse_oai, retry_on=(FeedError,))
                if page.error_code == "badResumptionToken" and token and not restarted:
                    log.warning("resumption token expired; starting the harvest over")
                    token, restarted = None, True
                    continue
                if page.error_code and page.error_code != "noRecordsMatch":
                    raise FeedError(f"OAI-PMH error {page.error_code}: {page.error}")
                result = upsert_papers(page.records)
                for reason in page.bad:
                    log.warning("harvest: skipped a record: %s", reason)
                token = page.token
                run.pages += 1
                run.new += result.new
                run.updated += result.updated
                run.requests = client.requests_made
                run.resume = {"from": from_date, "set": set_spec, "token": token}
                if on_page:
                    on_page(run)
                db.session.commit()
                lease.renew()
                records += len(page.records) + len(page.bad)
                if progress:
                    progress(records, page.complete_size)
                log.info(
                    "harvest page %d: had=%d new=%d replaced=%d skipped=%d%s",
                    run.pages, len(page.records), result.new, result.updated,
                    len(page.bad) + len(result.unstorable),
                    f" of {page.complete_size}" if page.complete_size else "",
                )  # fmt: skip
                if not token:
                    break
        except (FetchError, FeedError) as exc:
            db.session.rollback()
            status, error = "failed", str(exc)
            log.error("harvest failed: %s (rerun to resume)", exc)
        except BaseException as exc:
            db.session.rollback()
            status, error = "failed", f"{exc.__class__.__name__}: {exc}"
            raise
        finally:
            run.status, run.error, run.finished = status, error, clock.now()
            run.requests = client.requests_made
            db.session.commit()
    return run
