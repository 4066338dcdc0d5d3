"""First-pages thumbnails against the fake arXiv: real small PDFs and broken answers."""

from __future__ import annotations

import ast
import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from sanity.db import db
from sanity.ingest import thumbnails
from sanity.ingest.thumbnails import MAX_IMAGE_BYTES, make_thumbnails, thumb_path, thumbs_dir
from sanity.leases import THUMBNAILS_LOCK, Lease
from sanity.models import Thumbnail
from sanity.scheduler import crawl_job
from sanity.timeutil import Clock
from tests.arxiv_server import FakePaper
from tests.factories import make_paper
from tests.pdfs import encrypted_pdf, garbage, text_pdf, truncated_pdf

PDF = "application/pdf"

pytestmark = pytest.mark.both_databases  # the candidate, record and prune queries


@pytest.fixture
def on(app):
    """THUMBNAILS=true for the test's app."""
    app.config["THUMBNAILS"] = True
    return app


def recent(clock, pid: str, days: float = 1.0):
    return make_paper(id=pid, when=clock.now() - timedelta(days=days))


def rows() -> dict[str, Thumbnail]:
    return {t.paper_id: t for t in db.session.scalars(select(Thumbnail))}


def test_strips_of_recent_papers_are_made_once(on, arxiv, clock, runner):
    """Each recent paper's PDF is fetched once and becomes a small WebP strip of its first
    pages (old-style ids too); older papers are not fetched; a second run fetches nothing."""
    for pid, pages in [("2611.00001", 6), ("2611.00002", 2), ("hep-th/0611001", 3)]:
        recent(clock, pid)
        arxiv.pdfs[pid] = (text_pdf(pages=pages, seed=len(pid)), PDF)
    make_paper(id="2601.00009", when=clock.now() - timedelta(days=30))
    arxiv.pdfs["2601.00009"] = (text_pdf(), PDF)

    result = runner.invoke(args=["thumbnails"])
    assert result.exit_code == 0, result.output
    assert "3 made" in result.output and "0 skipped" in result.output
    assert sorted(arxiv.pdf_requests()) == ["2611.00001", "2611.00002", "hep-th/0611001"]
    found = rows()
    for pid, shown in [("2611.00001", 4), ("2611.00002", 2), ("hep-th/0611001", 3)]:
        data = thumb_path(pid).read_bytes()
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        assert 1000 < len(data) <= MAX_IMAGE_BYTES == 60_000
        image = Image.open(io.BytesIO(data))
        assert image.height == 200 and found[pid].height == 200
        # letter pages are 155 px wide at 200 px high, 4 px apart: the page count shows
        assert image.width == found[pid].width == shown * 155 + (shown - 1) * 4
        assert found[pid].status == "ok" and found[pid].size == len(data)
    assert (thumbs_dir(on.config["DATA_DIR"]) / "hep-th_0611001.webp").is_file()
    assert "2601.00009" not in found

    again = runner.invoke(args=["thumbnails"])
    assert again.exit_code == 0 and "0 made" in again.output
    assert len(arxiv.pdf_requests()) == 3


def test_broken_answers_are_recorded_and_never_fetched_again(on, arxiv, clock, runner):
    """Garbage, HTML, a truncated, an encrypted and an oversized PDF and a 404 are each
    skipped with a reason, the run exits 0, and the next run asks for none of them."""
    on.config["THUMBNAIL_MAX_PDF_BYTES"] = 100_000
    answers = {
        "2611.00011": (garbage(), PDF),
        "2611.00012": (b"<html><body>PDF unavailable</body></html>", "text/html"),
        "2611.00013": (truncated_pdf(), PDF),
        "2611.00014": (encrypted_pdf(), PDF),
        "2611.00015": (text_pdf(pages=40, lines=60), PDF),  # > 100 KB
    }
    for pid in [*answers, "2611.00016"]:  # the last has no PDF: 404
        recent(clock, pid)
    arxiv.pdfs.update(answers)
    assert len(answers["2611.00015"][0]) > 100_000

    result = runner.invoke(args=["thumbnails"])
    assert result.exit_code == 0, result.output
    assert "0 made" in result.output and "6 skipped" in result.output
    reasons = {pid: row.reason for pid, row in rows().items()}
    assert {row.status for row in rows().values()} == {"failed"}
    assert reasons["2611.00011"] == "not a PDF"
    assert reasons["2611.00012"] == "not a PDF"
    assert reasons["2611.00013"].startswith("broken PDF")
    assert reasons["2611.00014"] == "encrypted PDF (needs a password)"
    assert reasons["2611.00015"].startswith("PDF too large")
    assert reasons["2611.00016"].startswith("HTTP 404")
    assert not any(thumbs_dir(on.config["DATA_DIR"]).glob("*"))

    again = runner.invoke(args=["thumbnails"])
    assert again.exit_code == 0
    assert len(arxiv.pdf_requests()) == 6


def test_retry_after_is_honoured(on, arxiv, clock):
    """A 503 with Retry-After waits that long, then the PDF is fetched and rendered."""
    recent(clock, "2611.00021")
    arxiv.pdfs["2611.00021"] = (text_pdf(), PDF)
    arxiv.fault("status", status=503, headers={"Retry-After": "42"})
    stats = make_thumbnails(clock)
    assert stats.made == 1 and stats.requests == 2
    assert max(clock.slept) >= 42


