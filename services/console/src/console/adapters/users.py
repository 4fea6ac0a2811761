"""Where console users are kept. The console's API is the only writer of this collection."""

from typing import Protocol

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from console.domain.users import User, UserError


class UserStore(Protocol):
    async def get(self, name: str) -> User | None: ...
    async def add(self, user: User) -> None: ...
    async def all(self) -> list[User]: ...
    async def set_active(self, name: str, active: bool) -> None: ...
    async def count(self) -> int: ...


class MongoUsers:
    """`<database>.users`, one document per user keyed by name."""

    def __init__(self, client: AsyncMongoClient, database: str) -> None:
        self._users = client[database]["users"]

    async def get(self, name: str) -> User | None:
        doc = await self._users.find_one({"_id": name})
        return _user(doc) if doc else None

    async def add(self, user: User) -> None:
        try:
            await self._users.insert_one(
                {"_id": user.name, "role": user.role, "password_hash": user.password_hash, "active": user.active}
            )
        except DuplicateKeyError as exists:
            raise UserError(f"user {user.name!r} already exists") from exists

    async def all(self) -> list[User]:
        return [_user(doc) async for doc in self._users.find().sort("_id", 1)]

    async def set_active(self, name: str, active: bool) -> None:
        result = await self._users.update_one({"_id": name}, {"$set": {"active": active}})
        if result.matched_count == 0:
            raise UserError(f"no user {name!r}")

    async def count(self) -> int:
        return await self._users.count_documents({})


class InMemoryUsers:
    """The same behaviour in a dict, for tests."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    async def get(self, name: str) -> User | None:
        return self.users.get(name)

    async def add(self, user: User) -> None:
        if user.name in self.users:
            raise UserError(f"user {user.name!r} already exists")
        self.users[user.name] = user

    async def all(self) -> list[User]:
        return [self.users[name] for name in sorted(self.users)]

    async def set_active(self, name: str, active: bool) -> None:
        if name not in self.users:
            raise UserError(f"no user {name!r}")
        old = self.users[name]
        self.users[name] = User(old.name, old.role, old.password_hash, active)

    async def count(self) -> int:
        return len(self.users)


def _user(doc: dict) -> User:
    return User(name=doc["_id"], role=doc["role"], password_hash=doc["password_hash"], active=doc.get("active", True))
