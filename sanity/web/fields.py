"""The field types of every request parameter (sanity.web.args composes them into schemas):
each checks a value, says what is wrong in words that follow the parameter's name, and carries
its limits into the OpenAPI document."""

from __future__ import annotations

from flask import current_app, has_app_context
from marshmallow import ValidationError, fields, validate

from config import Config
from sanity.accounts.tags import MAX_TAG_LENGTH, TagError, check_name
from sanity.arxiv import parse_id

MAX_PAGE = 100_000
MAX_PER_PAGE = 100
MAX_DAYS = 100_000  # one cap for the API, the list page and the feeds
MAX_IDS = 1000
MAX_TEXT = 20_000
MIN_C, MAX_C = 1e-4, 1e4
REQUIRED_IDS = "is required: comma-separated arXiv ids"
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
ID_PATTERN = (
    r"^(arXiv:)?(\d{4}\.\d{4,5}|[a-z][a-z-]*(\.[A-Za-z-]{2,})?/\d{7})(v\d+)?$"
)  # fmt: skip
# Python's whitespace (str.split, str.strip), spelled out: JSON Schema's \s is another set.
SPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_TAG_CHAR = r"[^/,\x00-\x1f\x7f-\x9f]"
TAG_PATTERN = rf"^{_TAG_CHAR}*[^/,{SPACE}\x00-\x1f\x7f-\x9f]{_TAG_CHAR}*$"  # not blank
CATEGORY_PATTERN = rf"^[^{SPACE}\x00]{{1,64}}$"
CATEGORY_QUERY_PATTERN = rf"^[{SPACE}]*([^{SPACE}\x00]{{1,64}})?[{SPACE}]*$"
NO_NUL = r"^[^\x00]*$"  # NUL is refused everywhere (sanity.web.errors.check_input)
NOT_BLANK = rf"^[^\x00]*[^{SPACE}\x00][^\x00]*$"
MAX_ID = 2**31 - 1  # the largest key of an INTEGER column (every id column is one)


def range_of(lo, hi) -> validate.Range:
    return validate.Range(lo, hi, error="must be between {min} and {max}")


class Text(fields.String):
    """A string; the document says NUL is not allowed (unless a field has its own pattern)."""

    default_error_messages = {"invalid": "must be a string", "required": "is required"}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.metadata.setdefault("pattern", NO_NUL)


class Int(fields.Integer):
    default_error_messages = {"invalid": "must be an integer", "required": "is required"}


