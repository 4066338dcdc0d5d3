"""The OpenAPI document is the truth: schemathesis's default checks over every operation of
/api/openapi.json, against the app itself (WSGI), anonymous and with a Bearer token."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from sanity.accounts import users as accounts
from sanity.engine import jobs
from tests.factories import topical_papers

EXAMPLES = 5  # per operation, mode and identity: each run takes well under a minute


def fuzz(app, headers: dict) -> tuple[int, list[str]]:
    """Run every operation's examples, valid and invalid; return (cases, failures) instead of
    stopping at the first failure."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    cases, failures = 0, []
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases += examine(result.ok(), mode, headers, failures)
    return cases, failures


def examine(operation, mode, headers: dict, failures: list[str]) -> int:
    cases = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def run(case):
        nonlocal cases
        cases += 1
        try:
            # identity: the contract is checked on the bytes (compression is transport)
            case.call_and_validate(headers={"Accept-Encoding": "identity", **headers})
        except (Exception, BaseExceptionGroup) as exc:  # collected, not only the first
            failures.append(f"{operation.label} ({mode.value}): {_summary(exc)}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE
    return cases


@pytest.fixture
def corpus(app):
    """Features built (ranking routes answer) and a user with a tag and a saved search."""
    topics = topical_papers(4)
    jobs.full_build()
    user = accounts.create_user("fuzz", "fuzz password")
    token = accounts.create_token(user)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert (
        client.put(f"/api/tags/mine/papers/{topics['graphs'][0]}", headers=auth).status_code == 200
    )
    assert client.post("/api/searches", json={"q": "graph"}, headers=auth).status_code == 201
    return token


@pytest.mark.parametrize("identity", ["anonymous", "token"])
def test_the_api_keeps_its_documented_contract(app, corpus, identity):
    headers = {"Authorization": f"Bearer {corpus}"} if identity == "token" else {}
    cases, failures = fuzz(app, headers)
    print(f"fuzzer ({identity}): {cases} cases, {len(failures)} failures")
    assert cases > 0
    assert failures == [], "\n\n".join(failures)


def _summary(exc: BaseException) -> str:
    """The check's name, the answer and the request to reproduce it, without tracebacks."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " | ".join(lines)[:500]
