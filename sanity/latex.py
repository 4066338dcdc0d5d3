"""LaTeX accents and special letters in names and titles, turned into Unicode and folded to
ASCII: one decoder for citation keys (`sanity.web.bibtex`) and author names
(`sanity.engine.authors`)."""

from __future__ import annotations

import re
import unicodedata

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


def fold(text: str) -> str:
    """Accents stripped and letters NFKD does not decompose spelled in ASCII (ø -> o, ß -> ss);
    other characters kept."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).translate(_FOLD)
