"""Fuzz both OpenAPI specs with schemathesis, as a real user and with the service token, so the
internal endpoints are fuzzed past their 403 too (slow: `make test-slow`).

Every generated request must get an answer that is not a server error and that matches the
documented response schema. Bounded: FUZZ_EXAMPLES examples per operation (default 25).
"""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = [pytest.mark.security, pytest.mark.slow, pytest.mark.timeout(900)]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture
def fuzz_user(app, seeded, make_user, service_headers):
    _, headers = make_user("fuzz@example.com")
    return {**headers, **service_headers}


@pytest.fixture
def subscription_schema(app, fuzz_user):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.fixture
def payment_schema(payment_app, fuzz_user):
    return schemathesis.openapi.from_wsgi("/openapi.json", payment_app)


subscription = schemathesis.pytest.from_fixture("subscription_schema")
payment = schemathesis.pytest.from_fixture("payment_schema")
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


@subscription.parametrize()
@FUZZ
def test_subscription_service_never_errors(case, fuzz_user):
    response = case.call(headers=fuzz_user)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


@payment.parametrize()
@FUZZ
def test_payment_service_never_errors(case, fuzz_user):
    response = case.call(headers=fuzz_user)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
