"""Generated attacks on the public API.

Schemathesis reads the gateway's own OpenAPI document and sends requests that
fit it and requests that break it (wrong types, missing fields, odd strings),
with and without a valid access token. Whatever it sends, the answer must be
what the README promises: never a 5xx, HSTS on every response, and every 4xx a
JSON body {"error": {"code", "message"}}; and it must be what the OpenAPI
document says of it (status, content type, body schema).
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode, checks

from services.gateway.app import GatewaySettings, create_api
from tests.e2e.flows import sign_up_and_log_in

HSTS = "max-age=63072000; includeSubDomains"
EXAMPLES_PER_OPERATION = 40

# Schemathesis checks that do not hold yet, each for a reason:
# - the documented request schemas are looser than the real validation (email
#   syntax, what a key's secret may hold), so schema-valid requests may get a 422;
# - the body limit (413) sits in front of validation, beyond what OpenAPI says;
# - Starlette's 405 names in Allow only the methods of the route it matched.
NOT_CHECKED = [
    checks.positive_data_acceptance,
    checks.negative_data_rejection,
    checks.allow_header_conformance,
]


@pytest.fixture(scope="module")
async def fuzz_token(running_platform) -> str:
    return (await sign_up_and_log_in(running_platform)).access_token


def _gateway_schema() -> schemathesis.schemas.BaseSchema:
    """The OpenAPI document the gateway serves at /openapi.json, built from its code."""
    document = create_api(GatewaySettings()).openapi()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES_PER_OPERATION,
    )
    return schema


schema = _gateway_schema()


def _assert_answer_as_promised(response) -> None:
    assert response.status_code < 500, response.text
    # Schemathesis keeps every value of a header: exactly one HSTS header is sent.
    assert response.headers.get("strict-transport-security") == [HSTS]
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message"}, body
        assert isinstance(body["error"]["code"], str) and body["error"]["code"]
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_the_promised_answers(case, running_platform, fuzz_token):
    call = {"base_url": running_platform.url, "verify": str(running_platform.ca_file)}
    anonymous = case.call(**call, timeout=30)
    _assert_answer_as_promised(anonymous)
    case.validate_response(anonymous, excluded_checks=NOT_CHECKED)
    signed_in = case.call(**call, timeout=30, headers={"Authorization": f"Bearer {fuzz_token}"})
    _assert_answer_as_promised(signed_in)
    # And the answer is what the OpenAPI document says of it (status, type, body).
    case.validate_response(signed_in, excluded_checks=NOT_CHECKED)
