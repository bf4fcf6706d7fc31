"""Fuzz every API operation from its OpenAPI document (bounded examples): no 5xx, and every
answer matches the schema it documents."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from supervision_app.api.app import build_api
from tests.api.conftest import sign_in
from tests.factories import make_agent, make_user

schema = schemathesis.openapi.from_asgi("/api/openapi.json", build_api())
# Streams and long-polls wait by design; they have their own tests.
schema = schema.exclude(path_regex=r"(/stream$|/control$|/auth/logout$)")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(params=["admin", "supervisor", "viewer"])
def caller(request, client, now) -> dict[str, str]:
    """Agents' routes with an agent's key; every other route as each role."""
    return {
        "user": sign_in(client, make_user(now, role=request.param).username),
        "agent": {"Authorization": f"Bearer {make_agent(now, level='INTERN').api_key}"},
    }


@schema.parametrize()
@settings(
    max_examples=4,  # per role: 12 per operation across admin, supervisor and viewer
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_never_fails_and_answers_as_documented(case, caller):
    headers = caller["agent"] if case.path.startswith("/api/v1/") else caller["user"]
    case.call_and_validate(headers=headers, checks=CHECKS)
