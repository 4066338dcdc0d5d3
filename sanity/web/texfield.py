"""BibTeX field values from arXiv metadata, which is LaTeX source with some Unicode. Pure.

What a value keeps and what it changes:
- commands (`\\textsubscript{2}`, `\\emph{...}`, accents such as `\\'a`), groups (`{2}`), ties (`~`)
  and math (`$...$`; `$$...$$` becomes `$...$`) are kept as written;
- non-ASCII characters become LaTeX (pylatexenc: `é` -> `{\\'e}`, `α` -> `{\\ensuremath{\\alpha}}`);
  the few without a LaTeX form stay as UTF-8;
- plain-text specials are escaped (`& % # _` get a backslash, `^` is `\\textasciicircum{}`, a `$`
  without a partner is `\\$`); in math `& % #` are escaped and `_ ^` kept. `\\{` and `\\}` become
  `\\textbraceleft{}` / `\\textbraceright{}` (`\\lbrace` / `\\rbrace` in math), since BibTeX counts
  every brace, escaped or not;
- a line break `\\\\` is a space in text (`\\\\ ` in math: parsers read `\\\\}` as `\\}`);
- braces always balance: a `}` closing nothing is dropped, an unclosed `{` is closed at the end of
  its math span or of the value;
- commands that read or write files, run programs or (re)define things (`\\input`,
  `\\write18`, `\\def`, `\\catcode`, `\\csname`, ... see DANGEROUS) are neutralised in text and
  math alike: written out as `\\textbackslash{}input` (`\\backslash{}input` in math), so they
  show but never run; `^^` (TeX's character-code escape, which could spell a command) is broken
  up as `^{}^`;
- titles get case protection (protect_case): acronyms and mixed-case words (`{RNN}`, `{LLMs}`,
  `{GaN}`) and, in sentence-case titles, capitalised words after the first (`{Transformer}`) are
  braced, so bibliography styles that lowercase titles leave them alone.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from pylatexenc.latexencode import UnicodeToLatexEncoder

DANGEROUS = frozenset(
    """input include includeonly InputIfFileExists IfFileExists import subimport inputminted
    lstinputlisting verbatiminput includegraphics includepdf write immediate openout openin read
    readline closein closeout newread newwrite csname endcsname catcode lccode uccode mathcode
    sfcode delcode def edef gdef xdef let futurelet global long outer protected newcommand
    renewcommand providecommand DeclareRobustCommand NewDocumentCommand RenewDocumentCommand
    ProvideDocumentCommand DeclareDocumentCommand NewExpandableDocumentCommand newenvironment
    renewenvironment NewDocumentEnvironment usepackage RequirePackage documentclass LoadClass
    special pdfliteral pdfobj pdfprimitive primitive directlua latelua luaexec luadirect
    ShellEscape pdfshellescape scantokens everyjob everypar everymath everydisplay everyhbox
    everyvbox everycr everyeof afterassignment aftergroup expandafter output message errmessage
    errhelp typeout typein show showthe showbox showlists end endinput dump bye batchmode
    nonstopmode scrollmode errorstopmode makeatletter makeatother ExplSyntaxOn ExplSyntaxOff
    begin jobname setbox shipout""".split()
)
_ASSIGNMENT = re.compile(r"def$")  # \chardef, \countdef, \toksdef, ... all assign

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\\$|\$|[{}]|[^\\${}]+", re.S)
_TEXT_SPECIAL = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "^": r"\textasciicircum{}"}
_MATH_SPECIAL = {"&": r"\&", "%": r"\%", "#": r"\#"}
_TEXT_TABLE = str.maketrans(_TEXT_SPECIAL)
_MATH_TABLE = str.maketrans(_MATH_SPECIAL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENSUREMATH = re.compile(r"\{\\ensuremath\{(\\[A-Za-z]+)\}\}")
_ENCODER = UnicodeToLatexEncoder(
    non_ascii_only=True,
    replacement_latex_protection="braces-all",
    unknown_char_policy="keep",
    unknown_char_warning=False,
)

# Accent commands, which may sit inside a word: \'e, \"{o}, \c c, \v{s}, \ss, {\'E}.
_ACCENT = (
    r"\\[`'^\"~=.]\s*(?:\{\\?[A-Za-z]\}|\\?[A-Za-z])"
    r"|\\[uvHckrdb](?:\s*\{\\?[A-Za-z]\}|\s+[A-Za-z])"
    r"|\\(?:ss|aa|AA|ae|AE|oe|OE|o|O|l|L|i|j)(?![A-Za-z])"
)
_WORD = re.compile(rf"(?:[^\W_]|\{{(?:{_ACCENT})\}}|{_ACCENT})+")
_TRAILING_SPACE = re.compile(r"(?<!\\) +$")
_NOT_LETTERS = re.compile(r"\\(?:[A-Za-z](?![A-Za-z])\s*|[^A-Za-z])|[{}\s]")
_SCAN = re.compile(
    r"(?P<math>(?<!\\)\$\$?(?:\\.|[^$\\])*\$?\$)"
    rf"|(?P<word>{_WORD.pattern})"
    r"|\\(?:[A-Za-z]+|.?)|(?P<open>\{)|[^\w\\${]+|.",
    re.S,
)


def _dangerous(name: str) -> bool:
    return name in DANGEROUS or bool(_ASSIGNMENT.search(name))


@functools.lru_cache(maxsize=4096)
def _latex_char(char: str, math: bool) -> str:
    latex = _ENCODER.unicode_to_latex(char)
    return _ENSUREMATH.sub(r"{\1}", latex) if math else latex


def _encode(text: str, math: bool) -> str:
    text = _CONTROL.sub("", text).translate(_MATH_TABLE if math else _TEXT_TABLE)
    if text.isascii():
        return text
    text = unicodedata.normalize("NFC", text)
    return "".join(c if c.isascii() else _latex_char(c, math) for c in text)


def _command(token: str, math: bool) -> str:
    """A control word or symbol as written, unless it must be neutralised."""
    if token == "\\":  # a trailing backslash
        return r"\backslash{}" if math else r"\textbackslash{}"
    if token == "\\\\":  # a line break: a space in text; in math a row end, kept off any brace
        return "\\\\ " if math else " "
    if token in ("\\{", "\\}"):
        if math:
            return r"\lbrace " if token == "\\{" else r"\rbrace "
        return r"\textbraceleft{}" if token == "\\{" else r"\textbraceright{}"
    name = token[1:]
    if name.isalpha() and _dangerous(name):
        return (r"\backslash{}" if math else r"\textbackslash{}") + name
    return token


def _math_spans(tokens: list[str]) -> list[tuple[bool, list[str]]]:
    """Split tokens into (is_math, tokens) runs; `$` without a partner is text."""
    runs: list[tuple[bool, list[str]]] = []
    text: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        if tokens[i] == "$":
            width = 2 if i + 1 < n and tokens[i + 1] == "$" else 1
            j = i + width
            while j < n and tokens[j : j + width] != ["$"] * width:
                j += 1
            if j < n and j > i + width:
                runs.append((False, text))
                runs.append((True, tokens[i + width : j]))
                text = []
                i = j + width
                continue
            text.extend(["\\$"] * width)
            i += width
            continue
        text.append(tokens[i])
        i += 1
    runs.append((False, text))
    return runs


def _convert(tokens: list[str], math: bool, depth: int) -> tuple[str, int]:
    """LaTeX for one run of tokens, and the brace depth left open at its end."""
    out = []
    for token in tokens:
        if token == "{":
            depth += 1
            out.append(token)
        elif token == "}":
            if depth > 0:  # otherwise a stray brace: dropped
                depth -= 1
                out.append(token)
        elif token.startswith("\\"):
            out.append(_command(token, math))
        elif token == "$":
            out.append("\\$")
        else:
            out.append(_encode(token, math))
    return "".join(out), depth


def _no_caret_escapes(text: str) -> str:
    while "^^" in text:
        text = text.replace("^^", "^{}^")
    return text


def latex_field(text: str | None) -> str:
    """The LaTeX for a field's value, to go between the braces of `name = {...}`."""
    text = " ".join((text or "").split())
    out, depth = [], 0
    for math, tokens in _math_spans(_TOKEN.findall(text)):
        if math:
            body, left = _convert(tokens, True, 0)
            out.append("$" + body + "}" * left + "$")
        else:
            body, depth = _convert(tokens, False, depth)
            out.append(body)
    value = _no_caret_escapes("".join(out) + "}" * depth)
    return _TRAILING_SPACE.sub("", value)  # e.g. from a final line break; `\\ ` stays


