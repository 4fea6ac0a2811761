"""What every console page shares: roles, the signed-in user, CSRF, the page layout, flashes, form keys."""

import hmac
import re
import uuid
from importlib.resources import files
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console.adapters.services import Acting, ServiceError

OPS = ("admin", "ops")
PACK = ("admin", "ops", "packer")
CHANNEL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
JOB_STATES = ("queued", "rendered", "sent", "printed", "failed")
LABEL_ACTIONS = ("tag", "folder")  # each needs a name
ORDER_ACTIONS = ("park", "unpark", "lock", "unlock", "cancel")  # each needs a reason
STATION = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
LIST_FILTERS = ("channel", "paid", "parked", "locked", "out_of_stock", "country", "sku", "q", "sort", "cursor", "tag",
                "folder")

templates = Jinja2Templates(directory=str(files("console") / "templates"))


class SignInRequired(Exception):
    """No session: go to the sign-in page, then back."""


class Forbidden(Exception):
    """Signed in, but the role may not open this."""


class BadCsrf(Exception):
    """A form without this session's CSRF token."""


def signed_in(request: Request, *roles: str) -> Acting:
    """The signed-in user if their role is one of `roles`; otherwise sign in, or 403."""
    name, role = request.session.get("user"), request.session.get("role")
    if not name:
        raise SignInRequired()
    if role not in roles:
        raise Forbidden(role)
    return Acting(name=name, role=role)


def check_csrf(request: Request, token: str) -> None:
    expected = request.session.get("csrf", "")
    if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
        raise BadCsrf()


def render(request: Request, template: str, *, status_code: int = 200, **context) -> Response:
    """A page with the layout's context: who is signed in, their CSRF token and the flashed messages."""
    flashes = request.session.pop("flash", []) if "session" in request.scope else []
    session = request.session if "session" in request.scope else {}
    return templates.TemplateResponse(
        request, template, {"user": session.get("user"), "role": session.get("role"),
                            "csrf": session.get("csrf", ""), "flashes": flashes, **context},
        status_code=status_code,
    )


def flash(request: Request, kind: str, text: str) -> None:
    request.session["flash"] = [*request.session.get("flash", []), [kind, text]]


def flash_back(request: Request, url: str, kind: str, text: str) -> Response:
    flash(request, kind, text)
    return RedirectResponse(url, status_code=303)


def safe_next(target: str) -> str:
    """Only paths of this site: a sign-in link cannot send the user elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def next_query(filters: dict, page: dict) -> str | None:
    if not page.get("next_cursor"):
        return None
    return urlencode({**{k: v for k, v in filters.items() if v}, "cursor": page["next_cursor"]})


def form_key(form_id: str, *parts: str) -> str:
    """The Idempotency-Key of a submitted form: the same form sent twice acts once (a form without an id: fresh)."""
    form_id = form_id if form_id and len(form_id) <= 64 else uuid.uuid4().hex
    return "-".join(("console", form_id, *parts))


async def optional(call, default):
    """A part of a page that may be missing (a service down or a feature not there) without failing the page."""
    try:
        return await call
    except ServiceError:
        return default


def grid_row(order: dict) -> dict:
    """What the grid shows of an order."""
    details = order["details"]
    return {
        "order_id": order["order_id"], "order_number": order["order_number"], "channel": order["channel"],
        "buyer": details.get("buyer", {}).get("name", ""),
        "country": details.get("shipping_address", {}).get("country", ""),
        "total": f"{order['total']} {order['currency']}", "paid": order["paid"], "parked": order["parked"],
        "locked": order["locked"], "out_of_stock": bool(order.get("unallocated_skus")),
        "opened_at": order["opened_at"],
    }


templates.env.globals["row"] = grid_row
templates.env.globals["form_id"] = lambda: uuid.uuid4().hex
