"""Running a service process: the API (FastAPI with the broker in its lifespan) or the worker (FastStream)."""

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from faststream import FastStream
from faststream.kafka import KafkaBroker
from prometheus_client import start_http_server
from pymongo import AsyncMongoClient

from oms_contracts.topics import ALL_TOPICS
from oms_platform.auth import ApiKeys
from oms_platform.deadletters import DeadLetterDesk, dead_letters_router, register_dead_letter_desk
from oms_platform.messaging import Bus, ensure_topics, offset_commits
from oms_platform.mongo import mongo_client
from oms_platform.observability import CorrelationMiddleware, configure_logging, metrics_router
from oms_platform.ratelimit import RateLimitMiddleware
from oms_platform.settings import ServiceSettings

Check = Callable[[], Awaitable[object]]


def health_router(checks: dict[str, Check]) -> APIRouter:
    """`GET /health`: 200 when every dependency answers, 503 naming the ones that do not. No key needed."""
    router = APIRouter()

    @router.get("/health", tags=["health"])
    async def health() -> JSONResponse:
        """200 when every dependency answers (the compose healthcheck and `make run` wait on this)."""
        return await _check(checks)

    @router.get("/ready", tags=["health"])
    async def ready(request: Request) -> JSONResponse:
        """200 once the process finished starting (topics made, broker connected) and every dependency answers:
        only then should a load balancer send it traffic."""
        if not getattr(request.app.state, "started", False):
            return JSONResponse({"status": "starting", "checks": {}}, 503)
        return await _check(checks)

    return router


async def _check(checks: dict[str, Check]) -> JSONResponse:
    """Run every dependency check; 200 when all pass, else 503 naming the failing ones."""
    results = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), timeout=3)
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, reported by name
            results[name] = f"failing: {type(exc).__name__}"
    healthy = all(v == "ok" for v in results.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "checks": results}, 200 if healthy else 503)


def standard_checks(broker: KafkaBroker, mongo: AsyncMongoClient | None) -> dict[str, Check]:
    """Kafka and (when used) MongoDB reachability."""

    async def kafka() -> None:
        if not await broker.ping(timeout=3):
            raise ConnectionError("kafka does not answer")

    checks: dict[str, Check] = {"kafka": kafka}
    if mongo is not None:
        checks["mongodb"] = lambda: mongo.admin.command("ping")
    return checks


