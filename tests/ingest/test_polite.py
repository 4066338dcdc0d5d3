"""The polite HTTP client: arXiv's minimum delay, Retry-After, bounded retries with backoff."""

from __future__ import annotations

import random
import socket
import threading
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config import TestingConfig
from sanity.ingest.polite import (
    ARXIV_MIN_DELAY,
    MAX_RETRY_AFTER,
    FetchError,
    PoliteClient,
    TooLarge,
    effective_delay,
    retry_after_seconds,
)
from sanity.timeutil import Clock, FakeClock

BACKOFF = 1.0  # seconds before the first retry; doubles each attempt (with jitter in [b/2, b])


@pytest.fixture
def make_client():
    """Build PoliteClients with test defaults and close them afterwards."""
    made: list[PoliteClient] = []

    def build(clock: Clock, **overrides) -> PoliteClient:
        values = dict(
            user_agent="sanity-tests/1.0",
            delay=0.0,
            timeout=2.0,
            max_retries=3,
            backoff=BACKOFF,
            backoff_max=60.0,
            clock=clock,
            rng=random.Random(7),
        )
        values.update(overrides)
        made.append(PoliteClient(**values))
        return made[-1]

    yield build
    for client in made:
        client.close()


def api_url(arxiv) -> str:
    return arxiv.url + "/api/query?search_query=cat:cs.LG&start=0&max_results=10"


def assert_growing_backoff(slept: list[float], retries: int) -> None:
    """Each pause lies in its exponential jitter band, so the pauses never shrink."""
    assert len(slept) == retries
    for attempt, pause in enumerate(slept):
        ceiling = BACKOFF * 2**attempt
        assert ceiling / 2 <= pause <= ceiling, (attempt, slept)
    assert slept == sorted(slept) and slept[-1] > slept[0]


# ---- pure helpers ----


@pytest.mark.parametrize(
    "url",
    [
        "https://export.arxiv.org/api/query",
        "https://oaipmh.arxiv.org/oai",
        "http://export.arxiv.org/oai2",
        "https://arxiv.org/abs/2401.01234",
        "HTTPS://EXPORT.ARXIV.ORG:443/api/query",
    ],
)
@pytest.mark.parametrize("configured", [-1.0, 0.0, 0.5, 2.999, 3.0])
def test_effective_delay_never_below_three_seconds_for_arxiv(url, configured):
    """Whatever the configuration says, arXiv's hosts get at least one request per 3 seconds."""
    assert effective_delay(url, configured) == ARXIV_MIN_DELAY == 3.0


def test_effective_delay_longer_configured_delay_wins_for_arxiv():
    """A configured delay above arXiv's minimum is kept."""
    assert effective_delay("https://export.arxiv.org/api/query", 10.0) == 10.0


@pytest.mark.parametrize(
    ("url", "configured", "expected"),
    [
        ("http://127.0.0.1:8000/api/query", 0.2, 0.2),
        ("http://127.0.0.1:8000/api/query", 0.0, 0.0),
        ("http://127.0.0.1:8000/api/query", -1.0, 0.0),
        ("https://mirror.example.org/oai", 1.5, 1.5),
        ("https://notarxiv.org/api/query", 0.0, 0.0),
        ("https://arxiv.org.example.com/api/query", 0.0, 0.0),
    ],
)
def test_effective_delay_is_the_config_value_elsewhere(url, configured, expected):
    """Other hosts (mirrors, the test server, look-alike names) get the configured delay."""
    assert effective_delay(url, configured) == expected


def test_client_waits_three_seconds_between_arxiv_requests_even_with_delay_zero(make_client):
    """The client itself applies the floor: two turns at arXiv with delay 0 are 3 s apart."""
    clock = FakeClock()
    client = make_client(clock, delay=0.0)
    client.wait_turn("https://export.arxiv.org/api/query")
    client.wait_turn("https://export.arxiv.org/api/query")
    assert clock.slept == [3.0]


