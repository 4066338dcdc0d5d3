"""A polite HTTP client for arXiv: one connection, a minimum gap between requests, backoff."""

from __future__ import annotations

import logging
import math
import random
import weakref
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from sanity.timeutil import Clock, as_utc

# When each host was last asked, per clock (tests run many fake clocks in one process).
_LAST_REQUEST: weakref.WeakKeyDictionary[Clock, dict[str, float]] = weakref.WeakKeyDictionary()

log = logging.getLogger(__name__)

ARXIV_MIN_DELAY = 3.0  # arXiv's terms: no more than one request every three seconds
MAX_RETRY_AFTER = 3600.0
RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A request failed for good (after retries, or with a status that is not worth retrying)."""

    def __init__(self, message: str, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class TooLarge(FetchError):
    """The response is larger than the caller's cap (not retried: it will not shrink)."""


def is_arxiv_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "arxiv.org" or host.endswith(".arxiv.org")


def effective_delay(url: str, delay: float) -> float:
    """The configured delay, never below arXiv's three seconds while the URL is arXiv's."""
    return max(delay, ARXIV_MIN_DELAY) if is_arxiv_host(url) else max(delay, 0.0)


def retry_after_seconds(value: str | None, clock: Clock) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        if not math.isfinite(seconds):  # "nan" would defeat the backoff; "inf" is no answer
            return None
    except ValueError:
        try:
            when = as_utc(parsedate_to_datetime(value))
        except (TypeError, ValueError):
            return None
        seconds = (when - clock.now()).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class PoliteClient:
    """GETs URLs one at a time with a minimum gap, retrying transient failures with backoff."""

    def __init__(
        self,
        *,
        user_agent: str,
        delay: float,
        timeout: float,
        max_retries: int,
        backoff: float,
        backoff_max: float,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.delay = delay
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.clock = clock
        self.rng = rng or random.Random()
        self.requests_made = 0
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, pool_block=True, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @classmethod
    def from_config(cls, config, clock: Clock) -> PoliteClient:
        return cls(
            user_agent=config["ARXIV_USER_AGENT"],
            delay=config["ARXIV_DELAY_SECONDS"],
            timeout=config["ARXIV_TIMEOUT_SECONDS"],
            max_retries=config["ARXIV_MAX_RETRIES"],
            backoff=config["ARXIV_BACKOFF_SECONDS"],
            backoff_max=config["ARXIV_BACKOFF_MAX_SECONDS"],
            clock=clock,
        )

    def close(self) -> None:
        self.session.close()

    def backoff_for(self, attempt: int) -> float:
        """Exponential backoff with full jitter, capped."""
        ceiling = min(self.backoff_max, self.backoff * (2**attempt))
        return self.rng.uniform(ceiling / 2, ceiling)

    def wait_turn(self, url: str) -> None:
        """Sleep until the minimum gap since the previous request to this host has passed
        (by any client in this process: each crawl run has its own client, and one run may
        start right after another ended)."""
        gap = effective_delay(url, self.delay)
        hosts = _LAST_REQUEST.setdefault(self.clock, {})
        host = urlsplit(url).netloc
        if host in hosts:
            remaining = hosts[host] + gap - self.clock.monotonic()
            if remaining > 0:
                self.clock.sleep(remaining)
        hosts[host] = self.clock.monotonic()

    def get(self, url: str, max_bytes: int | None = None) -> bytes:
        """GET with politeness and retries; raises FetchError when it gives up. With max_bytes,
        the body is streamed and a larger one abandoned (TooLarge) without reading the rest."""
        last_error = "no attempt"
        for attempt in range(self.max_retries + 1):
            self.wait_turn(url)
            self.requests_made += 1
            pause = None
            try:
                response = self.session.get(url, timeout=self.timeout, stream=bool(max_bytes))
                if response.status_code == 200 and max_bytes:
                    return _read_capped(response, max_bytes)
            except requests.Timeout:
                last_error = f"timed out after {self.timeout:g}s"
            except requests.ConnectionError as exc:
                last_error = f"could not reach {urlsplit(url).hostname}: {_reason(exc)}"
            except requests.exceptions.ChunkedEncodingError:  # not a ConnectionError subclass
                last_error = f"connection to {urlsplit(url).hostname} broke mid-response"
            except requests.RequestException as exc:  # a bad URL: retrying cannot help
                raise FetchError(f"cannot fetch {url}: {exc}") from None
            else:
                if response.status_code == 200:
                    return response.content
                last_error = f"HTTP {response.status_code} from {urlsplit(url).hostname}"
                body = b"" if max_bytes else response.content
                response.close()  # an unread streamed body would hold the one connection
                if response.status_code not in RETRY_STATUSES:
                    raise FetchError(last_error, response.status_code, body)
                pause = retry_after_seconds(response.headers.get("Retry-After"), self.clock)
            if attempt == self.max_retries:
                break
            wait = max(pause or 0.0, self.backoff_for(attempt))
            log.warning("%s; retry %d/%d in %.1fs", last_error, attempt + 1, self.max_retries, wait)
            self.clock.sleep(wait)
        raise FetchError(f"{last_error} (gave up after {self.max_retries + 1} attempts)")


def get_parsed(client: PoliteClient, url: str, parse, retry_on: tuple[type[Exception], ...]):
    """GET and parse, treating a parse failure in retry_on (say, truncated XML) like a failed
    request: retried with backoff, then raised."""
    for attempt in range(client.max_retries + 1):
        body = client.get(url)
        try:
            return parse(body)
        except retry_on as exc:
            if attempt == client.max_retries:
                raise type(exc)(f"{exc} (gave up after {attempt + 1} attempts)") from None
            log.warning("%s; retrying", exc)
            client.clock.sleep(client.backoff_for(attempt))
    raise AssertionError("unreachable")


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
    """The body of a streamed response, or TooLarge as soon as it passes max_bytes."""
    with response:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(f"{int(declared):,} bytes, more than the {max_bytes:,} allowed", 200)
        body = bytearray()
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > max_bytes:
                raise TooLarge(f"more than the {max_bytes:,} bytes allowed", 200)
        return bytes(body)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "reset"):
        if marker in text:
            return marker.lower()
    return exc.__class__.__name__
