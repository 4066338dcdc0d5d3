"""What the JSON API answers, declared for the OpenAPI document.

The views build these shapes themselves (sanity.papers.paper_dict and friends); the schemas
document them and are not used to serialise lists on the hot path.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from sanity.accounts.library import VERSION as LIBRARY_VERSION
from sanity.accounts.tags import MAX_TAG_LENGTH
from sanity.web.fields import CATEGORY_PATTERN, ID_PATTERN, NOT_BLANK, TAG_PATTERN

NULLABLE_TEXT = {"allow_none": True, "required": True}


class Error(Schema):
    """Every error: a 4xx/5xx status with a message naming the problem."""

    error = fields.String(required=True, metadata={"description": "what went wrong"})


class Paper(Schema):
    """A paper (the version-less arXiv id is its key)."""

    id = fields.String(required=True, metadata={"examples": ["2401.01234", "hep-th/9901001"]})
    version = fields.Integer(required=True, allow_none=True)
    title = fields.String(required=True)
    abstract = fields.String(required=True)
    authors = fields.List(fields.String(), required=True)
    categories = fields.List(
        fields.String(), required=True, metadata={"description": "primary first"}
    )
    published = fields.DateTime(required=True, metadata={"description": "first version (v1)"})
    updated = fields.DateTime(required=True, metadata={"description": "this version"})
    url = fields.String(required=True, metadata={"description": "the abstract page"})
    pdf_url = fields.String(required=True)
    comment = fields.String(**NULLABLE_TEXT)
    journal_ref = fields.String(**NULLABLE_TEXT)
    doi = fields.String(**NULLABLE_TEXT)
    license = fields.String(**NULLABLE_TEXT)
    score = fields.Float(metadata={"description": "where ranked: higher is better"})
    count = fields.Integer(
        metadata={"description": "sort=popular: how many of this instance's users tagged it"}
    )


class Word(Schema):
    """A word of a TF-IDF/SVM model with its weight (negative: "less of this")."""

    word = fields.String(required=True)
    weight = fields.Float(required=True)


class PaperList(Schema):
    """A page of papers; `words` explains a recommendation model."""

    papers = fields.List(fields.Nested(Paper), required=True)
    total = fields.Integer(required=True, metadata={"description": "may be capped for searches"})
    page = fields.Integer(required=True)
    words = fields.List(
        fields.Nested(Word),
        metadata={"description": "strongest positive first, then the strongest negative"},
    )


class Tags(Schema):
    """A user's tags: paper ids per tag name, positive and "not interested"."""

    tags = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)
    negative = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)


class SavedSearch(Schema):
    """A saved search; `new` counts its matches since it was last marked seen."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    q = fields.String(required=True)
    category = fields.String(**NULLABLE_TEXT)
    created = fields.DateTime(required=True)
    seen = fields.DateTime(required=True)
    new = fields.Integer()


class SavedSearches(Schema):
    searches = fields.List(fields.Nested(SavedSearch), required=True)


class Crawl(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    time = fields.DateTime(required=True, allow_none=True)
    started = fields.DateTime(required=True, allow_none=True)
    finished = fields.DateTime(required=True, allow_none=True)
    status = fields.String(required=True)
    new = fields.Integer(required=True, allow_none=True)
    new_papers = fields.Integer(required=True, allow_none=True)
    updated = fields.Integer(required=True, allow_none=True)
    pages = fields.Integer(required=True, allow_none=True)
    requests = fields.Integer(required=True, allow_none=True)
    error = fields.String(**NULLABLE_TEXT)


class Stats(Schema):
    papers = fields.Integer(required=True)
    newest = fields.DateTime(required=True, allow_none=True)
    newest_paper = fields.Nested(Paper, required=True, allow_none=True)
    last_crawl = fields.Nested(Crawl, required=True, allow_none=True)
    embedded = fields.Integer(required=True, allow_none=True)


class Health(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})


class LibraryPaper(Schema):
    id = fields.String(required=True, metadata={"pattern": ID_PATTERN})
    added = fields.DateTime(allow_none=True)
    negative = fields.Boolean()


class LibrarySearch(Schema):
    name = fields.String(
        required=True, validate=validate.Length(max=100), metadata={"pattern": NOT_BLANK}
    )
    query = fields.String(
        required=True, validate=validate.Length(max=1000), metadata={"pattern": NOT_BLANK}
    )
    category = fields.String(allow_none=True, metadata={"pattern": CATEGORY_PATTERN})


class Library(Schema):
    """A user's whole library, as exported and as accepted back (papers may be bare ids)."""

    version = fields.Integer(required=True, validate=validate.Equal(LIBRARY_VERSION))
    user = fields.String()
    exported = fields.DateTime()
    tags = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Nested(LibraryPaper)),
        metadata={"propertyNames": {"pattern": TAG_PATTERN, "maxLength": MAX_TAG_LENGTH}},
    )
    saved_searches = fields.List(fields.Nested(LibrarySearch))


class Restored(Schema):
    """What an import changed (ids unknown to this database are listed in `skipped`)."""

    tags_created = fields.Integer(required=True)
    papers_added = fields.Integer(required=True)
    papers_updated = fields.Integer(required=True)
    papers_unchanged = fields.Integer(required=True)
    skipped = fields.List(fields.String(), required=True)
    saved_searches_created = fields.Integer(required=True)
    saved_searches_updated = fields.Integer(required=True)
    saved_searches_unchanged = fields.Integer(required=True)
