"""The machine-readable description of the JSON API (OpenAPI 3.1), served at /api/openapi.json."""

from __future__ import annotations

PAPER = {
    "type": "object",
    "required": [
        "id",
        "version",
        "title",
        "abstract",
        "authors",
        "categories",
        "published",
        "updated",
        "url",
        "pdf_url",
    ],  # fmt: skip
    "properties": {
        "id": {"type": "string", "examples": ["2401.01234", "hep-th/9901001"]},
        "version": {"type": ["integer", "null"]},
        "title": {"type": "string"},
        "abstract": {"type": "string"},
        "authors": {"type": "array", "items": {"type": "string"}},
        "categories": {"type": "array", "items": {"type": "string"}},
        "published": {"type": "string", "format": "date-time"},
        "updated": {"type": "string", "format": "date-time"},
        "url": {"type": "string"},
        "pdf_url": {"type": "string"},
        "comment": {"type": ["string", "null"]},
        "journal_ref": {"type": ["string", "null"]},
        "doi": {"type": ["string", "null"]},
        "license": {"type": ["string", "null"]},
        "score": {"type": "number"},
    },
}
WORD = {
    "type": "object",
    "required": ["word", "weight"],
    "properties": {"word": {"type": "string"}, "weight": {"type": "number"}},
}
LIST = {
    "type": "object",
    "required": ["papers", "total", "page"],
    "properties": {
        "papers": {"type": "array", "items": {"$ref": "#/components/schemas/Paper"}},
        "total": {"type": "integer"},
        "page": {"type": "integer"},
        "words": {"type": "array", "items": {"$ref": "#/components/schemas/Word"}},
    },
}
TAGS = {
    "type": "object",
    "required": ["tags", "negative"],
    "properties": {
        "tags": {"type": "object", "additionalProperties": {"type": "array"}},
        "negative": {"type": "object", "additionalProperties": {"type": "array"}},
    },
}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


def _param(name: str, kind: str = "string", where: str = "query", required: bool = False,
           description: str = "") -> dict:  # fmt: skip
    return {"name": name, "in": where, "required": required or where == "path",
            "description": description, "schema": {"type": kind}}  # fmt: skip


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "bad parameter (named in the message)"),
    "401": _json(_ref("Error"), "authentication needed"),
    "404": _json(_ref("Error"), "not found"),
}
AUTH = [{"bearer": []}, {"session": []}]
PAGING = [_param("page", "integer"), _param("per_page", "integer", description="at most 100")]
FILTERS = [_param("category"), _param("days", "number")]
PID = _param("id", where="path", description="arXiv id in any form")
TAG = _param("name", where="path", description="tag name")


def _op(summary: str, response: dict, params=(), auth=False, body=None) -> dict:
    op = {"summary": summary, "parameters": list(params), "responses": {"200": response, **ERRORS}}
    if auth:
        op["security"] = AUTH
    if body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body}}}  # fmt: skip
    return op


PATHS = {
    "/api/papers": {"get": _op("Newest papers (or random)", _json(_ref("PaperList")),
                               [_param("sort", description="time or random"), *FILTERS, *PAGING])},
    "/api/search": {"get": _op("Keyword search", _json(_ref("PaperList")),
                               [_param("q", required=True), *FILTERS, *PAGING])},
    "/api/papers/{id}": {"get": _op("One paper", _json(_ref("Paper")), [PID])},
    "/api/papers/{id}/similar": {"get": _op("Similar papers", _json(_ref("PaperList")),
                                            [PID, _param("limit", "integer"),
                                             _param("days", "number")])},
    "/api/similar": {"post": _op("Papers similar to a pasted text", _json(_ref("PaperList")),
                                 body={"type": "object", "required": ["text"],
                                       "properties": {"text": {"type": "string"},
                                                      "limit": {"type": "integer"}}})},
    "/api/recommend": {"get": _op(
        "Recommendations from seed papers (ids) or your tags (tags, needs auth)",
        _json(_ref("PaperList")),
        [_param("ids"), _param("exclude"), _param("tags"), _param("limit", "integer"),
         _param("C", "number"), _param("include_tagged", "integer"), *FILTERS])},
    "/api/tags": {"get": _op("Your tags", _json(_ref("Tags")), auth=True)},
    "/api/tags/{name}/papers/{id}": {
        "put": _op("Add a paper to a tag", _json(_ref("Tags")),
                   [TAG, PID, _param("negative", "integer")], auth=True),
        "delete": _op("Remove a paper from a tag", _json(_ref("Tags")), [TAG, PID], auth=True),
    },
    "/api/tags/{name}": {"delete": _op("Delete a tag", _json(_ref("Tags")), [TAG], auth=True)},
    "/api/tags/{name}/rename": {"post": _op(
        "Rename a tag", _json(_ref("Tags")), [TAG], auth=True,
        body={"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}})},
    "/api/searches": {
        "get": _op("Your saved searches", _json({"type": "object"}), auth=True),
        "post": _op("Save a search", _json({"type": "object"}), auth=True,
                    body={"type": "object", "required": ["q"],
                          "properties": {"name": {"type": "string"}, "q": {"type": "string"},
                                         "category": {"type": ["string", "null"]}}}),
    },
    "/api/searches/{search_id}": {"delete": _op(
        "Forget a saved search", _json({"type": "object", "required": ["searches"]}),
        [_param("search_id", "integer", "path")], auth=True)},
    "/api/searches/{search_id}/seen": {"post": _op(
        "Mark a saved search's matches as seen", _json({"type": "object", "required": ["id"]}),
        [_param("search_id", "integer", "path")], auth=True)},
    "/api/searches/{search_id}/papers": {"get": _op(
        "New matches of a saved search", _json(_ref("PaperList")),
        [_param("search_id", "integer", "path")], auth=True)},
    "/api/stats": {"get": _op("Counts and the last crawl", _json({
        "type": "object", "required": ["papers", "newest", "last_crawl"]}))},
    "/api/health": {"get": _op("Database health", _json({
        "type": "object", "required": ["status"]}))},
}  # fmt: skip


def spec(base_url: str, extra_paths: dict | None = None) -> dict:
    """The OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sanity",
            "version": "1",
            "description": "arXiv papers: browse, search, similar papers, recommendations, tags.",
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": PATHS | (extra_paths or {}),
        "components": {
            "schemas": {
                "Paper": PAPER,
                "PaperList": LIST,
                "Word": WORD,
                "Tags": TAGS,
                "Error": ERROR,
            },  # fmt: skip
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
