"""Fuzz both OpenAPI specs with schemathesis, as a real user and with the service token, so the
internal endpoints are fuzzed past their 403 too (slow: `make test-slow`).

Every generated request must get an answer that is not a server error and that matches the
documented response schema. Bounded: FUZZ_EXAMPLES examples per operation (default 25).
"""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = [pytest.mark.security, pytest.mark.slow, pytest.mark.timeout(900)]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture
def fuzz_user(app, seeded, make_user, service_headers):
    _, headers = make_user("fuzz@example.com")
    return {**headers, **service_headers}


def _fuzz(app, headers) -> int:
    """Every operation of the app's OpenAPI document, EXAMPLES generated requests each; answers the count.

    Driven through schemathesis' Python API (an operation's Hypothesis strategy) rather than its pytest
    plugin, whose parametrize() relies on pytest internals that pytest 9 removed.
    """
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def fuzz_one(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        fuzz_one()
        operations += 1
    return operations


FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


def test_subscription_service_never_errors(app, fuzz_user):
    assert _fuzz(app, fuzz_user) >= 90  # every documented route, the admin and internal ones included


def test_payment_service_never_errors(payment_app, fuzz_user):
    assert _fuzz(payment_app, fuzz_user) >= 13
