"""docker-compose.yml runs every service (an API and a worker each) with everything its settings require.

No Docker engine here, so the file is read, not run: it names each service directory under services/, builds it
from its own Dockerfile, publishes the API ports, passes every required setting, and waits for healthy Kafka and
MongoDB.
"""

import importlib
import re
from pathlib import Path

import pytest
import yaml
from pydantic import AliasChoices

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
API_PORTS = {"ingest": 8101, "orders": 8102, "inventory": 8103, "fulfilment": 8104, "printing": 8105, "console": 8106}
SHARED_ENDPOINTS = {"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", "MONGODB_URL": "mongodb://mongo:27017/"}
# Discovered, not listed, so a new service directory without containers fails here.
SERVICE_DIRS = sorted(p.parent.name for p in (REPO / "services").glob("*/pyproject.toml"))
ROLES = ("api", "worker")
WEB_ONLY = {"console"}  # one web process, no worker: it only calls the other services' APIs


def roles(service: str) -> tuple[str, ...]:
    """The containers a service runs."""
    return ("api",) if service in WEB_ONLY else ROLES


@pytest.fixture(scope="module")
def compose() -> dict:
    """The parsed compose file (anchors and merge keys resolved)."""
    return yaml.safe_load(COMPOSE.read_text())


def container(compose: dict, service: str, role: str) -> dict:
    """The compose entry `<service>-<role>`."""
    name = f"{service}-{role}"
    assert name in compose["services"], f"docker-compose.yml has no '{name}' container"
    return compose["services"][name]


def environment(entry: dict) -> dict[str, str]:
    """A container's environment as a dict, whether written as a mapping or as KEY=VALUE items."""
    env = entry.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {str(k): None if v is None else str(v) for k, v in env.items()}


def required_env_names(service: str) -> list[set[str]]:
    """For each Settings field without a default, the environment names it can be read from (upper case)."""
    settings = importlib.import_module(f"{service}.config").Settings
    prefix = settings.model_config.get("env_prefix", "")
    required = []
    for name, field in settings.model_fields.items():
        if not field.is_required():
            continue
        alias = field.validation_alias
        if isinstance(alias, str):
            names = {alias}
        elif isinstance(alias, AliasChoices):
            names = {choice for choice in alias.choices if isinstance(choice, str)}
        else:
            names = {f"{prefix}{name}"}
        required.append({n.upper() for n in names})
    return required


def published_ports(entry: dict) -> set[tuple[int, int]]:
    """(host port, container port) pairs, from short ("8101:8101") or long syntax."""
    pairs = set()
    for port in entry.get("ports") or []:
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            *_, host, target = str(port).split(":")
            pairs.add((int(host), int(target.split("/")[0])))
    return pairs


def test_every_service_directory_is_known():
    assert set(API_PORTS) <= set(SERVICE_DIRS), f"services/ lacks {set(API_PORTS) - set(SERVICE_DIRS)}"


class TestInfrastructure:
    def test_kafka_is_a_single_kraft_node_with_a_healthcheck(self, compose):
        kafka = compose["services"]["kafka"]
        env = environment(kafka)
        assert kafka["image"] == "apache/kafka:4.1.0"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
        assert "kafka-" in " ".join(kafka["healthcheck"]["test"])

    def test_mongodb_answers_a_mongosh_ping_when_healthy(self, compose):
        mongo = compose["services"]["mongo"]
        assert mongo["image"] == "mongo:8"
        check = " ".join(mongo["healthcheck"]["test"])
        assert "mongosh" in check and "ping" in check


@pytest.mark.parametrize("service", SERVICE_DIRS)
class TestServiceContainers:
    def test_an_api_and_a_worker_run_the_service(self, compose, service):
        for role in roles(service):
            entry = container(compose, service, role)
            command = entry.get("command")
            if isinstance(command, str):
                command = command.split()
            assert command == ["python", "-m", service, role], f"{service}-{role} runs {command}"

    def test_both_are_built_from_the_service_dockerfile_with_the_repository_as_context(self, compose, service):
        dockerfile = REPO / "services" / service / "Dockerfile"
        assert dockerfile.is_file(), f"{dockerfile.relative_to(REPO)} does not exist"
        for role in roles(service):
            build = container(compose, service, role)["build"]
            assert (REPO / build["context"]).resolve() == REPO
            assert (REPO / build["context"] / build["dockerfile"]).resolve() == dockerfile

    def test_both_wait_for_healthy_kafka_and_mongodb(self, compose, service):
        for role in roles(service):
            depends_on = container(compose, service, role)["depends_on"]
            assert isinstance(depends_on, dict), f"{service}-{role}: depends_on needs conditions"
            for infra in ("kafka", "mongo"):
                assert depends_on[infra]["condition"] == "service_healthy", f"{service}-{role} on {infra}"

    def test_every_required_setting_is_in_the_environment(self, compose, service):
        for role in roles(service):
            env = {k.upper(): v for k, v in environment(container(compose, service, role)).items()}
            for names in required_env_names(service):
                assert names & env.keys(), f"{service}-{role} lacks {' or '.join(sorted(names))}"

    def test_secrets_and_site_settings_come_from_the_operators_environment(self, compose, service):
        for role in roles(service):
            env = {k.upper(): v for k, v in environment(container(compose, service, role)).items()}
            for name, value in SHARED_ENDPOINTS.items():
                assert env.get(name) == value, f"{service}-{role}: {name}={env.get(name)!r}"
            for names in required_env_names(service):
                for name in names & env.keys() - SHARED_ENDPOINTS.keys():
                    # `${NAME:?message}`: compose refuses to start without it, and nothing secret is in the file.
                    assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", env[name] or ""), (
                        f"{service}-{role}: {name} should be ${{{name}:?...}}, not {env[name]!r}"
                    )

    def test_the_api_port_is_published_and_the_api_listens_beyond_loopback(self, compose, service):
        settings = importlib.import_module(f"{service}.config").Settings
        prefix = settings.model_config.get("env_prefix", "").upper()
        api = container(compose, service, "api")
        env = environment(api)
        port = int(env.get(f"{prefix}API_PORT") or settings.model_fields["api_port"].default)
        assert port == API_PORTS.get(service, port)
        assert (port, port) in published_ports(api), f"{service}-api does not publish {port}"
        if "api_host" in settings.model_fields:
            assert env.get(f"{prefix}API_HOST") == "0.0.0.0", f"{service}-api would listen on loopback only"

    def test_the_api_is_healthy_when_its_health_route_answers(self, compose, service):
        port = API_PORTS.get(service)
        check = " ".join(container(compose, service, "api")["healthcheck"]["test"])
        assert "/health" in check and (port is None or f":{port}/health" in check)

    def test_the_worker_is_not_probed_on_the_api_health_route(self, compose, service):
        if "worker" not in roles(service):
            assert f"{service}-worker" not in compose["services"], f"{service} has no worker to run"
            return
        healthcheck = container(compose, service, "worker").get("healthcheck") or {}
        assert healthcheck.get("disable") is True or "/health" not in " ".join(healthcheck.get("test") or [])


def test_every_api_port_is_published_once(compose):
    published = [host for entry in compose["services"].values() for host, _ in published_ports(entry)]
    assert sorted(p for p in published if 8101 <= p <= 8106) == sorted(API_PORTS.values())
    assert len(published) == len(set(published))