def broker_lifespan(broker: KafkaBroker, settings: ServiceSettings, mongo: AsyncMongoClient | None = None):
    """FastAPI lifespan: make sure topics exist, connect the broker for publishing, close clients at the end."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await ensure_topics(settings.kafka_bootstrap_servers, ALL_TOPICS, partitions=settings.topic_partitions)
        await broker.connect()
        app.state.started = True
        try:
            yield
        finally:
            await broker.stop()
            if mongo is not None:
                await mongo.close()

    return lifespan


def serve_api(app: FastAPI, *, host: str, port: int, log_level: str) -> None:
    """Run the API with uvicorn until SIGINT/SIGTERM."""
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False)


def run_worker(
    broker: KafkaBroker,
    settings: ServiceSettings,
    mongo: AsyncMongoClient | None = None,
    *,
    on_startup: Callable[[], Awaitable[object]] | None = None,
    background: Callable[[asyncio.Event], Awaitable[object]] | None = None,
) -> None:
    """Run the FastStream subscribers until SIGINT/SIGTERM.

    `on_startup` runs before consuming (e.g. create indexes). `background` is a loop started once the broker is
    connected; it gets an event that is set at shutdown, and is awaited before the broker stops under it.
    """
    desk = None
    if mongo is not None and getattr(settings, "database", None):
        desk = DeadLetterDesk(mongo[settings.database], service=settings.service_name, broker=broker, clock=utc_now)
        register_dead_letter_desk(broker, desk, max_attempts=settings.max_attempts)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
    app = FastStream(broker)
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []

    @app.on_startup
    async def prepare() -> None:
        await ensure_topics(settings.kafka_bootstrap_servers, ALL_TOPICS, partitions=settings.topic_partitions)
        if desk is not None:
            await desk.create_indexes()
        if on_startup is not None:
            await on_startup()

    @app.after_startup
    async def start_background() -> None:
        if background is not None:
            tasks.append(asyncio.create_task(background(stop)))

    @app.on_shutdown
    async def stop_background() -> None:
        stop.set()
        for task in tasks:
            await task
        await offset_commits.close()  # what was handled is not read again after a clean stop

    @app.after_shutdown
    async def close_mongo() -> None:
        if mongo is not None:
            await mongo.close()

    asyncio.run(app.run())


def start(role: str, settings: ServiceSettings, *, build_api: Callable, run_worker: Callable) -> None:
    """Start a service process in `role` ('api' or 'worker') with its settings (`api_host`, `api_port`)."""
    configure_logging(settings.log_level, log_format=settings.log_format)
    if role == "api":
        serve_api(
            build_api(settings), host=settings.api_host, port=settings.api_port, log_level=settings.log_level
        )
    else:
        run_worker(settings)


def service_main(name: str, *, settings_class: type, build_api: Callable, run_worker: Callable) -> None:
    """The `python -m <name> api|worker` command line of a service."""
    parser = argparse.ArgumentParser(prog=name)
    parser.add_argument("role", choices=["api", "worker"])
    args = parser.parse_args()
    start(args.role, settings_class(), build_api=build_api, run_worker=run_worker)


def utc_now() -> datetime:
    """The real clock (handlers take a clock so tests can use a fake one)."""
    return datetime.now(UTC)


def connect(settings: ServiceSettings, *, client_id: str) -> tuple[KafkaBroker, AsyncMongoClient]:
    """The Kafka broker and Mongo client of one process; both connect lazily, when the process starts."""
    # FastStream logs through our root handler (JSON, correlation ids) instead of its own colour format.
    # No FastStream injection: every subscriber's handler takes the message `whole_message` decodes it to.
    broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id=client_id, logger=logging.getLogger("oms.kafka"),
                         apply_types=False)
    return broker, mongo_client(settings.mongodb_url.get_secret_value())


def service_api(
    name: str, settings: ServiceSettings, broker: KafkaBroker, mongo: AsyncMongoClient, router: APIRouter,
    *, on_scrape: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """A service's FastAPI app: its routes, `/health`, `/metrics` (with `on_scrape` run at each scrape), and the
    broker and Mongo client in its lifespan."""
    app = FastAPI(title=f"OMS {name}", version="1", lifespan=broker_lifespan(broker, settings, mongo))
    if settings.rate_limit_per_minute:
        app.add_middleware(RateLimitMiddleware, per_minute=settings.rate_limit_per_minute)
    app.add_middleware(CorrelationMiddleware)  # outermost: 429s are counted and carry a correlation id too
    _document_reasoned_422(app)
    app.include_router(metrics_router(service=name, bootstrap_servers=settings.kafka_bootstrap_servers,
                                      on_scrape=on_scrape))
    app.include_router(health_router(standard_checks(broker, mongo)))
    app.include_router(router)
    if getattr(settings, "database", None):
        app.include_router(dead_letters_router(
            db=mongo[settings.database], bus=Bus(broker, name), keys=ApiKeys(settings.api_keys.get_secret_value()),
            service=name, command_timeout=getattr(settings, "command_timeout_seconds", 5.0),
        ))
    return app


def _document_reasoned_422(app: FastAPI) -> None:
    """Our 422 answers are FastAPI's list of field errors, or one sentence saying what is wrong with the request
    (a rule no schema can state): document both, so the schema clients validate against is the truth."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
        if error is not None:
            error["properties"]["detail"] = {"title": "Detail", "anyOf": [
                {"type": "string", "description": "What is wrong with the request, in one sentence."},
                {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
            ]}
        return schema

    app.openapi = openapi
