"""BibTeX entries for papers: citation keys, LaTeX-safe fields. Pure: no Flask, no database.

Field text follows how arXiv metadata is written, i.e. as LaTeX source:
- accent commands (`\\'e`, `{\\"o}`, `\\c{c}`, `\\ss`) become the Unicode letters they stand for;
- escaped specials (`\\&`, `\\%`, `\\$`, `\\_`, `\\#`) are read as the plain characters;
- in titles, a `$...$` span is math and is kept verbatim (so `$\\alpha$` still renders as alpha)
  when its braces balance and it holds no `%` or `#`; a lone or unsafe `$` is a literal dollar;
- everything else is escaped: `& % $ # _` get a backslash, `{ } ~ ^ \\` become `\\textbraceleft{}`,
  `\\textbraceright{}`, `\\textasciitilde{}`, `\\textasciicircum{}`, `\\textbackslash{}`. (BibTeX
  counts braces even after a backslash, so `\\{` would unbalance the entry.)
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol

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
_FORMATTING = re.compile(r"\\(?:emph|textit|textbf|textsl|textsc|texttt|textrm|textsf)\{([^{}]*)\}")
_ESCAPED = re.compile(r"\\([&%$#_{}])")
_MATH = re.compile(r"(?<!\\)\$([^$]+)(?<!\\)\$")

_SPECIAL = {
    "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\textbraceleft{}", "}": r"\textbraceright{}", "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
}  # fmt: skip
_SPECIAL_RE = re.compile(r"[&%$#_{}~^\\]")

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


def _escape_plain(text: str) -> str:
    text = _FORMATTING.sub(r"\1", detex(text))
    text = _ESCAPED.sub(r"\1", text)
    return _SPECIAL_RE.sub(lambda m: _SPECIAL[m.group(0)], text)


def _safe_math(body: str) -> bool:
    depth = 0
    for i, c in enumerate(body):
        escaped = i > 0 and body[i - 1] == "\\"
        if c in "%#" and not escaped:
            return False
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def latex_escape(text: str | None, math: bool = False) -> str:
    """A field value safe inside `{...}`; with math=True, safe `$...$` spans stay verbatim."""
    text = " ".join((text or "").split())
    if not math:
        return _escape_plain(text)
    out, pos = [], 0
    for m in _MATH.finditer(text):
        if not _safe_math(m.group(1)):
            continue
        out.append(_escape_plain(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


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
        name = latex_escape(str(author))
        # A name holding the word "and" (an institution) would be split by BibTeX: protect it.
        names.append("{" + name + "}" if re.search(r"\band\b", name, re.IGNORECASE) else name)
    return " and ".join(names)


def _verbatim(value: str) -> str:
    """URL-like fields (DOI, id, URL) go as they are, minus what could break the entry."""
    return re.sub(r"[{}\\\s]", "", value)


def entry(paper: Citable, key: str) -> str:
    """One entry: @article when the paper has a journal reference, @misc otherwise."""
    fields = [
        ("title", latex_escape(paper.title, math=True)),
        ("author", _author_field(list(paper.authors or []))),
        ("year", str(paper.published.year)),
        ("eprint", _verbatim(paper.id)),
        ("archivePrefix", "arXiv"),
        ("primaryClass", latex_escape(paper.primary_category)),
    ]
    if paper.journal_ref:
        fields.append(("journal", latex_escape(paper.journal_ref)))
    if paper.doi:
        fields.append(("doi", _verbatim(paper.doi)))
    fields.append(("url", f"https://arxiv.org/abs/{_verbatim(paper.id)}"))
    kind = "article" if paper.journal_ref else "misc"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def entries(papers: Iterable[Citable]) -> str:
    """A .bib document for the papers, in order, with keys unique within it."""
    papers = list(papers)
    return "\n".join(entry(p, k) for p, k in zip(papers, citation_keys(papers), strict=True))
