"""The schema export command writes a JSON Schema per message and an AsyncAPI document."""

import json
import subprocess
import sys

from oms_contracts import registered


def test_export_writes_every_schema_and_the_asyncapi_channels(tmp_path):
    subprocess.run([sys.executable, "-m", "oms_contracts", "export-schemas", str(tmp_path)], check=True,
                   capture_output=True)
    for type_, version in registered():
        schema = json.loads((tmp_path / f"{type_}.v{version}.schema.json").read_text())
        assert schema["type"] == "object"
    asyncapi = json.loads((tmp_path / "asyncapi.json").read_text())
    assert asyncapi["asyncapi"].startswith("3.")
    assert "orders.order_opened.v1" in asyncapi["channels"]["oms.orders.events"]["messages"]
    assert "orders.place_order.v1" in asyncapi["channels"]["oms.orders.commands"]["messages"]
