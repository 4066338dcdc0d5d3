"""A local arXiv-compatible HTTP server for tests: the export API (Atom), OAI-PMH and PDFs.

It serves fixture papers in arXiv's exact formats on 127.0.0.1, newest lastUpdatedDate first,
supports `cat:` OR-queries with an optional `AND lastUpdatedDate:[A TO B]` window, and has
switchable faults consumed one per request.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

ATOM_HEAD = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" \
xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/Lw2mfQhvQ3PY0VkSIqgvy6E1qDQ</id>
  <title>arXiv Query: search_query={query}&amp;id_list=&amp;start={start}&amp;max_results={size}</title>
  <updated>{now}</updated>
  <link href="https://arxiv.org/api/query?search_query={query}&amp;start={start}&amp;max_results={size}&amp;id_list=" type="application/atom+xml"/>
  <opensearch:itemsPerPage>{size}</opensearch:itemsPerPage>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>{start}</opensearch:startIndex>
"""


def ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakePaper:
    """A paper as arXiv holds it; `version` and `updated` describe the latest version."""

    id: str
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    published: datetime
    updated: datetime | None = None
    version: int = 1
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None

    def __post_init__(self) -> None:
        self.updated = self.updated or self.published


def atom_entry(p: FakePaper) -> str:
    vid = f"{p.id}v{p.version}"
    lines = [
        "  <entry>",
        f"    <id>http://arxiv.org/abs/{vid}</id>",
        f"    <title>{escape(p.title)}</title>",
        f"    <updated>{ts(p.updated)}</updated>",
        f'    <link href="https://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>',
        f'    <link href="https://arxiv.org/pdf/{vid}" rel="related" type="application/pdf"'
        ' title="pdf"/>',
        f"    <summary>{escape(p.abstract)}</summary>",
    ]
    lines += [
        f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in p.categories
    ]
    lines.append(f"    <published>{ts(p.published)}</published>")
    if p.comment:
        lines.append(f"    <arxiv:comment>{escape(p.comment)}</arxiv:comment>")
    if p.journal_ref:
        lines.append(f"    <arxiv:journal_ref>{escape(p.journal_ref)}</arxiv:journal_ref>")
    if p.doi:
        lines.append(f"    <arxiv:doi>{escape(p.doi)}</arxiv:doi>")
        lines.append(f'    <link rel="related" href="https://doi.org/{p.doi}" title="doi"/>')
    if p.categories:
        lines.append(f'    <arxiv:primary_category term="{p.categories[0]}"/>')
    for author in p.authors:
        lines.append(f"    <author>\n      <name>{escape(author)}</name>\n    </author>")
    lines.append("  </entry>")
    return "\n".join(lines) + "\n"


def oai_record(p: FakePaper) -> str:
    authors = []
    for name in p.authors:
        *first, last = name.split(" ")
        fore = f"<forenames>{escape(' '.join(first))}</forenames>" if first else ""
        authors.append(f"<author><keyname>{escape(last)}</keyname>{fore}</author>")
    optional = ""
    if p.version > 1:
        optional += f"<updated>{p.updated:%Y-%m-%d}</updated>"
    sets = "".join(f" <setSpec>{s}</setSpec>" for s in dict.fromkeys(map(oai_set, p.categories)))
    parts = [
        "<record><header>",
        f" <identifier>oai:arXiv.org:{p.id}</identifier>",
        f" <datestamp>{p.updated:%Y-%m-%d}</datestamp>",
        f"{sets}</header><metadata>",
        ' <arXiv xmlns="http://arxiv.org/OAI/arXiv/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://arxiv.org/OAI/arXiv/ http://arxiv.org/OAI/arXiv.xsd">',
        f" <id>{p.id}</id><created>{p.published:%Y-%m-%d}</created>{optional}",
        f"<authors>{''.join(authors)}</authors><title>{escape(p.title)}</title>",
        f"<categories>{' '.join(p.categories)}</categories>",
    ]
    if p.comment:
        parts.append(f"<comments>{escape(p.comment)}</comments>")
    if p.doi:
        parts.append(f"<doi>{escape(p.doi)}</doi>")
    parts.append(f"<abstract>  {escape(p.abstract)}\n</abstract></arXiv></metadata></record>")
    return "\n".join(parts)


