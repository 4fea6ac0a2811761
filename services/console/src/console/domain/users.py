"""Console users: a name, a role, an argon2 password hash, and whether they may still sign in."""

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("admin", "ops", "packer")
USER_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str
    active: bool = True


def new_user(name: str, role: str, password: str) -> User:
    """A user with a hashed password; refuses bad names, unknown roles and short passwords."""
    if not USER_NAME.match(name):
        raise UserError("a user name is 1-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    return User(name=name, role=role, password_hash=_hasher.hash(password))


def password_matches(user: User | None, password: str) -> bool:
    """True when `password` is the user's; an unknown user costs the same hashing time as a known one."""
    candidate = user.password_hash if user else _DUMMY_HASH
    try:
        ok = _hasher.verify(candidate, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and user is not None and user.active


_DUMMY_HASH = _hasher.hash("not-a-real-password")