class JsonInt(Int):
    """An integer in a JSON body: 5 or 5.0 (JSON Schema's integers), never "5" or true."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._deserialize(int(value), attr, data, **kwargs)


class Number(fields.Float):
    default_error_messages = {
        "invalid": "must be a number",
        "special": "must be a number",
        "required": "is required",
    }


class Flag(fields.Boolean):
    """A yes/no flag: 1/0, true/false, yes/no, on/off in any case; anything else is a 400."""

    default_error_messages = {"invalid": "must be one of 1/0, true/false, yes/no, on/off"}

    def __init__(self, **kwargs) -> None:
        super().__init__(truthy=set(TRUE), falsy=set(FALSE), load_default=False, **kwargs)
        self.metadata.setdefault("description", "1/0, true/false, yes/no or on/off")

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return super()._deserialize(value.lower(), attr, data, **kwargs)


class Days(Number):
    """A time window in days before now: positive, at most MAX_DAYS."""

    def __init__(self, **kwargs) -> None:
        lo, hi = 0, MAX_DAYS
        error = f"must be a positive number (at most {hi})"
        limits = validate.Range(lo, hi, min_inclusive=False, error=error)
        kwargs.setdefault("metadata", {}).update(exclusiveMinimum=lo)
        super().__init__(validate=limits, allow_nan=False, **kwargs)


class DaysOrLatest(Days):
    """Days, or `latest`: the latest announcement day (the list page's window menu)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.strip().lower() == "latest":
            return "latest"
        return super()._deserialize(value, attr, data, **kwargs)

    def _validate(self, value):
        if value != "latest":
            super()._validate(value)


class ArxivId(Text):
    """An arXiv id in any common form, normalised to the id without version."""

    default_error_messages = {"bad": ": not an arXiv id: {input}"}

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("metadata", {}).update(
            pattern=ID_PATTERN,
            description="an arXiv id: 2401.01234, 2401.01234v2, arXiv:2401.01234, "
            "hep-th/9901001 (abs and pdf URLs work too)",
        )
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parse_id(text)[0]
        except ValueError:
            raise self.make_error("bad", input=text[:80]) from None


class Pattern(validate.Regexp):
    """A regular expression the whole value must match (`$` alone lets a final newline by)."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class Lower(Text):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).lower()


class Many(fields.List):
    """`name=a,b` and `name=a&name=b` alike: items in order, each once."""

    is_multiple = True  # webargs hands over every repeated value

    def __init__(self, item: fields.Field, most: int, **kwargs) -> None:
        limit = validate.Length(max=most, error=f": at most {most}")
        super().__init__(item, validate=limit, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        values = value if isinstance(value, list) else [value]
        parts = [p.strip() for v in values if isinstance(v, str) for p in v.split(",")]
        items = super()._deserialize([p for p in parts if p], attr, data, **kwargs)
        return list(dict.fromkeys(items))


class IdList(Many):
    def __init__(self, **kwargs) -> None:
        super().__init__(ArxivId(), MAX_IDS, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as exc:  # name every bad id, not the first one's position
            found = exc.messages.values()  # type: ignore[union-attr]
            bad = [m.removeprefix(": not an arXiv id: ") for ms in found for m in ms]
            raise ValidationError(": not arXiv ids: " + ", ".join(bad[:20])) from None


class TagName(Text):
    """A tag's name: 1-64 characters, no '/', ',' or control characters, not `all`."""

    def __init__(self, allow_all: bool = False, **kwargs) -> None:
        self.allow_all = allow_all
        rule = "" if allow_all else ", not 'all'"
        kwargs.setdefault("metadata", {}).update(
            pattern=TAG_PATTERN,
            maxLength=MAX_TAG_LENGTH,
            description=f"a tag name (1-{MAX_TAG_LENGTH} characters, no '/', ','{rule})",
        )
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        name = super()._deserialize(value, attr, data, **kwargs)
        if len(name) > MAX_TAG_LENGTH:  # as sent, as the document says
            raise ValidationError(f": tag names have at most {MAX_TAG_LENGTH} characters")
        if self.allow_all and name == "all":
            return name
        try:
            check_name(name)
        except TagError as exc:
            raise ValidationError(f": {exc}") from None
        return name


class TagNames(Many):
    def __init__(self, **kwargs) -> None:
        error = f": names have at most {MAX_TAG_LENGTH} characters"
        item = Text(validate=validate.Length(1, MAX_TAG_LENGTH, error=error))
        super().__init__(item, 100, **kwargs)
        self.metadata["description"] = "tag names (or `all`), comma-separated or repeated"


class Category(Text):
    """An arXiv category. In a query string (`query=True`) the value is stripped first and a
    blank one counts as absent, which the documented pattern says too."""

    def __init__(self, query: bool = False, **kwargs) -> None:
        error = "must be an arXiv category such as cs.LG"
        documented = CATEGORY_QUERY_PATTERN if query else CATEGORY_PATTERN
        kwargs.setdefault("metadata", {}).update(pattern=documented)
        super().__init__(validate=Pattern(CATEGORY_PATTERN, error=error), **kwargs)


class QueryLength(validate.Length):
    """At most SEARCH_MAX_QUERY_LENGTH characters (read when checking, so config counts)."""

    def __init__(self) -> None:
        super().__init__(min=1, max=Config.SEARCH_MAX_QUERY_LENGTH)

    @property
    def max(self):
        if has_app_context():
            return int(current_app.config["SEARCH_MAX_QUERY_LENGTH"])
        return Config.SEARCH_MAX_QUERY_LENGTH

    @max.setter
    def max(self, value) -> None:
        pass

    def __call__(self, value: str) -> str:
        if not value.strip():
            raise ValidationError("is required")
        if len(value) > self.max:
            raise ValidationError(f"is too long (at most {self.max} characters)")
        return value


def search_words(required: bool = True, **kwargs) -> Text:
    """`q`: what to search for (words, "phrases", authors, an arXiv id)."""
    error_messages = {"required": "is required"}
    kwargs.setdefault("metadata", {}).update(pattern=NOT_BLANK)
    return Text(required=required, validate=QueryLength(), error_messages=error_messages, **kwargs)


def page() -> Int:
    return Int(load_default=1, validate=range_of(1, MAX_PAGE))


def per_page() -> Int:
    """Defaults to PAPERS_PER_PAGE (25)."""
    return Int(
        load_default=lambda: int(current_app.config["PAPERS_PER_PAGE"]),
        validate=range_of(1, MAX_PER_PAGE),
        metadata={"default": Config.PAPERS_PER_PAGE},
    )


def limit() -> Int:
    return Int(load_default=25, validate=range_of(1, MAX_PER_PAGE))


def cost() -> Number:
    """The SVM's C: smaller is smoother."""
    return Number(
        allow_nan=False,
        validate=validate.Range(MIN_C, MAX_C, error="must be between 0.0001 and 10000"),
        metadata={"description": "the SVM's regularisation C (default: the configured one)"},
    )
