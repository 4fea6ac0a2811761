"""HTTP routes receiving PayPal payments: IPN, REST webhooks (no bearer key: PayPal confirms them) and the
activity-download import (staff)."""

import uuid

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ingest.adapters.intake_store import IntakeStore
from ingest.adapters.paypal import PayPalVerifier
from ingest.domain.errors import PayloadTooLarge
from ingest.domain.model import IntakeStatus
from ingest.entrypoints.api import _read_body, _row_error
from ingest.entrypoints.schemas import csv_file_openapi
from ingest.service_layer import payments
from ingest.service_layer.payments import Clock, PaymentReceipt, PaymentSettings
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.messaging import Bus


class PaymentNotificationAccepted(BaseModel):
    """What became of a PayPal notification: published, failed (not verified, with `reason`) or skipped."""

    intake_id: uuid.UUID | None
    status: str
    reason: str | None = None


class PaymentFileAccepted(BaseModel):
    """A payments file read and published: how many rows of each kind (payment, refund, other) it held."""

    intake_id: uuid.UUID
    status: IntakeStatus
    status_url: str
    payments: dict[str, int]


def payments_router(
    *, store: IntakeStore, bus: Bus, keys: ApiKeys, clock: Clock, verifier: PayPalVerifier,
    settings: PaymentSettings, max_body_bytes: int, publish_timeout: float, webhook_publish_timeout: float,
) -> APIRouter:
    """Routes for PayPal IPN, PayPal webhooks and PayPal activity files."""
    router = APIRouter(prefix="/payments/paypal", tags=["payments"])
    staff = require_role(keys, "ops")
    common = dict(store=store, bus=bus, clock=clock, settings=settings, max_body_bytes=max_body_bytes)

    def notification_answer(receipt: PaymentReceipt) -> JSONResponse:
        # 503 asks PayPal to send it again (it could not be verified or published now); anything else is final,
        # including a notification PayPal called INVALID: sending it again would not make it genuine.
        if receipt.status is IntakeStatus.FAILED and isinstance(receipt.rejected, PayloadTooLarge):
            code = 413  # content too large
        else:
            code = status.HTTP_503_SERVICE_UNAVAILABLE if receipt.retry_later else status.HTTP_200_OK
        body = PaymentNotificationAccepted(intake_id=receipt.intake_id, status=receipt.status.value,
                                           reason=receipt.reason)
        return JSONResponse(body.model_dump(mode="json"), status_code=code)

    @router.post("/ipn", response_model=PaymentNotificationAccepted,
                 responses={503: {"description": "Could not be verified or published now; PayPal resends it."}})
    async def receive_ipn(request: Request) -> JSONResponse:
        """A PayPal IPN (form-encoded). Stored, then verified by posting it back to PayPal, then acted on."""
        raw = await _read_body(request, limit=max_body_bytes)
        receipt = await payments.receive_ipn(headers=request.headers.items(), raw=raw, verifier=verifier,
                                             publish_timeout=webhook_publish_timeout, **common)
        return notification_answer(receipt)

    @router.post("/webhooks", response_model=PaymentNotificationAccepted,
                 responses={503: {"description": "Could not be verified or published now; PayPal resends it."}})
    async def receive_webhook(request: Request) -> JSONResponse:
        """A PayPal REST webhook (PAYMENT.CAPTURE.*, refunds), verified with PayPal's verify-webhook-signature."""
        raw = await _read_body(request, limit=max_body_bytes)
        receipt = await payments.receive_webhook(headers=request.headers.items(), raw=raw, verifier=verifier,
                                                 publish_timeout=webhook_publish_timeout, **common)
        return notification_answer(receipt)

    @router.post("/activity", status_code=status.HTTP_202_ACCEPTED, response_model=PaymentFileAccepted,
                 responses={413: {"description": "Over INGEST_MAX_BODY_BYTES; kept as failed."},
                            422: {"description": "Kept as failed, nothing published; `detail` names each bad row."},
                            503: {"description": "Stored but not published (Kafka); import it again."}},
                 openapi_extra=csv_file_openapi())
    async def import_activity(
        request: Request,
        day_first: bool | None = Query(None, description="Date order DD/MM/YYYY (default: the configured one)."),
        _: Caller = Depends(staff),
    ) -> PaymentFileAccepted | JSONResponse:
        """Import a PayPal activity download (CSV, columns found by name); the same file twice changes nothing."""
        raw = await _read_body(request, limit=max_body_bytes)
        file_settings = settings if day_first is None else PaymentSettings(
            receivers=settings.receivers, order_accounts=settings.order_accounts, day_first=day_first)
        receipt = await payments.receive_activity_csv(
            headers=request.headers.items(), raw=raw, publish_timeout=publish_timeout,
            **{**common, "settings": file_settings})
        if receipt.rejected is not None:
            code = 413 if isinstance(receipt.rejected, PayloadTooLarge) else 422
            return JSONResponse(status_code=code, content={
                "detail": [_row_error(problem) for problem in receipt.rejected.problems],
                "intake_id": str(receipt.intake_id)})
        if receipt.retry_later:
            return JSONResponse(status_code=503, content={"detail": receipt.reason, "intake_id": str(receipt.intake_id)})
        return PaymentFileAccepted(intake_id=receipt.intake_id, status=receipt.status,
                                   status_url=f"/intake/{receipt.intake_id}", payments=receipt.payments)

    return router

