"""Decodes a message by its (type, version) into the typed payload; unknown ones are refused."""

import json

from pydantic import ValidationError

from oms_contracts.envelope import Envelope, Message

_REGISTRY: dict[tuple[str, int], type[Message]] = {}


class ContractError(ValueError):
    """A message that can never be handled: not JSON, no envelope, or a payload that breaks its schema."""


class UnknownMessageType(ContractError):
    """A (type, version) that no contract declares."""


def register(model: type[Message]) -> type[Message]:
    """Class decorator: make `model` decodable under its TYPE and VERSION."""
    key = (model.TYPE, model.VERSION)
    if key in _REGISTRY and _REGISTRY[key] is not model:
        raise RuntimeError(f"two contracts claim {key}")
    _REGISTRY[key] = model
    return model


def registered() -> dict[tuple[str, int], type[Message]]:
    """Every registered (type, version) and its payload model."""
    _load_all()
    return dict(_REGISTRY)


def decode(raw: bytes | str) -> Envelope:
    """Parse raw bytes into an envelope with a typed payload, or raise ContractError saying why."""
    _load_all()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError("not a JSON object")
    model = _REGISTRY.get((data.get("type"), data.get("version")))
    if model is None:
        raise UnknownMessageType(f"unknown message type {data.get('type')!r} version {data.get('version')!r}")
    try:
        payload = model.model_validate(data.get("payload"))
        return Envelope.model_validate({**data, "payload": payload})
    except ValidationError as exc:
        raise ContractError(f"{model.TYPE} v{model.VERSION} invalid: {_describe(exc)}") from exc


def encode(envelope: Envelope) -> bytes:
    """Serialise an envelope to JSON bytes."""
    return envelope.model_dump_json().encode()


def _describe(exc: ValidationError) -> str:
    """A short reason naming each invalid field."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])


def _load_all() -> None:
    """Import every contract module so their models are registered."""
    from oms_contracts import deadletters, fulfilment, ingest, inventory, orders, printing  # noqa: F401
