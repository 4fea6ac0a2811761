"""`python -m oms_contracts export-schemas DIR`: write each message's JSON Schema and an AsyncAPI document."""

import argparse
import json
from pathlib import Path

from oms_contracts.envelope import Envelope
from oms_contracts.registry import registered

def export_schemas(out: Path) -> list[Path]:
    """Write one JSON Schema per (type, version), the envelope schema and asyncapi.json; return the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    channels: dict[str, dict] = {}
    messages: dict[str, dict] = {}
    envelope_path = out / "envelope.schema.json"
    envelope_path.write_text(json.dumps(Envelope.model_json_schema(), indent=2))
    written.append(envelope_path)
    for (type_, version), model in sorted(registered().items()):
        name = f"{type_}.v{version}"
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2))
        written.append(path)
        messages[name] = {"name": type_, "title": model.__doc__, "payload": {"$ref": f"./{path.name}"}}
        topic = model.TOPIC
        channels.setdefault(topic, {"address": topic, "messages": {}})["messages"][name] = {
            "$ref": f"#/components/messages/{name}"
        }
    asyncapi = {
        "asyncapi": "3.0.0",
        "info": {"title": "OMS messages", "version": "1"},
        "channels": channels,
        "components": {"messages": messages},
    }
    asyncapi_path = out / "asyncapi.json"
    asyncapi_path.write_text(json.dumps(asyncapi, indent=2))
    written.append(asyncapi_path)
    return written


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(prog="oms-contracts")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export-schemas", help="write JSON Schemas and asyncapi.json")
    export.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "export-schemas":
        for path in export_schemas(args.out):
            print(path)


if __name__ == "__main__":
    main()