def test_a_new_client_waits_for_the_previous_clients_last_request(make_client):
    """Each crawl run has its own client; one starting right after another still waits."""
    clock = FakeClock()
    make_client(clock, delay=0.0).wait_turn("https://export.arxiv.org/api/query")
    clock.advance(1.0)
    make_client(clock, delay=0.0).wait_turn("https://export.arxiv.org/api/query")
    assert clock.slept == [pytest.approx(2.0)]
    make_client(clock, delay=0.0).wait_turn("https://oaipmh.arxiv.org/oai")  # another host
    assert len(clock.slept) == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("999999", MAX_RETRY_AFTER),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after_delta_seconds(header, expected):
    """Retry-After in delta-seconds is read, clamped to [0, MAX], and junk is ignored."""
    assert retry_after_seconds(header, FakeClock()) == expected


def test_retry_after_http_date():
    """Retry-After as an HTTP date means the seconds from now until then (0 if past)."""
    clock = FakeClock()
    later = format_datetime(clock.now() + timedelta(seconds=90), usegmt=True)
    earlier = format_datetime(clock.now() - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds(later, clock) == 90.0
    assert retry_after_seconds(earlier, clock) == 0.0
    assert retry_after_seconds("Wed, 99 Foo 2026 25:61:00 GMT", clock) is None


# ---- against the local arXiv-compatible server ----


def test_503_with_retry_after_waits_at_least_that_long(arxiv, clock, make_client):
    """A 503 with Retry-After: 7 is retried only after sleeping at least 7 seconds."""
    arxiv.fault("status", status=503, headers={"Retry-After": "7"})
    client = make_client(clock)
    body = client.get(api_url(arxiv))
    assert b"<feed" in body
    assert len(arxiv.log) == 2 and client.requests_made == 2
    assert len(clock.slept) == 1 and clock.slept[0] >= 7.0


def test_503_with_retry_after_date_is_honoured(arxiv, clock, make_client):
    """A Retry-After HTTP date 20 s ahead makes the client wait those 20 s."""
    when = format_datetime(clock.now() + timedelta(seconds=20), usegmt=True)
    arxiv.fault("status", status=503, headers={"Retry-After": when})
    client = make_client(clock)
    client.get(api_url(arxiv))
    assert clock.slept == [pytest.approx(20.0, abs=1.0)]


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("status", {"status": 429}),
        ("status", {"status": 502}),
        ("drop", {}),
        ("delay", {"seconds": 2.0}),  # longer than the client's 0.5 s timeout
    ],
    ids=["429", "502", "dropped-connection", "timeout"],
)
def test_transient_failures_are_retried_with_growing_backoff(
    arxiv, clock, make_client, kind, options
):
    """429s, 5xx, dropped connections and timeouts are retried, each pause longer than the last."""
    for _ in range(3):
        arxiv.fault(kind, **options)
    client = make_client(clock, timeout=0.5, max_retries=3)
    body = client.get(api_url(arxiv))
    assert b"<feed" in body
    assert len(arxiv.log) == 4
    assert_growing_backoff(clock.slept, retries=3)


def test_retries_are_bounded_and_end_in_a_clear_fetch_error(arxiv, clock, make_client):
    """After max_retries + 1 failed attempts the client gives up with a one-line FetchError."""
    for _ in range(10):
        arxiv.fault("status", status=503)
    client = make_client(clock, max_retries=3)
    with pytest.raises(FetchError) as caught:
        client.get(api_url(arxiv))
    message = str(caught.value)
    assert "HTTP 503" in message and "127.0.0.1" in message
    assert "gave up after 4 attempts" in message and "\n" not in message
    assert len(arxiv.log) == 4
    assert_growing_backoff(clock.slept, retries=3)


def test_repeated_timeouts_say_so(arxiv, clock, make_client):
    """When every attempt times out, the error names the timeout."""
    for _ in range(2):
        arxiv.fault("delay", seconds=1.0)
    client = make_client(clock, timeout=0.2, max_retries=1)
    with pytest.raises(FetchError, match=r"timed out after 0.2s \(gave up after 2 attempts\)"):
        client.get(api_url(arxiv))


def test_unreachable_host_is_retried_then_reported(clock, make_client):
    """A refused connection is retried, then reported as 'could not reach HOST'."""
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(clock, max_retries=2)
    with pytest.raises(FetchError, match=r"could not reach 127\.0\.0\.1.*gave up after 3"):
        client.get(f"http://127.0.0.1:{port}/api/query")
    assert len(clock.slept) == 2