def _words(text: str) -> list[re.Match]:
    """Words at the top level of the text: not in math, not in a group, not a command name."""
    words, pos, n = [], 0, len(text)
    while pos < n:
        m = _SCAN.match(text, pos)
        if m.lastgroup == "open":
            pos = _group_end(text, pos)
            continue
        if m.lastgroup == "word":
            words.append(m)
        pos = m.end()
    return words


def _group_end(text: str, pos: int) -> int:
    depth = 0
    while pos < len(text):
        c = text[pos]
        if c == "\\":
            pos += 2
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        pos += 1
        if depth == 0:
            break
    return pos


def _plain(word: str) -> str:
    """A word's letters with accent commands dropped (\\'Etude -> Etude), to judge its case."""
    return _NOT_LETTERS.sub("", word)


def _sentence_case(words: list[str]) -> bool:
    """Most longer words after the first are lowercase (so a capital marks a proper noun)."""
    longer = [w for w in words[1:] if len(w) > 3 and w.isalpha()]
    lower = sum(w.islower() for w in longer)
    return bool(longer) and lower * 2 > len(longer)


def protect_case(title: str) -> str:
    """The title with words braced whose capitals a bibliography style must not lowercase."""
    words = _words(title)
    plain = [_plain(w.group(0)) for w in words]
    sentence = _sentence_case(plain)
    out, pos = [], 0
    for i, (match, letters) in enumerate(zip(words, plain, strict=True)):
        acronym = any(c.isupper() for c in letters[1:])
        proper = sentence and i > 0 and letters[:1].isupper()
        if acronym or proper:
            word = match.group(0)
            # `{\'E...}` would be a BibTeX "special character", lowercased anyway: `{{}\'E...}`.
            opening = "{{}" if word.startswith("\\") else "{"
            out.append(title[pos : match.start()] + opening + word + "}")
            pos = match.end()
    out.append(title[pos:])
    return "".join(out)


def title_field(title: str | None) -> str:
    """A title's value: case protected, then made LaTeX-safe."""
    return latex_field(protect_case(" ".join((title or "").split())))
