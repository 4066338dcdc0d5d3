"""BibTeX entries for papers: citation keys and entries (written by bibtexparser 2). Pure: no
Flask, no database.

Keys are `{surname}{year}{first significant title word}` in lowercase ASCII (accent commands and
Unicode letters folded), with a, b, ... for keys shared within one export. Field values are the
metadata's LaTeX made safe to cite (sanity.web.texfield): commands, ties, math and braces kept,
Unicode as LaTeX, dangerous commands neutralised, titles case protected.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol

import bibtexparser
from bibtexparser.model import Entry, Field
from bibtexparser.writer import BibtexFormat

from sanity.web.texfield import latex_field, title_field

# Accent commands written with a symbol (`\'e`) or a letter (`\c{c}`, `\v s`) -> combining mark.
_ACCENTS = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
    ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328",
    "r": "\u030a", "d": "\u0323", "b": "\u0331",
}  # fmt: skip
_LETTERS = {
    "ss": "ß", "aa": "å", "AA": "Å", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ",
    "o": "ø", "O": "Ø", "l": "ł", "L": "Ł", "i": "ı", "j": "ȷ",
}  # fmt: skip
# Letters NFKD does not decompose, for ASCII citation keys.
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
                       "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "þ": "th", "ı": "i",
                       "ȷ": "j"})  # fmt: skip
_BASE = r"(?:\{\s*(\\[ij]|[A-Za-z])\s*\}|(\\[ij](?![A-Za-z])|[A-Za-z]))"
_SYMBOL_ACCENT = re.compile(r"\\([`'^\"~=.])\s*" + _BASE)
_LETTER_ACCENT = re.compile(r"\\([uvHckrdb])(?:\s*\{\s*(\\[ij]|[A-Za-z])\s*\}|\s+([A-Za-z]))")
_LETTER = re.compile(r"\\(ss|aa|AA|ae|AE|oe|OE|o|O|l|L|i|j)(?:\{\}|\s+|(?![A-Za-z]))")
_BRACED_CHAR = re.compile(r"\{(\w)\}")
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


def _base(letter: str) -> str:
    return {"\\i": "i", "\\j": "j"}.get(letter, letter)


def detex(text: str) -> str:
    """Turn LaTeX accent and special-letter commands into Unicode (`Schr\\"odinger` -> ö)."""

    def symbol(m: re.Match) -> str:
        return _base(m.group(2) or m.group(3)) + _ACCENTS[m.group(1)]

    def letter_accent(m: re.Match) -> str:
        return _base(m.group(2) or m.group(3)) + _ACCENTS[m.group(1)]

    text = _SYMBOL_ACCENT.sub(symbol, text)
    text = _LETTER_ACCENT.sub(letter_accent, text)
    text = _LETTER.sub(lambda m: _LETTERS[m.group(1)], text)
    text = unicodedata.normalize("NFC", text)
    return _BRACED_CHAR.sub(r"\1", text)  # `{ö}` left over from `{\"o}`


def ascii_fold(text: str) -> str:
    """Lowercase ASCII letters and digits only: accents stripped, other characters dropped."""
    text = unicodedata.normalize("NFKD", detex(text))
    text = "".join(c for c in text if not unicodedata.combining(c)).translate(_FOLD)
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
