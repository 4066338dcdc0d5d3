"""Every request parameter, declared once: the schemas of the API, the paper list and the
feeds, built from the field types in sanity.web.fields. Each schema validates the request and
describes it in the OpenAPI document (sanity.web.declare); a bad value is a 400 whose message
names the parameter."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, pre_load, validate, validates_schema

from sanity.web.fields import (
    MAX_ID,
    MAX_PER_PAGE,
    MAX_TEXT,
    REQUIRED_IDS,
    ArxivId,
    Category,
    Days,
    DaysOrLatest,
    Flag,
    IdList,
    Int,
    JsonInt,
    Lower,
    TagName,
    TagNames,
    Text,
    cost,
    limit,
    page,
    per_page,
    range_of,
    search_words,
)


class ApiQuerySchema(Schema):
    """The API's query parameters, taken as sent: what the document says is what is accepted."""


class QuerySchema(Schema):
    """Query parameters of pages and feeds (HTML forms send blank fields): blank values count
    as absent, text is stripped."""

    @pre_load
    def blank_is_absent(self, data, **kwargs):
        out = {}
        for key in data:
            value = data[key]
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
            out[key] = value
        return out


class BodySchema(Schema):
    error_messages = {"type": "send a JSON object (see /api/openapi.json)"}

    class Meta:
        unknown = EXCLUDE  # other keys are ignored, as they always were


# ---- the JSON API ----

SORTS = ["time", "random", "popular"]


class PapersArgs(ApiQuerySchema):
    sort = Text(
        load_default="time",
        validate=validate.OneOf(SORTS, error="must be 'time', 'random' or 'popular'"),
        metadata={
            "description": "time: newest first; random; popular: most often tagged by this "
            "instance's users (each paper with its `count`), then newest"
        },
    )
    category = Category()
    days = Days()
    page = page()
    per_page = per_page()


MODES = ("words", "semantic")


class SearchArgs(ApiQuerySchema):
    q = search_words()
    mode = Lower(
        load_default="words",
        validate=validate.OneOf(MODES, error="must be 'words' or 'semantic'"),
        metadata={"description": "words: keyword relevance; semantic: by meaning (needs the "
                  "semantic layer, SEMANTIC_MODEL; a 400 when it is off)"},
    )  # fmt: skip
    category = Category()
    days = Days()
    page = page()
    per_page = per_page()


class SimilarArgs(ApiQuerySchema):
    limit = limit()
    days = Days()


class RecommendArgs(ApiQuerySchema):
    ids = IdList(load_default=list, metadata={"description": "papers you like (comma-separated)"})
    exclude = IdList(load_default=list, metadata={"description": "papers you do not like"})
    tags = TagNames(load_default=list)
    category = Category()
    days = Days()
    limit = limit()
    C = cost()
    include_tagged = Flag()


class IdsArgs(ApiQuerySchema):
    ids = IdList(required=True, error_messages={"required": REQUIRED_IDS})

    @validates_schema
    def some(self, data, **kwargs):
        if not data["ids"]:
            raise ValidationError(REQUIRED_IDS, "ids")


class NegativeArgs(ApiQuerySchema):
    negative = Flag(metadata={"description": "not interested (1/0, true/false, yes/no, on/off)"})


class PaperPath(Schema):
    pid = ArxivId(required=True)


class TagPath(Schema):
    name = TagName(required=True)


class AnyTagPath(Schema):
    name = TagName(allow_all=True, required=True)


class TagPaperPath(Schema):
    name = TagName(required=True)
    pid = ArxivId(required=True)


class SearchPath(Schema):
    search_id = Int(required=True, validate=range_of(1, MAX_ID))


class SimilarText(BodySchema):
    text = Text(
        required=True,
        validate=[
            validate.Length(min=1, error="is required"),
            validate.Length(max=MAX_TEXT, error=f"is too long (at most {MAX_TEXT} characters)"),
        ],
        error_messages={"required": "is required"},
        metadata={"description": "an abstract or any text"},
    )
    limit = JsonInt(load_default=25, validate=range_of(1, MAX_PER_PAGE))

    @validates_schema
    def not_blank(self, data, **kwargs):
        if not data["text"].strip():
            raise ValidationError("is required", "text")


class NewName(BodySchema):
    new_name = TagName(
        data_key="name",
        required=True,
        error_messages={"required": 'is required: send {{"name": "new name"}}'},
    )


class NewSearch(BodySchema):
    name = Text(
        allow_none=True,
        validate=validate.Length(max=100, error="has at most {max} characters"),
        metadata={"description": "default: the query"},
    )
    q = search_words()
    category = Category(allow_none=True)


# ---- pages and feeds ----

RANKS = ("time", "search", "similar", "tags", "random", "popular", "semantic")


class ListArgsSchema(QuerySchema):
    """The paper list's URL (sanity.web.list_args.ListArgs)."""

    q = search_words(required=False, load_default="")
    rank = Lower(validate=validate.OneOf(RANKS, error="must be one of: " + ", ".join(RANKS)))
    pid = ArxivId(load_default="")
    tags = TagNames(load_default=list)
    days = DaysOrLatest()
    category = Category(query=True, load_default="")
    page = page()
    hide = Flag()
    C = cost()


class TagPageArgs(QuerySchema):
    negative = Flag()
    page = page()


class FeedArgs(QuerySchema):
    days = Days()
