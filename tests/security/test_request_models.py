"""Every JSON body any service's API accepts refuses unknown fields (a typo must not be silently dropped)."""

import importlib

import pytest

SERVICES = ("ingest", "orders", "inventory", "fulfilment", "printing")
# Bodies that are the channel's own documents, read verbatim into the intake log: strict there would lose orders.
VERBATIM = {("ingest", "/channels/{channel}/orders")}


@pytest.fixture
def service_env(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("MONGODB_URL", "mongodb://127.0.0.1:1/?directConnection=true&serverSelectionTimeoutMS=1")
    monkeypatch.setenv("OMS_API_KEYS", "ops:ops-key-0123456789abcdef")
    monkeypatch.setenv("PRINTING_INVOICE_PRINTER", "socket://127.0.0.1:9")
    monkeypatch.setenv("PRINTING_LABEL_PRINTER", "socket://127.0.0.1:9")


def request_schemas(openapi: dict):
    """(path, method, schema) of every JSON request body, references resolved one level."""
    components = openapi.get("components", {}).get("schemas", {})
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue
            if "$ref" in schema:
                schema = components[schema["$ref"].rsplit("/", 1)[1]]
            yield path, method, schema


@pytest.mark.parametrize("service", SERVICES)
def test_every_json_body_forbids_unknown_fields(service, service_env):
    bootstrap = importlib.import_module(f"{service}.bootstrap")
    settings = importlib.import_module(f"{service}.config").Settings()
    openapi = bootstrap.build_api(settings).openapi()
    loose = [
        f"{method.upper()} {path}"
        for path, method, schema in request_schemas(openapi)
        if schema.get("type") == "object" and schema.get("additionalProperties") is not False
        and (service, path) not in VERBATIM
    ]
    assert loose == [], f"{service}: these bodies accept unknown fields: {loose}"
