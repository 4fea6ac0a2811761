"""HTTP API of ingest: the generic order intake, channel webhooks, the CSV order import and the intake log."""

import uuid
from collections.abc import Iterable

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse

from ingest.adapters.intake_store import IntakeStore
from ingest.domain.errors import PayloadTooLarge, Problem
from ingest.domain.channel_orders import DEFAULT_WOOCOMMERCE_STATUSES
from ingest.domain.model import RETRYABLE_KINDS, IntakeStatus
from ingest.domain.webhooks import WebhookSecrets
from ingest.entrypoints.schemas import (
    CsvImportAccepted,
    IntakeAccepted,
    IntakeListItem,
    IntakePublic,
    SkippedOrderPublic,
    WebhookAccepted,
    csv_file_openapi,
    order_payload_openapi,
)
from ingest.service_layer import handlers
from ingest.service_layer.handlers import Clock, WebhookOutcome
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.messaging import Bus

CHANNEL_PATTERN = r"^[a-z0-9_]+$"
_REJECTED = {"description": "Stored as failed; `detail` names each problem like FastAPI's validation errors, "
                            "`intake_id` is the stored payload."}


def ingest_router(
    *,
    store: IntakeStore,
    bus: Bus,
    keys: ApiKeys,
    clock: Clock,
    max_body_bytes: int,
    publish_timeout: float = 5.0,
    webhook_secrets: WebhookSecrets | None = None,
    woocommerce_statuses: Iterable[str] = DEFAULT_WOOCOMMERCE_STATUSES,
    webhook_publish_timeout: float = 2.0,
) -> APIRouter:
    """Routes for receiving channel orders and webhooks, and reading the intake log."""
    router = APIRouter(tags=["ingest"])
    staff = require_role(keys, "ops")
    secrets = webhook_secrets or WebhookSecrets()
    woocommerce_statuses = tuple(woocommerce_statuses)

    @router.post(
        "/webhooks/{channel}/{account}",
        response_model=WebhookAccepted,
        responses={401: {"description": "Signature missing or wrong (or no secret for this account); nothing "
                                        "stored or published."},
                   413: {"description": "Body over INGEST_MAX_BODY_BYTES; its signature cannot be checked, so "
                                        "nothing is stored."}},
    )
    async def receive_webhook(
        request: Request,
        background: BackgroundTasks,
        channel: str = Path(pattern=r"^(shopify|woocommerce)$"),
        account: str = Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$"),
    ) -> WebhookAccepted | JSONResponse:
        """A Shopify (`orders/create`, `orders/updated`) or WooCommerce (`order.created`, `order.updated`)
        webhook. No bearer key: the channel signs the raw body with the account's shared secret instead."""
        raw = await _read_body(request, limit=max_body_bytes)
        receipt = await handlers.receive_webhook(
            channel=channel, account=account, headers=request.headers.items(), raw=raw, secrets=secrets,
            store=store, bus=bus, clock=clock, max_body_bytes=max_body_bytes,
            # Channels give up on a slow answer (Shopify after 5 s) and resend: answer well before that.
            publish_timeout=min(publish_timeout, webhook_publish_timeout),
            woocommerce_statuses=woocommerce_statuses,
            later=background.add_task,  # the intake's "published" mark is written after the answer
        )
        if receipt.status is WebhookOutcome.UNAUTHORIZED:
            return JSONResponse(status_code=401, content={"detail": "invalid webhook signature"})
        if receipt.status is WebhookOutcome.TOO_LARGE:
            return JSONResponse(status_code=413, content={"detail": receipt.reason})
        # 200 even for a skipped or failed payload: it is kept in the intake log, and the channel resending it
        # (Shopify retries non-2xx for hours, WooCommerce disables a webhook after 5 failures) would not help.
        return WebhookAccepted(
            intake_id=receipt.intake_id, status=receipt.status.value, reason=receipt.reason,
            status_url=f"/intake/{receipt.intake_id}" if receipt.intake_id else None,
        )

    @router.post(
        "/channels/{channel}/orders",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=IntakeAccepted,
        responses={413: _REJECTED, 422: _REJECTED},
        openapi_extra=order_payload_openapi(),
    )
    async def receive_channel_order(
        request: Request,
        channel: str = Path(min_length=1, max_length=50, pattern=CHANNEL_PATTERN),
        _: Caller = Depends(staff),
    ) -> IntakeAccepted | JSONResponse:
        """Receive one normalised order from a channel; it is stored before anything else, then published."""
        # The raw body is read here, not parsed by FastAPI, so that even an invalid one is stored verbatim.
        raw = await _read_body(request, limit=max_body_bytes)
        receipt = await handlers.receive_order(
            channel=channel, headers=request.headers.items(), raw=raw, store=store, bus=bus, clock=clock,
            max_body_bytes=max_body_bytes, publish_timeout=publish_timeout,
        )
        if receipt.rejected is not None:
            code = 413 if isinstance(receipt.rejected, PayloadTooLarge) else 422
            return JSONResponse(
                status_code=code,
                content={
                    "detail": [problem.as_json() for problem in receipt.rejected.problems],
                    "intake_id": str(receipt.intake_id),
                },
            )
        return IntakeAccepted(
            intake_id=receipt.intake_id, status=receipt.status, status_url=f"/intake/{receipt.intake_id}"
        )

    @router.post(
        "/imports/csv",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=CsvImportAccepted,
        responses={413: _REJECTED, 422: {"description": "Stored as failed and nothing published; `detail` has one "
                                                        "entry per bad row (`row`, 1-based with the header as row 1, "
                                                        "`column`, `msg`), `intake_id` is the stored file."}},
        openapi_extra=csv_file_openapi(),
    )
    async def import_csv_orders(
        request: Request,
        mapping: str | None = Query(
            None, max_length=10_000,
            description="A named layout (`standard`) or a JSON object mapping the file's column names to ours.",
        ),
        _: Caller = Depends(staff),
    ) -> CsvImportAccepted | JSONResponse:
        """Import a CSV order file (the raw body, text/csv): stored first, then all its orders or none."""
        raw = await _read_body(request, limit=max_body_bytes)
        receipt = await handlers.receive_csv_orders(
            headers=request.headers.items(), raw=raw, mapping=mapping, store=store, bus=bus, clock=clock,
            max_body_bytes=max_body_bytes, publish_timeout=publish_timeout,
        )
        if receipt.rejected is not None:
            code = 413 if isinstance(receipt.rejected, PayloadTooLarge) else 422
            return JSONResponse(
                status_code=code,
                content={
                    "detail": [_row_error(problem) for problem in receipt.rejected.problems],
                    "intake_id": str(receipt.intake_id),
                },
            )
        return CsvImportAccepted(
            intake_id=receipt.intake_id, status=receipt.status, status_url=f"/intake/{receipt.intake_id}",
            orders=receipt.orders,
            skipped=[SkippedOrderPublic(channel_order_id=s.channel_order_id, row=s.row, reason=s.reason)
                     for s in receipt.skipped],
        )

    @router.get("/intake", response_model=list[IntakeListItem])
    async def list_intake(
        status_: IntakeStatus | None = Query(None, alias="status"),
        channel: str | None = Query(None, max_length=50, pattern=CHANNEL_PATTERN),
        limit: int = Query(50, ge=1, le=500),
        _: Caller = Depends(staff),
    ) -> list[IntakeListItem]:
        """Newest payloads first, optionally of one status (e.g. `failed`) and channel."""
        summaries = await store.recent(status=status_, channel=channel, limit=limit)
        return [IntakeListItem.model_validate(summary.model_dump()) for summary in summaries]

    @router.get("/intake/{intake_id}", response_model=IntakePublic)
    async def get_intake(intake_id: uuid.UUID, _: Caller = Depends(staff)) -> IntakePublic:
        """One payload exactly as received, with its status and error."""
        intake = await store.get(intake_id)
        if intake is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"intake {intake_id} not found")
        return IntakePublic.model_validate(intake.model_dump())

    @router.post(
        "/intake/{intake_id}/retry",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=IntakeAccepted,
        responses={404: {"description": "no such intake"},
                   409: {"description": "only a failed order payload can be read again"}},
    )
    async def retry_intake(intake_id: uuid.UUID, caller: Caller = Depends(staff)) -> IntakeAccepted:
        """Read a failed order payload again, after a fix (a CSV mapping, a channel option, new code): it goes
        back to `received` and the worker's re-publisher reads it with today's code, then publishes it or marks
        it failed with the new reason. The error it had is kept in `retries`."""
        intake = await store.get(intake_id)
        if intake is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"intake {intake_id} not found")
        if intake.kind not in RETRYABLE_KINDS:
            raise HTTPException(status.HTTP_409_CONFLICT, f"a {intake.kind.value} payload is not read again here")
        if not await store.mark_for_retry(intake_id, by=caller.name, at=clock()):
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"intake {intake_id} is {intake.status.value}: only a failed one is read again")
        return IntakeAccepted(intake_id=intake_id, status=IntakeStatus.RECEIVED, status_url=f"/intake/{intake_id}")

    return router


def _row_error(problem: Problem) -> dict:
    """A CSV problem as JSON: FastAPI's loc/msg/type plus `row` and `column` where it has them."""
    error = {**problem.as_json(), "row": None, "column": None}
    where = problem.loc[1:]
    if where and isinstance(where[0], int):
        error["row"] = where[0]
        error["column"] = where[1] if len(where) > 1 else None
    elif len(where) > 1 and where[0] == "header":
        error["row"], error["column"] = 1, where[1]
    elif where and where[0] == "header":
        error["row"] = 1
    return error


async def _read_body(request: Request, *, limit: int) -> bytes:
    """The request body, but never more than `limit + 1` bytes (enough to know it is too large)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[: limit + 1]
