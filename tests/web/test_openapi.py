"""/api/openapi.json describes the API, and every documented endpoint answers as described."""

from __future__ import annotations

import json
import re

import pytest

from sanity.accounts import users as accounts
from sanity.engine import jobs
from tests.factories import topical_papers

SAMPLES = {"string": "graph", "integer": 5, "number": 30.0}


def resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def body_for(spec: dict, schema: dict) -> dict:
    schema = resolve(spec, schema)
    out = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        if "enum" in prop:
            out[name] = prop["enum"][0]
            continue
        kind = prop.get("type", "object")
        kind = kind if isinstance(kind, str) else kind[0]
        out[name] = {"object": {}, "array": []}.get(kind, SAMPLES.get(kind))
    if "text" in out:
        out["text"] = "graph neural networks for molecules"
    return out


def test_spec_is_openapi_31_and_covers_every_api_route(app, client):
    """Every /api route of the app is documented (and nothing undocumented is exposed)."""
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1") and spec["paths"]
    documented = {re.sub(r"\{[^}]+\}", "X", path) for path in spec["paths"]}
    routes = {
        re.sub(r"<[^>]+>", "X", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json"
    }
    assert routes <= documented, routes - documented
    assert spec["servers"] == [{"url": app.config["BASE_URL"].rstrip("/")}]
    assert spec["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer"},
        "session": {"type": "apiKey", "in": "cookie", "name": "session"},
    }
    ui = [r.rule for r in app.url_map.iter_rules() if re.search("swagger|redoc|rapidoc", r.rule)]
    assert ui == []


def operations(spec: dict):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_errors_are_400_in_our_shape_and_every_status_is_listed(client):
    """No 422 anywhere; operations with input list 400; authenticated ones list 401; errors
    are {"error": str}."""
    spec = client.get("/api/openapi.json").get_json()
    assert "422" not in json.dumps(spec) and "Unprocessable" not in json.dumps(spec)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and error["properties"]["error"]["type"] == "string"
    for path, method, op in operations(spec):
        codes = set(op["responses"])
        if op.get("parameters") or "requestBody" in op or method != "get":
            assert "400" in codes, (method, path)
        if {"bearer": []} in op.get("security", []):
            assert "401" in codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        for code, response in op["responses"].items():
            if code >= "400":
                ref = response["$ref"].rsplit("/", 1)[1]
                schema = spec["components"]["responses"][ref]["content"]["application/json"]
                assert schema["schema"]["$ref"].endswith("/Error"), (method, path, code)
    paths = spec["paths"]
    assert "201" in paths["/api/searches"]["post"]["responses"]
    assert "409" in paths["/api/searches"]["post"]["responses"]
    assert "409" in paths["/api/library"]["post"]["responses"]
    for path, method in [("/api/papers/{pid}/similar", "get"), ("/api/recommend", "get"),
                         ("/api/similar", "post"), ("/api/health", "get")]:  # fmt: skip
        assert "503" in paths[path][method]["responses"], path
    assert paths["/api/tags"]["get"]["security"] == [{"bearer": []}, {"session": []}]


def param(spec: dict, path: str, name: str, method: str = "get") -> dict:
    op = spec["paths"][path][method]
    return next(p for p in op["parameters"] if p["name"] == name)


@pytest.mark.parametrize(
    "path, name, expected",
    [
        ("/api/papers", "page", {"minimum": 1, "maximum": 100000}),
        ("/api/papers", "per_page", {"minimum": 1, "maximum": 100}),
        ("/api/papers", "sort", {"enum": ["time", "random", "popular"]}),
        ("/api/papers", "days", {"exclusiveMinimum": 0, "maximum": 100000}),
        ("/api/search", "q", {"minLength": 1, "maxLength": 1000}),
        ("/api/search", "per_page", {"minimum": 1, "maximum": 100}),
        ("/api/papers/{pid}/similar", "limit", {"minimum": 1, "maximum": 100}),
        ("/api/recommend", "limit", {"minimum": 1, "maximum": 100}),
        ("/api/recommend", "C", {"minimum": 0.0001, "maximum": 10000}),
        ("/api/recommend", "days", {"exclusiveMinimum": 0, "maximum": 100000}),
        ("/api/recommend", "include_tagged", {"type": "boolean"}),
        ("/api/recommend", "ids", {"type": "array", "maxItems": 1000}),
        ("/api/bibtex", "ids", {"type": "array", "maxItems": 1000}),
        ("/api/papers/{pid}", "pid", {"type": "string"}),
    ],
)
def test_every_limit_the_server_enforces_is_documented(client, path, name, expected):
    """Bounds, enums and patterns of the declarations appear in the document."""
    spec = client.get("/api/openapi.json").get_json()
    schema = param(spec, path, name)["schema"]
    assert expected.items() <= schema.items(), schema


