"""Why a payload could not be turned into a normalised message."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a payload, located like FastAPI's validation errors (`loc` starts with "body")."""

    loc: tuple[str | int, ...]
    msg: str
    type: str

    def describe(self) -> str:
        """`lines.0.quantity: Input should be greater than 0` (the location without the leading "body")."""
        where = ".".join(map(str, self.loc[1:])) or "body"
        return f"{where}: {self.msg}"

    def as_json(self) -> dict:
        """The FastAPI-style error object."""
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class PayloadRejected(Exception):
    """A payload that can never be normalised as it is; it stays in the intake log as failed, with this reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        """A short text naming each problem (the first five)."""
        return "; ".join(problem.describe() for problem in self.problems[:5])


class PayloadTooLarge(PayloadRejected):
    """A body over the configured size limit; only its beginning is kept."""


class OrderSkipped(Exception):
    """A payload read fine but deliberately not imported (a cancelled order, a status not configured as
    unprocessed, a topic we do not handle); it stays in the intake log as skipped, with this reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
