"""Schemathesis against every service's OpenAPI, on the running system: whatever a client sends that the schema
allows (and much it does not), no answer is an undocumented 5xx, and every answer matches the schema the API
documents. (A documented 5xx is an honest answer about something outside us: 502 when a channel failed.)

Named to run last: the generated requests create real orders, stock and print jobs in this session's databases.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from oms_devtools.system import SERVICES

pytestmark = pytest.mark.integration

CHECKS = [response_schema_conformance, content_type_conformance]
EXAMPLES_PER_OPERATION = 8


def fuzz(operation, headers: dict) -> str | None:
    """Run generated cases against one operation; the first failure as text, or None."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call(headers=headers, timeout=30)
        documented = operation.definition.raw.get("responses", {})
        assert response.status_code < 500 or str(response.status_code) in documented, (
            f"{response.status_code} {response.text[:300]}\nreproduce: {case.as_curl_command()}")
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Exception as failure:  # noqa: BLE001 - collected per operation, reported together
        return f"{operation.method.upper()} {operation.path}: {type(failure).__name__}: {str(failure)[:800]}"
    return None


@pytest.mark.parametrize("service", SERVICES)
def test_the_api_never_fails_and_keeps_its_schema(service, system, api_keys):
    schema = schemathesis.openapi.from_url(f"{system.url(service)}/openapi.json")
    headers = {"Authorization": f"Bearer {api_keys['admin']}"}
    failures = [fuzz(result.ok(), headers) for result in schema.get_all_operations()]
    failures = [f for f in failures if f]
    assert failures == [], "\n\n".join(failures)