# Archives arXiv groups under the "physics" OAI-PMH set (physics:hep-th, ...).
PHYSICS_ARCHIVES = {
    "astro-ph", "cond-mat", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph", "nlin",
    "nucl-ex", "nucl-th", "physics", "quant-ph",
}  # fmt: skip


def oai_set(category: str) -> str:
    """The OAI-PMH set a category belongs to: `cs` for cs.LG, `physics:hep-th` for hep-th."""
    archive = category.split(".", 1)[0]
    return f"physics:{archive}" if archive in PHYSICS_ARCHIVES else archive


def in_oai_set(category: str, set_spec: str) -> bool:
    """Whether a category is in a set: `math` holds math.GT (not math-ph), `physics` hep-th."""
    archive, _, sub = category.partition(".")
    group = "physics" if archive in PHYSICS_ARCHIVES else archive
    wanted = set_spec.split(":")
    return wanted == [group, archive, sub][: len(wanted)]


_WINDOW = re.compile(r"lastUpdatedDate:\[(\d{12}) TO (\d{12})\]")
_CAT = re.compile(r"cat:([A-Za-z0-9.\-]+)")


@dataclass
class Fault:
    """One injected fault. kind: status | delay | truncate | garbage | empty | short | drop."""

    kind: str
    status: int = 503
    headers: dict = field(default_factory=dict)
    seconds: float = 0.0
    keep: int = 0
    send_body: bool = False  # status faults: send the real document with the error status


