"""HTTP routes for payments: staff record a payment on an order, list filed payments (the unmatched ones to match
by hand) and match one to an order. Like every route they read documents and send commands."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from oms_contracts import Message, derived_id
from oms_contracts.common import PaymentDetails
from oms_contracts.orders.v1 import CommandRejected, MatchPayment, PaymentMatchRefused, RecordPayment
from oms_platform.auth import ApiKeys, Caller, require_role
from oms_platform.documents import recorded_outcome, wait_for_outcome
from oms_platform.messaging import Bus
from orders.adapters.payments import MongoPaymentRepository
from orders.adapters.repository import MongoOrderRepository
from orders.domain.model import Order
from orders.domain.payments import PaymentEntry, PaymentState

IdempotencyKey = Header(None, max_length=100, description="Repeat a request with the same key to get its first result.")


class PaymentCreate(BaseModel):
    """A payment (or refund) staff record on an order, e.g. a bank transfer or a PayPal payment found by hand."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"transaction_id": "BACS-2026-11-29-01", "amount": "34.60", "fee": "0.00", "method": "bank_transfer"}]})

    transaction_id: str = Field(min_length=1, max_length=64)
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=4, description="What the buyer paid (or got back).")
    fee: Decimal = Field(Decimal("0"), ge=0, max_digits=14, decimal_places=4, description="What the provider took.")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="Default: the order's currency.")
    method: str = Field("manual", min_length=1, max_length=30, pattern=r"^[a-z0-9_]+$",
                        description="paypal, bank_transfer, card, cash, ...")
    kind: Literal["payment", "refund"] = "payment"
    note: str | None = Field(None, max_length=2000)


class PaymentMatch(BaseModel):
    """The order a payment belongs to."""

    model_config = ConfigDict(extra="forbid")
    order_id: uuid.UUID


class OrderPaymentsPublic(BaseModel):
    """An order's payments: paid flag, totals and every payment and refund recorded."""

    order_id: uuid.UUID
    paid: bool
    currency: str
    total: Decimal
    paid_total: Decimal
    refunded_total: Decimal
    fee_total: Decimal
    net_total: Decimal
    payments: list[dict]


class PaymentPublic(BaseModel):
    """A filed payment: its details, state (matched, unmatched, ambiguous, ...), order and candidates."""

    payment_id: uuid.UUID
    state: PaymentState
    order_id: uuid.UUID | None
    matched_by: str | None
    candidates: list[uuid.UUID]
    sources: list[str]
    statuses: list[str]
    filed_at: datetime
    payment: PaymentDetails
    history: list[dict]


class PaymentAccepted(BaseModel):
    """The command was queued; poll `status_url`."""

    command_id: uuid.UUID
    status_url: str