def test_patterns_for_ids_tag_names_and_the_text_body(client):
    """arXiv ids (path and lists), tag names and the pasted text carry their rules."""
    spec = client.get("/api/openapi.json").get_json()
    id_pattern = re.compile(param(spec, "/api/papers/{pid}", "pid")["schema"]["pattern"])
    for good in ("2401.01234", "2401.01234v2", "arXiv:2401.01234", "hep-th/9901001"):
        assert id_pattern.search(good), good
    for bad in ("abc", "2401.1", "../etc"):
        assert not id_pattern.search(bad), bad
    items = param(spec, "/api/recommend", "exclude")["schema"]["items"]
    assert items["pattern"] == id_pattern.pattern
    tag = param(spec, "/api/tags/{name}", "name", "delete")
    assert tag["required"] and tag["in"] == "path"
    tag_pattern = re.compile(tag["schema"]["pattern"])
    assert tag_pattern.search("to read") and not tag_pattern.search("a/b")
    assert tag["schema"]["maxLength"] == 64 and "'all'" in tag["description"]
    body = spec["paths"]["/api/similar"]["post"]["requestBody"]["content"]["application/json"]
    text = spec["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert (
        text["properties"]["text"] | {"minLength": 1, "maxLength": 20000}
        == text["properties"]["text"]
    )
    assert text["required"] == ["text"]


@pytest.mark.both_databases
def test_every_documented_endpoint_answers_as_described(app, client):
    """Walk the spec: each operation, with sample parameters, returns its documented shape."""
    topics = topical_papers(4)
    jobs.full_build()
    user = accounts.create_user("olga", "olga password")
    auth = {"Authorization": f"Bearer {accounts.create_token(user)}"}
    pid = topics["graphs"][0]
    client.put(f"/api/tags/mine/papers/{pid}", headers=auth)
    saved = client.post("/api/searches", json={"name": "s", "q": "graph"}, headers=auth)
    values = {"pid": pid, "name": "mine", "search_id": saved.get_json()["id"]}
    spec = client.get("/api/openapi.json").get_json()
    order = {"get": 0, "post": 1, "put": 2, "delete": 3}  # deletions last
    operations = [(p, m, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    for path, method, op in sorted(operations, key=lambda x: (order[x[1]], -len(x[0]))):
        url = path
        query = {}
        for param in op.get("parameters", []):
            if param["in"] == "path":
                url = url.replace("{" + param["name"] + "}", str(values[param["name"]]))
            elif param.get("required"):
                query[param["name"]] = SAMPLES.get(param["schema"]["type"])
        if path == "/api/recommend":
            query["ids"] = ",".join(topics["graphs"][1:3])
        if path == "/api/bibtex":
            query["ids"] = pid
        kwargs = {"query_string": query, "headers": auth}
        if "requestBody" in op:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            kwargs["json"] = body_for(spec, schema)
            if path.endswith("/rename"):
                kwargs["json"] = {"name": "renamed"}
                values["name"] = "renamed"
        response = client.open(url, method=method.upper(), **kwargs)
        success = min(code for code in op["responses"] if code < "300")
        assert response.status_code == int(success), (method, url, response.get_data(as_text=True))
        content = op["responses"][success]["content"]
        if "application/json" not in content:
            assert response.mimetype in content, (method, url, response.mimetype)
            continue
        schema = resolve(spec, content["application/json"]["schema"])
        body = response.get_json()
        missing = [key for key in schema.get("required", []) if key not in body]
        assert not missing, (method, url, missing)