def test_404_is_not_retried(arxiv, clock, make_client):
    """A 404 fails at once with its status: no retry, no backoff sleep."""
    client = make_client(clock)
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        client.get(arxiv.url + "/no/such/path")
    assert caught.value.status == 404
    assert len(arxiv.log) == 1 and clock.slept == []


def test_malformed_url_fails_at_once(clock, make_client):
    """A URL without a scheme (a configuration mistake) is a FetchError, not a retry loop."""
    client = make_client(clock)
    with pytest.raises(FetchError, match="cannot fetch export.arxiv.org/api/query"):
        client.get("export.arxiv.org/api/query")
    assert clock.slept == []


@pytest.fixture
def short_body_server():
    """A server whose first response breaks off before its Content-Length; later ones are whole."""
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            hits.append(1)
            body = b"<feed>complete</feed>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * (10 if len(hits) == 1 else 1)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = len(hits) == 1

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/query", hits
    server.shutdown()
    server.server_close()


def test_connection_broken_mid_body_is_retried(short_body_server, clock, make_client):
    """A body cut short of its Content-Length (connection lost mid-read) is retried, not raised."""
    url, hits = short_body_server
    client = make_client(clock)
    assert client.get(url) == b"<feed>complete</feed>"
    assert len(hits) == 2 and len(clock.slept) == 1


def test_minimum_gap_is_respected_at_the_server(arxiv, make_client):
    """With a 0.2 s delay, consecutive requests (retries included) arrive >= 0.2 s apart."""
    arxiv.fault("status", status=503)
    client = make_client(Clock(), delay=0.2, backoff=0.01, backoff_max=0.01)
    for _ in range(3):
        client.get(api_url(arxiv))
    stamps = [when for when, _, _ in arxiv.log]
    assert len(stamps) == 4
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) >= 0.2 - 0.01, gaps  # small allowance for request parsing jitter


def test_requests_reuse_one_connection(arxiv, clock, make_client, monkeypatch):
    """Consecutive requests go over a single kept-alive connection, never several at once."""
    connections: list[tuple] = []
    handler = arxiv.server.RequestHandlerClass
    original_setup = handler.setup

    def setup(self) -> None:  # runs once per accepted connection
        connections.append(self.client_address)
        original_setup(self)

    monkeypatch.setattr(handler, "setup", setup)
    client = make_client(clock)
    for _ in range(4):
        client.get(api_url(arxiv))
    assert len(arxiv.log) == 4
    assert len(connections) == 1


def test_user_agent_names_the_project(arxiv, clock):
    """The configured client sends a User-Agent naming sanity and where to find it."""
    client = PoliteClient.from_config(TestingConfig.as_dict({}), clock)
    try:
        client.get(api_url(arxiv))
    finally:
        client.close()
    (agent,) = arxiv.user_agents
    assert agent.startswith("sanity/")
    assert "http" in agent and "python-requests" not in agent


@pytest.fixture
def endless_server():
    """A server streaming a body without Content-Length (chunked) that would never end; counts
    the bytes it managed to send."""
    sent: list[int] = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"%PDF-" + b"x" * 65531
            try:
                for _ in range(10_000):  # 640 MB if nobody stops reading
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent[0] += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pdf/2401.00001", sent
    server.shutdown()
    server.server_close()


def test_a_capped_get_abandons_a_body_without_length(endless_server, clock, make_client):
    """With max_bytes, a streamed body of unknown length is dropped once past the cap (not
    retried, not read to its end)."""
    url, sent = endless_server
    client = make_client(clock)
    with pytest.raises(TooLarge):
        client.get(url, max_bytes=1_000_000)
    assert client.requests_made == 1
    assert sent[0] < 50_000_000  # stopped by the client long before the server's 640 MB


def test_a_capped_get_refuses_a_declared_length_over_the_cap(arxiv, clock, make_client):
    """A Content-Length above the cap is refused before reading the body; a body under it is
    returned whole, and the one connection stays usable."""
    client = make_client(clock)
    with pytest.raises(TooLarge):
        client.get(api_url(arxiv), max_bytes=100)
    assert client.get(api_url(arxiv), max_bytes=100_000).startswith(b"<?xml")
