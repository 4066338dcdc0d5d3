"""What users type into a search box, parsed into plain words, phrases and an arXiv id.

Shared by the engine (which searches with it) and saved searches (which are checked with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sanity.arxiv import parse_id

MAX_TERMS = 32
_PHRASE = re.compile(r'"([^"]*)"')
WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CATEGORY = re.compile(r"^[a-z]+(?:-[a-z]+)?\.[A-Za-z]+(?:-[a-z]+)?$")


class QueryError(ValueError):
    """The query cannot be searched (empty or too long); the message says why."""


@dataclass
class Query:
    """A parsed query: words (all must match) and phrases (each must match in order)."""

    words: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    paper_id: str | None = None
    maybe_categories: list[str] = field(default_factory=list)  # tokens like cs.LG

    @property
    def empty(self) -> bool:
        return not self.words and not self.phrases


def parse_query(raw: str, max_length: int = 1000) -> Query:
    """Split user input into safe words and phrases; detect an arXiv id."""
    q = (raw or "").strip()
    if not q:
        raise QueryError("q is required")
    if len(q) > max_length:
        raise QueryError(f"q is too long (at most {max_length} characters)")
    query = Query()
    try:
        query.paper_id = parse_id(q)[0]
    except ValueError:
        pass
    for phrase in _PHRASE.findall(q):
        tokens = WORD.findall(phrase.lower())
        if len(tokens) > 1:
            query.phrases.append(tokens)
        elif tokens:
            query.words.append(tokens[0])
    rest = _PHRASE.sub(" ", q)
    for token in rest.split():
        if _CATEGORY.match(token):
            query.maybe_categories.append(token)
            continue
        parts = WORD.findall(token.lower())
        if len(parts) > 1:  # self-supervised, cs.LG: the parts in order
            query.phrases.append(parts)
        elif parts:
            query.words.append(parts[0])
    query.words = list(dict.fromkeys(query.words))[:MAX_TERMS]
    query.phrases = query.phrases[:MAX_TERMS]
    return query