def test_arxiv_down_stops_the_run_and_the_paper_is_retried(on, arxiv, clock, runner):
    """When arXiv keeps failing, the run stops at once (exit 1; no other paper is asked for),
    and the next run makes every strip."""
    on.config["ARXIV_MAX_RETRIES"] = 1
    for pid, days in [("2611.00031", 2), ("2611.00032", 1)]:
        recent(clock, pid, days)
        arxiv.pdfs[pid] = (text_pdf(), PDF)
    arxiv.fault("status", status=503)
    arxiv.fault("status", status=503)

    result = runner.invoke(args=["thumbnails"])
    assert result.exit_code == 1 and "stopped early" in result.output
    assert arxiv.pdf_requests() == ["2611.00032", "2611.00032"]  # newest first, then stop
    assert rows()["2611.00032"].status == "retry"

    again = runner.invoke(args=["thumbnails"])
    assert again.exit_code == 0 and "2 made" in again.output
    assert {row.status for row in rows().values()} == {"ok"}


def test_a_crashing_renderer_skips_the_paper_only(on, arxiv, clock, tmp_path, monkeypatch):
    """A render process that dies (as PDFium would on a hostile file) costs that paper only."""
    crash = tmp_path / "crash.py"
    crash.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(thumbnails, "RENDER_SCRIPT", crash)
    recent(clock, "2611.00041")
    arxiv.pdfs["2611.00041"] = (text_pdf(), PDF)
    stats = make_thumbnails(clock)
    assert stats.failed == 1 and stats.stopped is None
    assert rows()["2611.00041"].reason == "renderer died (-11)"


def test_strips_older_than_the_window_are_pruned(on, arxiv, clock):
    """A strip whose paper left the THUMBNAIL_DAYS window is deleted with its record, as are
    stray files; current strips stay."""
    recent(clock, "2611.00051", days=6)
    recent(clock, "2611.00052", days=1)
    for pid in ["2611.00051", "2611.00052"]:
        arxiv.pdfs[pid] = (text_pdf(), PDF)
    assert make_thumbnails(clock).made == 2
    stray = thumbs_dir(on.config["DATA_DIR"]) / ".tmp-interrupted"
    stray.write_bytes(b"half")

    clock.advance(2 * 86400)
    stats = make_thumbnails(clock)
    assert stats.pruned == 1 and stats.made == 0
    assert not thumb_path("2611.00051").exists() and not stray.exists()
    assert thumb_path("2611.00052").is_file()
    assert list(rows()) == ["2611.00052"]


def test_requests_keep_the_configured_gap(on, arxiv, clock):
    """With a 0.2 s delay, consecutive PDF requests arrive at least 0.2 s apart."""
    on.config["ARXIV_DELAY_SECONDS"] = 0.2
    on.extensions["sanity.clock"] = real = Clock()
    for n in range(3):
        recent(clock, f"2611.0006{n}")
        arxiv.pdfs[f"2611.0006{n}"] = (text_pdf(pages=1), PDF)
    assert make_thumbnails(real).made == 3
    stamps = [when for when, path, _ in arxiv.log if path.startswith("/pdf/")]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert len(gaps) == 2 and min(gaps) >= 0.2 - 0.01, gaps
    assert set(arxiv.user_agents) == {on.config["ARXIV_USER_AGENT"]}


def test_off_is_a_clear_error_and_fetches_nothing(app, arxiv, clock, runner):
    """With THUMBNAILS off the command exits 2 with one line and asks arXiv for nothing."""
    recent(clock, "2611.00071")
    arxiv.pdfs["2611.00071"] = (text_pdf(), PDF)
    result = runner.invoke(args=["thumbnails"])
    assert result.exit_code == 2
    assert "THUMBNAILS is off" in result.output
    assert arxiv.log == []


def test_a_running_thumbnail_job_blocks_a_second(on, arxiv, clock, runner):
    """While another process holds the thumbnails lock, the command says so and fetches
    nothing."""
    recent(clock, "2611.00081")
    arxiv.pdfs["2611.00081"] = (text_pdf(), PDF)
    Lease(THUMBNAILS_LOCK, clock, 600, owner="elsewhere:1:x").acquire()
    result = runner.invoke(args=["thumbnails"])
    assert result.exit_code == 1 and "thumbnails is already running" in result.output
    assert arxiv.pdf_requests() == []


def test_scheduled_crawl_makes_thumbnails_when_on(app, arxiv, clock):
    """The scheduled crawl job runs the thumbnails after the crawl with THUMBNAILS on, and
    fetches no PDF with it off."""
    paper = FakePaper(
        id="2611.00091",
        title="Strips",
        abstract="First pages.",
        authors=["A. Author"],
        categories=["cs.LG"],
        published=clock.now() - timedelta(hours=5),
    )
    arxiv.add(paper)
    arxiv.pdfs[paper.id] = (text_pdf(), PDF)
    crawl_job(app)
    assert arxiv.pdf_requests() == [] and rows() == {}

    app.config["THUMBNAILS"] = True
    crawl_job(app)
    assert arxiv.pdf_requests() == ["2611.00091"]
    assert thumb_path("2611.00091").is_file()


def test_render_process_does_not_import_sanity():
    """The render script stands alone (fast start, nothing of the app in a hostile process)."""
    tree = ast.parse(thumbnails.RENDER_SCRIPT.read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert "pypdfium2" in names and not [n for n in names if n.split(".")[0] == "sanity"]
