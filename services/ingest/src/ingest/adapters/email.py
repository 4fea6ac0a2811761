"""The follow-up after shipment: an email rendered from a Jinja2 template and sent over SMTP (aiosmtplib), or the
text of a buyer message sent through the channel."""

from email.message import EmailMessage

import aiosmtplib
from jinja2 import Environment, PackageLoader, StrictUndefined

from ingest.domain.writebacks import WriteBack

_templates = Environment(loader=PackageLoader("ingest", "templates"), undefined=StrictUndefined,
                         keep_trailing_newline=True, autoescape=False)


def follow_up_email(writeback: WriteBack, *, sender: str, tracking_url: str | None) -> EmailMessage:
    """The buyer's "your order shipped" email: subject (the template's first line), order number, tracking."""
    text = _templates.get_template("follow_up_email.txt").render(
        order=writeback.order, carrier=writeback.carrier, tracking_number=writeback.tracking_number,
        tracking_url=tracking_url)
    subject, _, body = text.lstrip().partition("\n")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = writeback.order.buyer.email
    message["Subject"] = subject.strip()
    # One Message-ID per write-back: a mail server that sees it twice (a retried send) can tell.
    message["Message-ID"] = f"<{writeback.writeback_id}@oms>"
    message.set_content(body)
    return message


def buyer_message(writeback: WriteBack) -> tuple[str, str]:
    """The follow-up as a message through the channel (eBay): (subject, body) from `buyer_message.txt`."""
    text = _templates.get_template("buyer_message.txt").render(
        order=writeback.order, carrier=writeback.carrier, tracking_number=writeback.tracking_number)
    subject, _, body = text.lstrip().partition("\n")
    return subject.strip(), body.strip()


class SmtpSender:
    """Sends follow-up emails through one SMTP server (STARTTLS and login when configured)."""

    def __init__(self, *, host: str, port: int, sender: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0,
                 tracking_url=lambda carrier, number: None) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout
        self.tracking_url = tracking_url

    async def __call__(self, writeback: WriteBack) -> None:
        """Send the follow-up email of a write-back (raises aiosmtplib errors with the server's reason)."""
        message = follow_up_email(writeback, sender=self.sender,
                                  tracking_url=self.tracking_url(writeback.carrier or "", writeback.tracking_number or ""))
        await aiosmtplib.send(message, hostname=self.host, port=self.port, username=self.username,
                              password=self.password, start_tls=self.starttls, timeout=self.timeout)
