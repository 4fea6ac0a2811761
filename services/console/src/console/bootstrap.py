"""Builds the console: its users (MongoDB), the services' clients, the web app; creates the first admin."""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pymongo import AsyncMongoClient

from console.adapters.services import SERVICES, Services
from console.adapters.users import MongoUsers
from console.config import Settings
from console.domain.users import UserError, new_user
from console.entrypoints.web import build_app

log = logging.getLogger("console")


def build_console(settings: Settings) -> FastAPI:
    """The console app; on start it creates the `admin` user when there is no user and a password is set."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mongo = AsyncMongoClient(settings.mongodb_url.get_secret_value(), tz_aware=True)
    users = MongoUsers(mongo, settings.database)
    services = Services({s: str(getattr(settings, f"{s}_url")) for s in SERVICES},
                        settings.service_key.get_secret_value())
    app = build_app(users=users, services=services, session_secret=settings.session_secret.get_secret_value(),
                    secure_cookies=settings.secure_cookies, session_hours=settings.session_hours,
                    live_poll_seconds=settings.live_poll_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if settings.admin_password and await users.count() == 0:
            try:
                await users.add(new_user("admin", "admin", settings.admin_password.get_secret_value()))
                log.info("created the first user, 'admin'")
            except UserError as exists:  # another console instance made it first
                log.info("%s", exists)
        yield
        await services.close()
        await mongo.close()

    app.router.lifespan_context = lifespan
    return app