class FakeArxiv:
    """State of the fake server: papers, queued faults, a request log, an optional stall."""

    def __init__(self, oai_page_size: int = 3) -> None:
        self.papers: dict[str, FakePaper] = {}
        self.faults: deque[Fault] = deque()
        self.log: list[tuple[float, str, dict]] = []  # (monotonic time, path, params)
        self.user_agents: list[str] = []
        self.oai_page_size = oai_page_size
        self.stall_at: int | None = None  # request number (1-based) that blocks until released
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.pdfs: dict[str, tuple[bytes, str]] = {}  # id -> (body, content type) at /pdf/ID

    # ---- fixture management ----

    def add(self, *papers: FakePaper) -> None:
        with self.lock:
            for p in papers:
                self.papers[p.id] = p

    def revise(self, pid: str, updated: datetime, **changes) -> None:
        """Publish a new version of a paper."""
        with self.lock:
            p = self.papers[pid]
            p.version += 1
            p.updated = updated
            for key, value in changes.items():
                setattr(p, key, value)

    def fault(self, kind: str, **kwargs) -> None:
        self.faults.append(Fault(kind, **kwargs))

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def pdf_requests(self) -> list[str]:
        """The ids asked for at /pdf/, in order."""
        return [path.removeprefix("/pdf/") for _, path, _ in self.log if path.startswith("/pdf/")]

    def api_requests(self) -> list[dict]:
        return [params for _, path, params in self.log if path == "/api/query"]

    # ---- query evaluation ----

    def select(self, query: str) -> list[FakePaper]:
        cats = set(_CAT.findall(query))
        window = _WINDOW.search(query)
        with self.lock:
            found = [p for p in self.papers.values() if not cats or cats & set(p.categories)]
        if window:
            lo, hi = (
                datetime.strptime(x, "%Y%m%d%H%M").replace(tzinfo=UTC) for x in window.groups()
            )
            found = [p for p in found if lo <= p.updated.replace(second=0, microsecond=0) <= hi]
        return sorted(found, key=lambda p: (p.updated, p.id), reverse=True)

    def atom(self, params: dict) -> str:
        query = params.get("search_query", "")
        start = int(params.get("start", 0))
        size = int(params.get("max_results", 10))
        matches = self.select(query)
        head = ATOM_HEAD.format(
            query=escape(query), start=start, size=size, total=len(matches),
            now=ts(datetime.now(UTC)),
        )  # fmt: skip
        body = "".join(atom_entry(p) for p in matches[start : start + size])
        return head + body + "</feed>\n"

    def oai(self, params: dict) -> str:
        problem = _oai_bad_request(params)
        if problem:
            return _oai_error(*problem)
        token = params.get("resumptionToken")
        if token:
            match = re.fullmatch(r"(\d+)\|(.*)\|(.*)", token)
            if not match:
                return _oai_error("badResumptionToken", "The value of the resumptionToken is bad")
            offset, from_date, set_spec = int(match.group(1)), match.group(2), match.group(3)
        else:
            offset, from_date, set_spec = 0, params.get("from", ""), params.get("set", "")
        with self.lock:
            found = sorted(self.papers.values(), key=lambda p: p.id)
        if from_date:
            found = [p for p in found if f"{p.updated:%Y-%m-%d}" >= from_date]
        if set_spec:
            found = [p for p in found if any(in_oai_set(c, set_spec) for c in p.categories)]
        if not found:
            return _oai_error(
                "noRecordsMatch", "The combination of the values results in an empty list."
            )
        page = found[offset : offset + self.oai_page_size]
        nxt = offset + len(page)
        attrs = f'cursor="{offset}" completeListSize="{len(found)}"'
        if nxt < len(found):
            resumption = f"<resumptionToken {attrs}>{nxt}|{from_date}|{set_spec}</resumptionToken>"
        else:
            resumption = f"<resumptionToken {attrs}/>"
        records = "\n".join(oai_record(p) for p in page)
        return _oai_wrap(f"<ListRecords>\n{records}\n{resumption}\n</ListRecords>")

    # ---- lifecycle ----

    def start(self) -> FakeArxiv:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        # a short poll interval: shutdown() waits for it, once per test
        serve = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        serve.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def _oai_wrap(inner: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/ '
        'http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n'
        f"<responseDate>{ts(datetime.now(UTC))}</responseDate>\n"
        '<request verb="ListRecords">http://export.arxiv.org/oai2</request>\n'
        f"{inner}\n</OAI-PMH>\n"
    )


def _oai_bad_request(params: dict) -> tuple[str, str] | None:
    """The (code, message) an OAI-PMH provider answers a malformed ListRecords with, if any."""
    if params.get("verb") != "ListRecords":
        return "badVerb", "Illegal verb (only ListRecords is served here)"
    args = set(params) - {"verb"}
    if "resumptionToken" in params:
        if args != {"resumptionToken"}:
            return "badArgument", "resumptionToken is an exclusive argument"
        return None
    if args - {"metadataPrefix", "from", "set"}:  # no `until`: this server does not filter by it
        return "badArgument", f"Illegal arguments: {sorted(args)}"
    if "metadataPrefix" not in params:
        return "badArgument", "metadataPrefix is required"
    if params["metadataPrefix"] != "arXiv":
        return "cannotDisseminateFormat", "Only the arXiv format is served here"
    try:
        datetime.strptime(params.get("from", "2000-01-01"), "%Y-%m-%d")
    except ValueError:
        return "badArgument", "from must be YYYY-MM-DD"
    return None


def _oai_error(code: str, text: str) -> str:
    return _oai_wrap(f"<error code={quoteattr(code)}>{escape(text)}</error>")