def payments_router(*, repo: MongoOrderRepository, payments: MongoPaymentRepository, bus: Bus, keys: ApiKeys,
                    command_timeout: float = 10.0) -> APIRouter:
    """Routes for order payments and the filed payments list."""
    router = APIRouter(tags=["payments"])
    staff = require_role(keys, "ops")

    @router.post("/orders/{order_id}/payments", response_model=OrderPaymentsPublic,
                 responses={202: {"model": PaymentAccepted}, 404: {}, 409: {}})
    async def record_payment(order_id: uuid.UUID, body: PaymentCreate, caller: Caller = Depends(staff),
                             idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Record a payment or refund on an order: a payment marks it paid and releases an unpaid park."""
        order = await _order(repo, order_id)
        gross = body.amount if body.kind == "payment" else -body.amount
        fee = -body.fee if body.kind == "payment" else body.fee
        payment = PaymentDetails(
            provider=body.method, transaction_id=body.transaction_id, kind=body.kind, status="Completed",
            currency=body.currency or order.details.currency, gross=gross, fee=fee, net=gross + fee, note=body.note,
            paid_at=datetime.now(UTC), source="staff",
        )
        command = RecordPayment(order_id=order_id, payment=payment, matched_by="staff", requested_by=caller.name)
        doc = await _send(command, key=str(order_id), idem=("record-payment", str(order_id), idempotency_key),
                          load=lambda: repo.get(order_id))
        if isinstance(doc, JSONResponse):
            return doc
        return JSONResponse(_order_payments(Order.model_validate(doc["order"])).model_dump(mode="json"))

    @router.get("/orders/{order_id}/payments", response_model=OrderPaymentsPublic)
    async def order_payments(order_id: uuid.UUID, _: Caller = Depends(staff)) -> OrderPaymentsPublic:
        """An order's payments and refunds."""
        return _order_payments(await _order(repo, order_id))

    @router.get("/payments", response_model=list[PaymentPublic])
    async def list_payments(
        state: list[PaymentState] | None = Query(None), limit: int = Query(100, ge=1, le=1000),
        _: Caller = Depends(staff),
    ) -> list[PaymentPublic]:
        """Filed payments, newest first, optionally of some states."""
        docs = await payments.list(states=[s.value for s in state] if state else None, limit=limit)
        return [_public(d) for d in docs]

    @router.get("/payments/unmatched", response_model=list[PaymentPublic])
    async def unmatched(limit: int = Query(100, ge=1, le=1000), _: Caller = Depends(staff)) -> list[PaymentPublic]:
        """Payments no order was found for, or several were (`candidates`): staff match them by hand."""
        docs = await payments.list(states=[PaymentState.UNMATCHED.value, PaymentState.AMBIGUOUS.value], limit=limit)
        return [_public(d) for d in docs]

    @router.get("/payments/{payment_id}", response_model=PaymentPublic)
    async def get_payment(payment_id: uuid.UUID, _: Caller = Depends(staff)) -> PaymentPublic:
        """One filed payment with its history."""
        doc = await payments.get(payment_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"payment {payment_id} not found")
        return _public(doc)

    @router.post("/payments/{payment_id}/match", response_model=PaymentPublic,
                 responses={202: {"model": PaymentAccepted}, 404: {}, 409: {}})
    async def match_payment(payment_id: uuid.UUID, body: PaymentMatch, caller: Caller = Depends(staff),
                            idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
        """Match an unmatched or ambiguous payment to an order: it is recorded on the order (marked paid)."""
        doc = await payments.get(payment_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"payment {payment_id} not found")
        await _order(repo, body.order_id)
        command = MatchPayment(payment_id=payment_id, order_id=body.order_id, requested_by=caller.name)
        doc = await _send(command, key=str(payment_id), idem=("match-payment", str(payment_id), idempotency_key),
                          load=lambda: payments.get(payment_id))
        if isinstance(doc, JSONResponse):
            return doc
        return JSONResponse(_public(doc).model_dump(mode="json"))

    async def _send(command: Message, *, key: str, idem: tuple, load):
        """Publish (unless handled already) and wait: the document, or a 202/409 answer."""
        event_id = derived_id("orders-api", *idem) if idem[-1] else uuid.uuid4()
        envelope = bus.envelope(command, event_id=event_id)
        doc = await load()
        if recorded_outcome(doc, event_id) is None:
            await bus.publish(envelope, key=key)
            doc = await wait_for_outcome(load, event_id, timeout=command_timeout)
        outcome = recorded_outcome(doc, event_id)
        if outcome is None:
            accepted = PaymentAccepted(command_id=event_id, status_url=f"/{'orders' if idem[0] == 'record-payment' else 'payments'}/{key}")
            return JSONResponse(accepted.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
        for published, _ in outcome:
            if isinstance(published.payload, (CommandRejected, PaymentMatchRefused)):
                return JSONResponse({"detail": published.payload.reason}, status_code=status.HTTP_409_CONFLICT)
        return doc

    return router


async def _order(repo: MongoOrderRepository, order_id: uuid.UUID) -> Order:
    doc = await repo.get(order_id)
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"order {order_id} not found")
    return Order.model_validate(doc["order"])


def _order_payments(order: Order) -> OrderPaymentsPublic:
    p = order.payments
    return OrderPaymentsPublic(
        order_id=order.order_id, paid=order.details.paid, currency=order.details.currency, total=order.details.total(),
        paid_total=p.paid_total(), refunded_total=p.refunded_total(), fee_total=p.fee_total(), net_total=p.net_total(),
        payments=[r.model_dump(mode="json") for r in p.records],
    )


def _public(doc: dict) -> PaymentPublic:
    entry = PaymentEntry.model_validate(doc["payment"])
    return PaymentPublic(**entry.model_dump(exclude={"history"}), history=[h.model_dump(mode="json") for h in entry.history])
