"""Daily digests over a real SMTP server: content, skipping, retries, failures, unsubscribe."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sanity.accounts import searches as feeds
from sanity.accounts import tags
from sanity.accounts import users as accounts
from sanity.db import db
from sanity.engine import jobs
from sanity.leases import DIGEST_LOCK, Lease
from sanity.mail import links
from sanity.models import DigestSent, Paper
from sanity.scheduler import build_scheduler, digest_job
from sanity.timeutil import as_utc
from tests.factories import BASE_TIME, csrf_from, make_paper, topical_papers
from tests.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.both_databases

BASE = "https://sanity.example.org"


@pytest.fixture
def smtp(app):
    """A real SMTP server the app sends to, and small digests (3 papers per section)."""
    server = SmtpServer().start()
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_FROM="digest@example.org",
        BASE_URL=BASE, DIGEST_MAX_PAPERS=3, DIGEST_DAYS=2,
    )  # fmt: skip
    yield server
    server.stop()


@pytest.fixture
def topics(app):
    """Papers on three topics inside the window, plus an old graphs paper outside it."""
    ids = topical_papers(8)
    old = make_paper(
        title="Graph neural networks message passing study",
        abstract="We study graph neural networks message passing node embeddings molecules.",
        when=BASE_TIME - timedelta(days=30),
    )
    ids["old"] = [old.id]
    return ids


def subscriber(name: str, verified: bool = True, digest_on: bool = True):
    return accounts.create_user(
        name, "password 123", f"{name}@example.org", digest=digest_on, email_verified=verified
    )


def tag(user, name: str, *paper_ids: str) -> None:
    for pid in paper_ids:
        tags.add_paper(user, name, pid)


def run_cli(runner, *args):
    return runner.invoke(args=["digest", *args])


def sent_ids(user) -> set[str]:
    rows = select(DigestSent.paper_id).where(DigestSent.user_id == user.id)
    return set(db.session.scalars(rows))


def section(text: str, heading: str) -> str:
    """The text part's section under a heading (up to the next heading or the signature)."""
    start = text.index(heading)
    rest = text[start + len(heading) :]
    end = min(i for i in (rest.find("\nRecommended for"), rest.find("\nNew matches"),
                          rest.find("\n-- \n"), len(rest)) if i >= 0)  # fmt: skip
    return rest[:end]


def paper_ids_in(text: str) -> list[str]:
    return re.findall(re.escape(BASE) + r"/paper/([^\s\"<>]+)", text)


def test_digest_has_tag_recommendations_and_saved_search_matches(app, runner, smtp, topics, clock):
    """Per tag: the best new papers of the window; per saved search: its new matches; text and
    HTML parts link to the paper pages here and on arXiv; List-Unsubscribe headers are set."""
    alice = subscriber("alice")
    tag(alice, "graphs", *topics["graphs"][:2])
    tag(alice, "gen", topics["diffusion"][0])
    feeds.save_search(alice, "robots", "robot manipulation", None, clock.now() - timedelta(hours=1))
    jobs.full_build()
    result = run_cli(runner)
    assert result.exit_code == 0, result.output
    assert "sent 1 (9 papers)" in result.output
    (got,) = smtp.received
    assert got.recipients == ["alice@example.org"]
    assert got.message["Subject"] == "sanity digest: 9 new papers for you"
    text, html = got.text, got.html
    graphs = paper_ids_in(section(text, 'Recommended for your tag "graphs"'))
    gen = paper_ids_in(section(text, 'Recommended for your tag "gen"'))
    robots = paper_ids_in(section(text, 'New matches of your saved search "robots"'))
    assert len(graphs) == len(gen) == len(robots) == 3
    assert set(graphs) <= set(topics["graphs"][2:])  # the topic, untagged, in the window
    assert set(gen) <= set(topics["diffusion"][1:])
    assert set(robots) <= set(topics["robots"])
    shown = set(graphs + gen + robots)
    for pid in shown:
        assert f"https://arxiv.org/abs/{pid}" in text and f"https://arxiv.org/abs/{pid}" in html
        assert f'href="{BASE}/paper/{pid}"' in html
    assert sorted(paper_ids_in(html)) == sorted(pid for pid in shown for _ in range(2))
    unsubscribe = got.message["List-Unsubscribe"]
    assert re.fullmatch(rf"<{re.escape(BASE)}/unsubscribe/[\w.\-]+>", unsubscribe)
    assert got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"List-Unsubscribe: {unsubscribe}\r\n".encode() in got.raw  # one line, not encoded
    assert unsubscribe.strip("<>") in text and unsubscribe.strip("<>") in html
    assert sent_ids(alice) == shown
    assert alice.last_digest is not None
    assert all(s.seen is not None for s in feeds.saved_searches(alice))


