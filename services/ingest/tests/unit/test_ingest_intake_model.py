"""The intake record and the generic order normaliser: pure rules, no I/O."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from ingest.domain.errors import PayloadRejected, PayloadTooLarge
from ingest.domain.model import IntakeKind, IntakeStatus, new_intake, read_body, safe_headers
from ingest.domain.normalise import normalise

RECEIVED_AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def intake_of(body, channel="demo_shop"):
    raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    intake, _ = new_intake(intake_id=uuid.uuid4(), kind=IntakeKind.ORDER, channel=channel, headers=[], raw=raw,
                           received_at=RECEIVED_AT, limit=100_000)
    return intake


def problem_locs(excinfo) -> list[list]:
    return [list(problem.loc) for problem in excinfo.value.problems]


class TestHeadersKept:
    def test_credentials_are_never_kept(self):
        kept = safe_headers([
            ("authorization", "Bearer abc"), ("Cookie", "s=1"), ("x-api-key", "k"), ("X-Shopify-Access-Token", "t"),
            ("x-webhook-secret", "s"), ("proxy-authorization", "Basic x"),
        ])
        assert kept == []

    def test_other_headers_are_kept_in_order_with_repeats(self):
        headers = [("content-type", "application/json"), ("x-shopify-hmac-sha256", "c2ln"), ("via", "a"),
                   ("via", "b")]
        assert safe_headers(headers) == headers


class TestBodyRead:
    def test_utf8_text_is_kept_verbatim(self):
        assert read_body("{ \"name\": \"Chloé\" }".encode(), limit=1000) == ("{ \"name\": \"Chloé\" }", None)

    def test_a_body_over_the_limit_is_refused_and_its_start_kept(self):
        body, problem = read_body(b"x" * 2001, limit=2000)
        assert isinstance(problem, PayloadTooLarge) and "larger than 2000 bytes" in problem.reason
        assert body == "x" * 2001

    def test_a_body_that_is_not_utf8_is_refused_saying_where(self):
        body, problem = read_body(b'{"a": "\xff"}', limit=1000)
        assert "not UTF-8" in problem.reason and "at byte 7" in problem.reason
        assert body == '{"a": "\ufffd"}'

    def test_an_unreadable_body_starts_as_failed_with_its_reason(self):
        intake, problem = new_intake(intake_id=uuid.uuid4(), kind=IntakeKind.ORDER, channel="demo_shop",
                                     headers=[], raw=b"\xff", received_at=RECEIVED_AT, limit=1000)
        assert intake.status is IntakeStatus.FAILED and intake.error == problem.reason


class TestGenericOrderNormaliser:
    def test_a_valid_body_gives_the_order(self, order_payload):
        normalised = normalise(intake_of(order_payload(order_number="DEMO-7")))
        assert normalised.order.order_number == "DEMO-7" and normalised.order.lines[0].quantity == 2
        assert type(normalised.order).__name__ == "OrderDetails"

    def test_channel_updated_at_defaults_to_when_the_payload_arrived(self, order_payload):
        assert normalise(intake_of(order_payload())).channel_updated_at == RECEIVED_AT

    def test_channel_updated_at_is_taken_from_the_body(self, order_payload):
        normalised = normalise(intake_of(order_payload(channel_updated_at="2026-11-27T18:30:00+01:00")))
        assert normalised.channel_updated_at == datetime(2026, 11, 27, 17, 30, tzinfo=UTC)

    def test_a_channel_updated_at_without_a_timezone_is_refused(self, order_payload):
        with pytest.raises(PayloadRejected) as excinfo:
            normalise(intake_of(order_payload(channel_updated_at="2026-11-27T18:30:00")))
        assert problem_locs(excinfo) == [["body", "channel_updated_at"]]

    def test_a_body_for_another_channel_is_refused_naming_both(self, order_payload):
        with pytest.raises(PayloadRejected) as excinfo:
            normalise(intake_of(order_payload(channel="ebay"), channel="demo_shop"))
        assert problem_locs(excinfo) == [["body", "channel"]]
        assert excinfo.value.reason == (
            "channel: channel 'ebay' in the body does not match channel 'demo_shop' in the path"
        )

    def test_an_invalid_field_is_named(self, order_payload):
        body = order_payload()
        body["lines"][0]["quantity"] = 0
        with pytest.raises(PayloadRejected) as excinfo:
            normalise(intake_of(body))
        assert problem_locs(excinfo) == [["body", "lines", 0, "quantity"]]
        assert excinfo.value.reason.startswith("lines.0.quantity: ")

    @pytest.mark.parametrize("body", ["{not json", "[1, 2]", ""])
    def test_a_body_that_is_not_a_json_object_is_refused(self, body):
        with pytest.raises(PayloadRejected) as excinfo:
            normalise(intake_of(body))
        assert problem_locs(excinfo) == [["body"]]

    def test_normalising_the_same_intake_twice_gives_the_same_order(self, order_payload):
        intake = intake_of(order_payload())
        assert normalise(intake) == normalise(intake)
