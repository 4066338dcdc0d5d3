"""How the API is declared: flask-smorest with 400 errors in our shape and our error pages.

webargs (under flask-smorest) answers a bad parameter with a 422 and a body of its own. Here a
bad parameter is a 400 whose `{"error": ...}` message names it, rendered by sanity.web.errors
like every other error (JSON under /api, an HTML page elsewhere); the document says the same.
"""

from __future__ import annotations

import flask_smorest
import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import abort
from flask_login import login_required
from flask_smorest.spec.plugins import FlaskPlugin
from webargs.flaskparser import FlaskParser, is_json_request

from sanity.web.fields import NO_NUL
from sanity.web.schemas import Error

AUTH = [{"bearer": []}, {"session": []}]
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "session": {"type": "apiKey", "in": "cookie", "name": "session"},
}
REASONS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "REQUEST_ENTITY_TOO_LARGE",
    429: "TOO_MANY_REQUESTS",
    503: "SERVICE_UNAVAILABLE",
}


def error_message(messages: object, name: str | None = None) -> str:
    """The first validation message, prefixed with the parameter it is about."""
    while isinstance(messages, dict):
        key, messages = next(iter(messages.items()))
        if isinstance(key, str) and key != "_schema":
            name = key  # the innermost named key (list indexes are not names)
    while isinstance(messages, list | tuple):
        messages = messages[0] if messages else "is invalid"
        if isinstance(messages, dict):
            return error_message(messages, name)
    text = str(messages)
    if name is None or text.startswith(name):
        return text
    return f"{name}{text}" if text.startswith(":") else f"{name} {text}"


class Parser(FlaskParser):
    """webargs' Flask parser answering 400 `{"error": "<name> must be ..."}`."""

    DEFAULT_VALIDATION_STATUS = 400
    # Unknown parameters and body keys are ignored, as they always were.
    DEFAULT_UNKNOWN_BY_LOCATION = dict.fromkeys(FlaskParser.__location_map__, ma.EXCLUDE)

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        messages = error.messages
        if isinstance(messages, dict) and len(messages) == 1:
            location, inner = next(iter(messages.items()))
            messages = inner if location in self.__location_map__ else messages
        abort(400, error_message(messages))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        abort(400, "the body is not valid JSON")

    def _raw_load_json(self, req):
        # `curl -d '{...}'` sends a form's content type: say so instead of "text is required"
        if not is_json_request(req) and (req.content_length or req.get_data(cache=True)):
            abort(400, "the body must be JSON, sent with Content-Type: application/json")
        return super()._raw_load_json(req)


parser = Parser()


class Blueprint(flask_smorest.Blueprint):
    """A smorest blueprint with our parser and short ways to document answers."""

    ARGUMENTS_PARSER = parser

    def query(self, schema: ma.Schema):
        """Query parameters, passed to the view as keyword arguments."""
        return self.arguments(schema, location="query", as_kwargs=True)

    def path(self, schema: ma.Schema):
        """Path parameters checked (and normalised) by `schema`, replacing the raw values."""
        return self.arguments(schema, location="path", as_kwargs=True)

    def body(self, schema: ma.Schema):
        """A JSON body, passed to the view as keyword arguments."""
        return self.arguments(schema, location="json", as_kwargs=True)

    def answers(self, schema=None, *errors: int, status: int = 200, mimetype: str | None = None):
        """Document the success answer (without serialising through it) and the error codes."""

        def decorator(view):
            for code in errors:
                view = self.alt_response(code, response=REASONS[code])(view)
            kind = mimetype or "application/json"
            schema_or_text = schema if mimetype is None else {"type": "string"}
            return self.alt_response(
                status, schema=schema_or_text, content_type=kind, success=True
            )(view)

        return decorator

    def login_required(self, view):
        """flask-login's check (a 401 for /api) first, documented with the security schemes."""
        view = login_required(view)
        view.needs_login = True  # sanity.web.security answers 401 before checking CSRF
        view = self.doc(security=AUTH)(view)
        return self.alt_response(401, response=REASONS[401])(view)


class PathPlugin(FlaskPlugin):
    """Path parameters are documented in each operation, once: by its schema where it declares
    one, else from the URL rule's converter."""

    def path_helper(self, rule, operations, parameters, **kwargs):
        path = super().path_helper(rule, operations, parameters, **kwargs)
        for operation in operations.values():
            listed = operation.setdefault("parameters", [])
            declared = {
                field.data_key or name
                for p in listed
                if isinstance(p, dict) and p.get("in") == "path" and "schema" in p
                for name, field in _fields(p["schema"]).items()
            }
            listed += [p for p in parameters if p.get("name") not in declared]
        parameters.clear()
        return path


def _fields(schema) -> dict:
    return (schema if isinstance(schema, ma.Schema) else schema()).fields


class Plugin(MarshmallowPlugin):
    """Every object schema in the document says what the server checks of any JSON body: no
    NUL character in a key or a string (sanity.web.errors refuses them)."""

    def init_spec(self, spec) -> None:
        super().init_spec(spec)
        self.converter.add_attribute_function(property_names)
        spec.components.schema("JsonValue", component=JSON_VALUE)

    def schema_helper(self, name, _, schema=None, **kwargs):
        out = super().schema_helper(name, _, schema=schema, **kwargs)
        return None if out is None else no_nul(out)


# Any JSON value without NUL: what an object accepts (and ignores) besides its properties.
ANY = {"$ref": "#/components/schemas/JsonValue"}
JSON_VALUE = {
    "anyOf": [
        {"type": ["null", "boolean", "number"]},
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": ANY},
        {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": ANY},
    ]
}


def property_names(converter, field, **kwargs) -> dict:
    """A dict field's rule for its keys (metadata propertyNames) in the document."""
    names = field.metadata.get("propertyNames")
    return {"propertyNames": names} if names else {}


def no_nul(schema: dict) -> dict:
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if "object" in kinds or "properties" in schema:
        schema.setdefault("propertyNames", {"pattern": NO_NUL})
        schema.setdefault("additionalProperties", ANY)
    for prop in schema.get("properties", {}).values():
        no_nul(prop)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            no_nul(schema[key])
    if "string" in kinds and not {"pattern", "format", "enum"} & schema.keys():
        schema["pattern"] = NO_NUL
    return schema


class Api(flask_smorest.Api):
    """The OpenAPI document of the declarations; errors stay with sanity.web.errors."""

    ERROR_SCHEMA = Error
    DEFAULT_ERROR_RESPONSE_NAME = None  # every status code is listed per operation

    def __init__(self, app=None):
        plugins = {"flask_plugin": PathPlugin(), "marshmallow_plugin": Plugin()}
        super().__init__(app, spec_kwargs=plugins)

    def _register_error_handlers(self):
        """None: sanity.web.errors renders every HTTP error, for /api and for pages."""

    def init_app(self, app, *, spec_kwargs=None):
        super().init_app(app, spec_kwargs=spec_kwargs)
        self.spec.components.schemas.pop("PaginationMetadata", None)  # no paginated headers
        for name, scheme in SECURITY_SCHEMES.items():
            self.spec.components.security_scheme(name, scheme)


def drop_choice(spec, path: str, name: str, value: str) -> None:
    """Take `value` out of the enum of GET `path`'s query parameter `name` in the document
    (a choice this instance does not offer, such as `mode=semantic` with the layer off)."""
    for param in spec._paths.get(path, {}).get("get", {}).get("parameters", []):
        schema = param.get("schema", {}) if param.get("in") == "query" else {}
        if param.get("name") == name and value in schema.get("enum", ()):
            schema["enum"] = [v for v in schema["enum"] if v != value]
