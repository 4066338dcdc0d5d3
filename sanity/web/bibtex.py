"""BibTeX entries for papers: citation keys and entries (written by bibtexparser 2). Pure: no
Flask, no database.

Keys are `{surname}{year}{first significant title word}` in lowercase ASCII (accent commands and
Unicode letters folded), with a, b, ... for keys shared within one export. Field values are the
metadata's LaTeX made safe to cite (sanity.web.texfield): commands, ties, math and braces kept,
Unicode as LaTeX, dangerous commands neutralised, titles case protected.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol

import bibtexparser
from bibtexparser.model import Entry, Field
from bibtexparser.writer import BibtexFormat

from sanity.latex import detex, fold
from sanity.web.texfield import latex_field, title_field

_MATH = re.compile(r"(?<!\\)\$([^$]+)(?<!\\)\$")

_FORMAT = BibtexFormat()
_FORMAT.indent = "  "
_FORMAT.block_separator = "\n"

STOP_WORDS = frozenset(
    "a an the on of for to towards toward in into at by with from and or as is are be do does "
    "can how what why when which who via vs versus we our your its it this that these those "
    "not no yet beyond about over under".split()
)
_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}


class Citable(Protocol):
    """What an entry needs of a paper (sanity.models.Paper has all of it)."""

    id: str
    title: str
    authors: list
    published: datetime
    primary_category: str
    journal_ref: str | None
    doi: str | None


def ascii_fold(text: str) -> str:
    """Lowercase ASCII letters and digits only: accents stripped, other characters dropped."""
    text = fold(detex(text))
    return re.sub(r"[^a-z0-9]", "", text.lower())


def surname(author: str) -> str:
    """The family name of "First Last", "Last, First", "First Last Jr." or "X Collaboration"."""
    name = author.strip()
    if "," in name:
        head, tail = (part.strip() for part in name.split(",", 1))
        if tail.lower() not in _SUFFIXES:
            return head
        name = head
    words = name.split()
    while len(words) > 1 and words[-1].lower() in _SUFFIXES:
        words.pop()
    if len(words) > 1 and words[-1].lower() == "collaboration":
        return words[0]
    return words[-1] if words else ""


def title_word(title: str) -> str:
    """The first word of a title that is not a stop word (math spans skipped), folded."""
    text = _MATH.sub(" ", detex(title or ""))
    for word in re.split(r"[\s\-/:;,.!?()\[\]{}'\"`]+", text):
        folded = ascii_fold(word)
        if folded and any(c.isalpha() for c in folded) and folded not in STOP_WORDS:
            return folded
    return ""


def base_key(paper: Citable) -> str:
    """`{surname}{year}{first significant title word}`, lowercase ASCII."""
    authors = list(paper.authors or [])
    name = ascii_fold(surname(str(authors[0]))) if authors else ""
    return (name or "arxiv") + str(paper.published.year) + title_word(paper.title)


def _suffixes() -> Iterator[str]:
    """a, b, ..., z, aa, ab, ..."""
    n = 0
    while True:
        n += 1
        s, k = "", n
        while k:
            k, r = divmod(k - 1, 26)
            s = chr(97 + r) + s
        yield s


def citation_keys(papers: Iterable[Citable]) -> list[str]:
    """One unique key per paper; keys shared by several papers get a, b, ... in order."""
    bases = [base_key(p) for p in papers]
    counts = Counter(bases)
    used = set(bases)
    keys = []
    suffixes: dict[str, Iterator[str]] = {}
    for key in bases:
        if counts[key] > 1:
            gen = suffixes.setdefault(key, _suffixes())
            candidate = key + next(gen)
            while candidate in used:
                candidate = key + next(gen)
            used.add(candidate)
            key = candidate
        keys.append(key)
    return keys


def _author_field(authors: list) -> str:
    names = []
    for author in authors:
        # Commas would make BibTeX read "Last, First" (affiliations hold some): braced.
        name = re.sub(r"(?<!\\),", "{,}", latex_field(str(author)))
        # A name holding the word "and" (an institution) would be split by BibTeX: protect it.
        names.append("{" + name + "}" if re.search(r"\band\b", name, re.IGNORECASE) else name)
    return " and ".join(names)


def _verbatim(value: str) -> str:
    """URL-like fields (DOI, id, URL) go as they are, minus what could break the entry."""
    return re.sub(r"[{}\\\s]", "", value)


def _entry(paper: Citable, key: str) -> Entry:
    """@article when the paper has a journal reference, @misc otherwise."""
    fields = [
        ("title", title_field(paper.title)),
        ("author", _author_field(list(paper.authors or []))),
        ("year", str(paper.published.year)),
        ("eprint", _verbatim(paper.id)),
        ("archivePrefix", "arXiv"),
        ("primaryClass", latex_field(paper.primary_category)),
    ]
    if paper.journal_ref:
        fields.append(("journal", latex_field(paper.journal_ref)))
    if paper.doi:
        fields.append(("doi", _verbatim(paper.doi)))
    fields.append(("url", f"https://arxiv.org/abs/{_verbatim(paper.id)}"))
    kind = "article" if paper.journal_ref else "misc"
    return Entry(kind, key, [Field(name, "{" + value + "}") for name, value in fields if value])


def _write(papers: list[Citable], keys: list[str]) -> str:
    library = bibtexparser.Library([_entry(p, k) for p, k in zip(papers, keys, strict=True)])
    return bibtexparser.write_string(library, unparse_stack=[], bibtex_format=_FORMAT)


def entries(papers: Iterable[Citable]) -> str:
    """A .bib document for the papers, in order, with keys unique within it."""
    papers = list(papers)
    return _write(papers, citation_keys(papers))
