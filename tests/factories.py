"""Small factories for papers and fake arXiv fixtures."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import count

from sanity.arxiv import PaperRecord
from sanity.db import db
from sanity.ingest.render import render_strip
from sanity.ingest.thumbnails import MAX_IMAGE_BYTES, record, thumb_path, write_atomically
from sanity.ingest.upsert import upsert_papers
from tests.arxiv_server import FakePaper
from tests.pdfs import text_pdf

_ids = count(1)
BASE_TIME = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_record(**overrides) -> PaperRecord:
    """A parsed paper record with sensible defaults."""
    n = next(_ids)
    when = overrides.pop("when", BASE_TIME + timedelta(minutes=n))
    values = dict(
        id=f"2603.{n:05d}",
        version=1,
        title=f"Paper {n}",
        abstract=f"Abstract of paper {n} about transformers.",
        authors=["Ada Lovelace", "Alan Turing"],
        categories=["cs.LG", "stat.ML"],
        published=when,
        updated=when,
    )
    values.update(overrides)
    return PaperRecord(**values)


def make_paper(**overrides):
    """Insert one paper into the database and return its record."""
    record = make_record(**overrides)
    upsert_papers([record])
    db.session.commit()
    return record


def make_strip(pid: str, pages: int = 4):
    """A real first-pages strip for a stored paper (rendered from a generated PDF), stored as
    `sanity thumbnails` stores one; returns it."""
    strip = render_strip(text_pdf(pages=pages), pages, 200, MAX_IMAGE_BYTES)
    write_atomically(thumb_path(pid), strip.data)
    record(pid, "ok", strip=strip)
    return strip


def fake_papers(n: int, start: datetime = BASE_TIME, step_minutes: int = 7, prefix: str = "2603"):
    """n fake arXiv papers, the i-th updated step_minutes after the previous one."""
    out = []
    for i in range(n):
        when = start + timedelta(minutes=step_minutes * i)
        out.append(
            FakePaper(
                id=f"{prefix}.{i + 1:05d}",
                title=f"Fake paper {i + 1} on $\\alpha$-divergences & <graphs>",
                abstract=f"We study   problem {i + 1}\n  with care.",
                authors=[f"Author {i + 1}", "Émilie du Châtelet"],
                categories=["cs.LG", "stat.ML"] if i % 2 else ["cs.CV"],
                published=when,
            )
        )
    return out


MATH_TITLE = "Bounds for $\\ell_p$ norms of $\\mathcal{O}(n^{-1/2})$ sketches"
MATH_ABSTRACT = (
    "We show that for $p \\ge 1$ and $x\\in\\mathbb{R}^n$, $$\\|Sx\\|_p \\le \\left(1+"
    "\\frac{C\\log(1/\\delta)}{\\sqrt{m}}\\right)\\|x\\|_p + \\sum_{i=1}^{n}\\frac{|x_i|}"
    "{i^{2}}\\,\\mathrm{d}\\mu(i)$$ with probability $1-\\delta$; it costs \\$5."
)

TOPICS = {
    "graphs": "graph neural networks message passing node embeddings molecules",
    "diffusion": "diffusion models denoising score matching image generation sampling",
    "robots": "robot manipulation grasping policy learning reinforcement control",
}


def topical_papers(
    per_topic: int = 8, start: datetime = BASE_TIME, own_authors: bool = False
) -> dict[str, list[str]]:
    """Insert papers on three distinct topics; return the ids per topic. Every paper has the
    same two authors, or with `own_authors` one of its own ("Author n")."""
    out: dict[str, list[str]] = {t: [] for t in TOPICS}
    n = 0
    for i in range(per_topic):
        for topic, words in TOPICS.items():
            n += 1
            vocab = words.split()
            title = f"{vocab[i % len(vocab)].title()} {vocab[(i + 3) % len(vocab)]} study {n}"
            abstract = f"We study {words} with {vocab[i % len(vocab)]} in setting {n}."
            record = make_paper(
                title=title,
                abstract=abstract,
                when=start + timedelta(hours=n),
                categories=["cs.RO"] if topic == "robots" else ["cs.LG"],
                **({"authors": [f"Author {n}"]} if own_authors else {}),
            )
            out[topic].append(record.id)
    return out


def csrf_from(html: str) -> str:
    """The CSRF token of a rendered form or page."""
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def register(client, username: str = "alice", password: str = "correct horse") -> str:
    """Sign up through the form (which logs in); returns a CSRF token for later writes."""
    token = csrf_from(client.get("/register").get_data(as_text=True))
    response = client.post(
        "/register",
        data={"csrf_token": token, "username": username, "password": password,
              "password2": password},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    # Logging in replaces the CSRF secret: the token from before the login no longer works.
    return csrf_from(client.get("/profile").get_data(as_text=True))


def random_corpus(n: int, seed: int = 3, first: int = 0) -> list[str]:
    """n papers of varied random text (a vocabulary of 6,000 words), committed."""
    rng = random.Random(seed)
    words = [f"w{rng.randrange(36**4):x}{i}" for i in range(6000)]
    records = []
    for i in range(n):
        text = " ".join(rng.choices(words, k=120))
        title = " ".join(rng.choices(words, k=8))
        when = BASE_TIME + timedelta(minutes=i)
        records.append(
            make_record(id=f"2605.{first + i:05d}", title=title, abstract=text, when=when)
        )
    for start in range(0, n, 2000):
        upsert_papers(records[start : start + 2000])
        db.session.commit()
    return [r.id for r in records]
