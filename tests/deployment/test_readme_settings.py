"""The README's settings table names every setting of every service, and the two commands come first."""

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "orders", "inventory", "fulfilment", "printing", "console")


def env_names(settings_class) -> list[str]:
    """The environment variable each field of a Settings class is read from."""
    prefix = settings_class.model_config.get("env_prefix", "")
    names = []
    for name, field in settings_class.model_fields.items():
        alias = field.validation_alias
        names.append(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_of_the_service_is_in_the_readme(service):
    readme = (REPO / "README.md").read_text()
    settings_class = importlib.import_module(f"{service}.config").Settings
    missing = [name for name in env_names(settings_class) if f"`{name}`" not in readme]
    assert missing == [], f"README.md's settings table lacks {missing}"


def test_the_two_commands_come_first():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