def _handler(state: FakeArxiv):
    class Handler(BaseHTTPRequestHandler):
        # headers and body leave in two writes: without TCP_NODELAY each answer waits ~40 ms
        # for the client's delayed ACK
        disable_nagle_algorithm = True

        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            with state.lock:
                state.log.append((time.monotonic(), parts.path, params))
                state.user_agents.append(self.headers.get("User-Agent", ""))
                number = len(state.log)
                fault = state.faults.popleft() if state.faults else None
            if state.stall_at == number:
                state.stalled.set()
                state.release.wait(30)
            if parts.path == "/api/query":
                body, ctype = state.atom(params), "application/atom+xml; charset=utf-8"
            elif parts.path == "/oai":
                body, ctype = state.oai(params), "text/xml; charset=utf-8"
            elif parts.path.removeprefix("/pdf/") in state.pdfs:
                body, ctype = state.pdfs[parts.path.removeprefix("/pdf/")]
            else:
                return self.reply(404, "not found", "text/plain")
            if fault is None:
                return self.reply(200, body, ctype)
            self.apply(fault, body, ctype)

        def apply(self, fault: Fault, body: str, ctype: str) -> None:
            if fault.kind == "status":
                if fault.send_body:
                    return self.reply(fault.status, body, ctype, fault.headers)
                return self.reply(fault.status, "Service Unavailable", "text/plain", fault.headers)
            if fault.kind == "delay":
                time.sleep(fault.seconds)
                return self.reply(200, body, ctype)
            if fault.kind == "truncate":
                return self.reply(200, body[: len(body) // 2], ctype)
            if fault.kind == "garbage":
                return self.reply(200, "<html><body>Bad gateway</body></html>", "text/html")
            if fault.kind in ("empty", "short"):
                keep = 0 if fault.kind == "empty" else fault.keep
                head, _, rest = body.partition("  <entry>")
                entries = ("  <entry>" + rest).split("  <entry>")[1:] if rest else []
                kept = "".join("  <entry>" + e for e in entries[:keep]).replace("</feed>\n", "")
                return self.reply(200, head + kept + "</feed>\n", ctype)
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            raise ValueError(fault.kind)

        def reply(
            self, status: int, body: str | bytes, ctype: str, headers: dict | None = None
        ) -> None:
            data = body if isinstance(body, bytes) else body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test) or was killed

    return Handler


TOPICS = [
    ("graph neural networks", "message passing over molecules and citation graphs", "cs.LG"),
    ("diffusion models", "denoising score matching for image generation", "cs.CV"),
    ("robot manipulation", "grasping policies learned with reinforcement learning", "cs.RO"),
    ("language models", "instruction tuning and evaluation of large language models", "cs.CL"),
    ("bandit algorithms", "regret bounds for contextual exploration", "stat.ML"),
]


def topical_fake_papers(n: int, newest: datetime, first: int = 1) -> list[FakePaper]:
    """n papers on five distinct topics (enough for a feature build), 37 minutes apart."""
    papers = []
    for i in range(first - 1, first - 1 + n):
        when = newest - timedelta(minutes=37 * (i - first + 1))
        name, detail, category = TOPICS[i % len(TOPICS)]
        papers.append(
            FakePaper(
                id=f"{when:%y%m}.{i + 1:05d}",
                title=f"Synthetic paper {i + 1} on {name}: a study of $k$-NN & <sparse> cases",
                abstract=f"We study {name}: {detail}. Variant {i + 1} with careful baselines.",
                authors=[f"Author {i % 37}", "Émilie du Châtelet"],
                categories=[category, "cs.AI"] if i % 3 else [category],
                published=when,
            )
        )
    return papers


def main() -> None:
    """Serve N synthetic papers for manual trials: python -m tests.arxiv_server --port 8080."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--papers", type=int, default=300)
    args = parser.parse_args()
    server = FakeArxiv()
    server.add(*topical_fake_papers(args.papers, datetime.now(UTC).replace(microsecond=0)))
    server.server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(server))
    print(f"fake arXiv with {args.papers} papers on {server.url}/api/query", flush=True)
    server.server.serve_forever()


if __name__ == "__main__":
    main()
