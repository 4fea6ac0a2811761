"""The drill's channel retries: every webhook not answered 2xx is delivered again until it is, and no more."""

import time

from oms_devtools.faults.__main__ import FAULTS, redeliver_refused
from oms_devtools.faults.harness import Sent, Webhook


def webhook(n: int) -> Webhook:
    return Webhook(channel_order_id=str(n), order_number=f"#T-{n}", raw=b"{}", headers={"X-Shopify-Webhook-Id": f"d{n}"})


class DownThenUp:
    """Stands in for the harness's post: refuses each delivery of a webhook `refusals[id]` times, then accepts."""

    def __init__(self, refusals: dict[str, int]) -> None:
        self.refusals = refusals
        self.posted: list[str] = []

    async def post(self, http, hook: Webhook) -> Sent:
        self.posted.append(hook.channel_order_id)
        sent = Sent(hook, time.time())
        if self.refusals.get(hook.channel_order_id, 0) > 0:
            self.refusals[hook.channel_order_id] -= 1
            sent.status, sent.error = 503, "down"
        else:
            sent.status, sent.outcome = 200, "duplicate"
        return sent


async def test_refused_webhooks_are_delivered_again_until_accepted_and_accepted_ones_never():
    first = [Sent(webhook(1), 0, status=200, outcome="published"), Sent(webhook(2), 0, error="ConnectError"),
             Sent(webhook(3), 0, status=500, error="boom")]
    harness = DownThenUp({"2": 2, "3": 0})
    sent = list(first)
    await redeliver_refused(harness, sent, deadline=time.monotonic() + 30, every=0.01)
    assert sorted(harness.posted) == ["2", "2", "2", "3"]
    accepted = {s.webhook.channel_order_id for s in sent if s.accepted}
    assert accepted == {"1", "2", "3"}


async def test_redelivery_stops_at_the_deadline():
    harness = DownThenUp({"1": 10**6})
    sent = [Sent(webhook(1), 0, error="ConnectError")]
    began = time.monotonic()
    await redeliver_refused(harness, sent, deadline=time.monotonic() + 0.2, every=0.05)
    assert time.monotonic() - began < 5 and not any(s.accepted for s in sent)


def test_only_the_phases_that_lose_answers_redeliver():
    redelivering = {name for name, fault in FAULTS.items() if fault.channel_retries}
    assert redelivering == {"crash-ingest-after-store", "crash-ingest-after-publish", "database-outage-90s",
                            "kafka-outage-90s", "database-outage-330s", "kafka-outage-330s"}
