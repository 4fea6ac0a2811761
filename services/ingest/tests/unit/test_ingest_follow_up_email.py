"""The follow-up email: rendered from its template, sent to a real SMTP server (aiosmtpd) over SMTP."""

import socket
import uuid
from datetime import UTC, datetime
from email import message_from_bytes

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller

from ingest.adapters.email import SmtpSender, buyer_message, follow_up_email
from ingest.domain.writebacks import WriteBack
from oms_platform.testing import sample_order_details


def shipped(**details) -> WriteBack:
    now = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    order = sample_order_details(order_number="#1021", **details)
    return WriteBack(writeback_id=uuid.uuid4(), order_id=uuid.uuid4(), action="follow_up", channel=order.channel,
                     channel_order_id=order.channel_order_id, order=order, carrier="Royal Mail",
                     tracking_number="OM123456785GB", shipped_at=now, created_at=now)


class Inbox:
    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


class TestFollowUpEmail:
    def test_names_the_order_the_carrier_and_the_tracking_link(self):
        message = follow_up_email(shipped(), sender="shop@example.com", tracking_url="https://t.example/OM123456785GB")
        body = message.get_content()
        assert message["Subject"] == "Your order #1021 is on its way"
        assert message["To"] == "ada@example.org" and message["From"] == "shop@example.com"
        assert "Tracking number: OM123456785GB" in body and "https://t.example/OM123456785GB" in body
        assert "2 × Blue mug" in body and "Hello Ada Lovelace" in body

    def test_no_link_line_without_a_tracking_url(self):
        assert "Follow your parcel" not in follow_up_email(shipped(), sender="s@x.org", tracking_url=None).get_content()

    async def test_arrives_at_a_real_smtp_server(self, smtp):
        inbox, port = smtp
        send = SmtpSender(host="127.0.0.1", port=port, sender="shop@example.com",
                          tracking_url=lambda carrier, number: f"https://t.example/{number}")
        await send(shipped())
        [envelope] = inbox.messages
        assert envelope.rcpt_tos == ["ada@example.org"] and envelope.mail_from == "shop@example.com"
        text = message_from_bytes(envelope.content).get_payload(decode=True).decode()
        assert "#1021" in text and "https://t.example/OM123456785GB" in text

    async def test_an_unreachable_server_raises(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(aiosmtplib.SMTPConnectError):
            await SmtpSender(host="127.0.0.1", port=port, sender="s@x.org", timeout=2)(shipped())


class TestBuyerMessage:
    def test_subject_and_body_name_the_order_carrier_and_tracking_number_without_links(self):
        subject, body = buyer_message(shipped())
        assert subject == "Your order #1021 has shipped"
        assert "Royal Mail" in body and "OM123456785GB" in body and "http" not in body
        assert body.startswith("Hello ") and len(subject) <= 80