def test_papers_already_sent_or_tagged_are_skipped(app, runner, smtp, topics):
    """The next digest brings the next-best papers: never one sent before or tagged since."""
    bob = subscriber("bob")
    tag(bob, "graphs", *topics["graphs"][:2])
    jobs.full_build()
    assert run_cli(runner).exit_code == 0
    first = set(paper_ids_in(smtp.received[0].text))
    assert len(first) == 3
    remaining = [p for p in topics["graphs"][2:] if p not in first]
    tag(bob, "graphs", remaining[0])  # tagged after the first digest
    # added after the topics
    make_paper(
        title="Unrelated",
        abstract="Unrelated words about nothing.",
        when=BASE_TIME + timedelta(hours=25),
    )
    jobs.full_build()
    assert run_cli(runner).exit_code == 0
    second = set(paper_ids_in(smtp.received[1].text))
    assert len(second) == 3
    assert not second & first
    assert remaining[0] not in second and not second & set(topics["graphs"][:2])
    assert sent_ids(bob) == first | second


def test_saved_search_matches_are_marked_seen_and_never_repeated(app, runner, smtp, topics, clock):
    """A digest marks the saved searches seen; a match already mailed never comes again."""
    rae = subscriber("rae")
    saved = feeds.save_search(rae, "robots", "robot manipulation", None,
                              clock.now() - timedelta(hours=1))  # fmt: skip
    assert run_cli(runner).exit_code == 0
    first = set(paper_ids_in(smtp.received[0].text))
    assert len(first) == 3 and first <= set(topics["robots"])
    newest_added = db.session.scalar(select(func.max(Paper.added)))
    assert as_utc(saved.seen) >= as_utc(newest_added)
    saved.seen = clock.now() - timedelta(hours=1)  # as if never looked at
    db.session.commit()
    new = make_paper(title="Robot manipulation again", abstract="Robot manipulation grasping.",
                     when=BASE_TIME + timedelta(days=1))  # fmt: skip
    assert run_cli(runner).exit_code == 0
    second = set(paper_ids_in(smtp.received[1].text))
    assert new.id in second and not second & first


def test_a_retried_run_sends_nothing_twice(app, runner, smtp, topics):
    """Running again without new papers sends nothing: every subscriber is up to date."""
    cora = subscriber("cora")
    tag(cora, "graphs", topics["graphs"][0])
    jobs.full_build()
    assert run_cli(runner).exit_code == 0
    again = run_cli(runner)
    assert (
        again.exit_code == 0 and "sent 0" in again.output and "1 with nothing new" in again.output
    )
    assert len(smtp.received) == 1
    assert db.session.scalar(select(func.count()).select_from(DigestSent)) == 3


def test_one_failure_does_not_stop_the_others_and_a_retry_completes(
    app, runner, smtp, topics, caplog
):
    """A 550 for one subscriber is logged and exits 1; the others get their digests; the
    failed one records nothing, and the retry sends to them alone."""
    users = [subscriber(name) for name in ("dan", "eve", "fox")]
    for user in users:
        tag(user, "graphs", topics["graphs"][0])
    jobs.full_build()
    smtp.handler.reject.add("eve@example.org")
    with caplog.at_level(logging.INFO):
        result = run_cli(runner)
    assert result.exit_code == 1
    assert "sent 2" in result.output and "1 failed" in result.output
    assert sorted(r.recipients[0] for r in smtp.received) == ["dan@example.org", "fox@example.org"]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1 and "eve" in failures[0].getMessage()
    assert "550" in failures[0].getMessage()
    eve = accounts.find_user("eve")
    assert sent_ids(eve) == set() and eve.last_digest is None
    smtp.handler.reject.clear()
    retry = run_cli(runner)
    assert retry.exit_code == 0 and "sent 1" in retry.output
    assert [r.recipients for r in smtp.received[2:]] == [["eve@example.org"]]


def test_dry_run_reports_and_sends_nothing(app, runner, smtp, topics):
    """--dry-run prints each subscriber, their counts and the subject; sends and records nothing."""
    gia = subscriber("gia")
    tag(gia, "graphs", topics["graphs"][0])
    subscriber("hank")  # no tags, no searches
    jobs.full_build()
    result = run_cli(runner, "--dry-run")
    assert result.exit_code == 0, result.output
    assert (
        "would send to gia <gia@example.org>: 3 papers (3 recommended for 1 tags" in result.output
    )
    assert "'sanity digest: 3 new papers for you'" in result.output
    assert "hank: nothing new" in result.output and "would send 1" in result.output
    assert smtp.received == []
    assert db.session.scalar(select(func.count()).select_from(DigestSent)) == 0
    assert accounts.find_user("gia").last_digest is None


