"""Fuzz every API operation from its OpenAPI document (bounded examples): no 5xx, and every
answer matches the schema it documents."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from supervision_app.api.app import build_api
from tests.api.conftest import sign_in
from tests.factories import make_user

schema = schemathesis.openapi.from_asgi("/api/openapi.json", build_api())
# Streams and long-polls wait by design; they have their own tests.
schema = schema.exclude(path_regex=r"(/stream$|/control$|/auth/logout$)")


@pytest.fixture
def admin_token(client, now) -> dict[str, str]:
    return sign_in(client, make_user(now, role="admin").username)


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_never_fails_and_answers_as_documented(case, admin_token):
    case.call_and_validate(
        headers=admin_token, checks=[not_a_server_error, response_schema_conformance]
    )