def test_only_verified_subscribers_get_digests(app, runner, smtp, topics):
    """Unverified addresses, digests turned off and disabled accounts get nothing."""
    users = [subscriber("ivy"), subscriber("jon", verified=False),
             subscriber("kai", digest_on=False), subscriber("lou")]  # fmt: skip
    users[3].is_disabled = True
    db.session.commit()
    for user in users:
        tag(user, "graphs", topics["graphs"][0])
    jobs.full_build()
    assert run_cli(runner).exit_code == 0
    assert [r.recipients for r in smtp.received] == [["ivy@example.org"]]
    assert sent_ids(users[1]) == set()


def test_without_features_saved_searches_still_arrive(app, runner, smtp, topics, clock, caplog):
    """Before the first feature build: no recommendations, but saved-search matches are sent."""
    max_ = subscriber("max")
    tag(max_, "graphs", topics["graphs"][0])
    feeds.save_search(max_, "diffusion", "diffusion", None, clock.now() - timedelta(hours=1))
    with caplog.at_level(logging.WARNING, logger="sanity.mail.digest"):
        assert run_cli(runner).exit_code == 0
    (got,) = smtp.received
    assert "Recommended for" not in got.text
    assert set(paper_ids_in(section(got.text, 'saved search "diffusion"'))) <= set(
        topics["diffusion"]
    )
    assert any("without recommendations" in r.getMessage() for r in caplog.records)


def test_unsubscribe_link_works_without_logging_in(app, runner, smtp, topics):
    """GET shows a confirm page; its form (with CSRF) turns digests off; forged links fail."""
    nia = subscriber("nia")
    tag(nia, "graphs", topics["graphs"][0])
    jobs.full_build()
    run_cli(runner)
    url = smtp.received[0].message["List-Unsubscribe"].strip("<>")
    path = url[len(BASE) :]
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200 and "Unsubscribe from daily digests?" in page.get_data(
        as_text=True
    )
    assert client.post(path).status_code == 400  # neither CSRF nor one-click
    assert accounts.find_user("nia").digest_enabled
    done = client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    assert not accounts.find_user("nia").digest_enabled
    assert "Digests are off" in client.get(path).get_data(as_text=True)
    assert client.get(path[:-3] + "abc").status_code == 400
    assert client.get("/unsubscribe/nonsense").status_code == 400


def test_one_click_unsubscribe_needs_no_csrf(app, runner, smtp, topics):
    """RFC 8058: a POST of List-Unsubscribe=One-Click to the header's URL turns digests off."""
    oli = subscriber("oli")
    tag(oli, "graphs", topics["graphs"][0])
    jobs.full_build()
    run_cli(runner)
    url = smtp.received[0].message["List-Unsubscribe"].strip("<>")
    response = app.test_client().post(url[len(BASE) :], data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert not accounts.find_user("oli").digest_enabled
    make_paper(title="More", abstract="Graph neural networks message passing node embeddings.")
    jobs.full_build()
    result = run_cli(runner)
    assert "0 subscribers" in result.output and len(smtp.received) == 1


def test_unsubscribe_tokens_are_for_one_purpose_and_user(app):
    """A token signed for another purpose, or for a deleted user, unsubscribes nobody."""
    pia = subscriber("pia")
    token = links.unsubscribe_token(pia)
    assert links.user_for_unsubscribe(token) is pia

    assert links.user_for_unsubscribe(links.sign("verify-email", {"u": pia.id})) is None
    accounts.delete_user(pia)
    assert links.user_for_unsubscribe(token) is None


def test_scheduler_sends_digests_daily_at_the_configured_hour(app, clock):
    """The scheduler has a daily digest job at DIGEST_HOUR_UTC (fractions are minutes)."""
    app.config["DIGEST_HOUR_UTC"] = 6.5
    job = build_scheduler(app).get_job("digest")
    fire = job.trigger.get_next_fire_time(None, clock.now())
    assert (fire.hour, fire.minute) == (6, 30) and fire - clock.now() <= timedelta(days=1)


def test_scheduled_job_never_raises_and_respects_the_lock(app, smtp, topics, caplog):
    """The job logs and returns when another process sends digests or the server is down."""
    quinn = subscriber("quinn")
    tag(quinn, "graphs", topics["graphs"][0])
    jobs.full_build()
    holder = Lease(DIGEST_LOCK, app.extensions["sanity.clock"], 600).acquire()
    with caplog.at_level(logging.INFO):
        digest_job(app)
    assert smtp.received == [] and any("skipped" in r.getMessage() for r in caplog.records)
    holder.release()
    app.config["MAIL_PORT"] = free_port()  # nothing listens there
    with caplog.at_level(logging.INFO):
        digest_job(app)
    assert any("quinn not sent" in r.getMessage() for r in caplog.records)


def test_digest_command_refuses_while_another_run_holds_the_lock(app, runner, smtp, topics):
    """`sanity digest` exits non-zero with one line when digests are being sent elsewhere."""
    Lease(DIGEST_LOCK, app.extensions["sanity.clock"], 600).acquire()
    result = run_cli(runner)
    assert result.exit_code == 1 and "already running" in result.output
