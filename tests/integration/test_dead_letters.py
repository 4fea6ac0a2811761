"""The dead-letter desk on the real broker and database: a poison message is filed with its reason, staff see it,
retry it (it fails again and is filed again) or discard it with a reason; nothing is closed twice."""

import uuid

import pytest
from aiokafka import AIOKafkaProducer

from oms_contracts import topics

pytestmark = pytest.mark.integration


async def poison(endpoints, marker: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=endpoints[0])
    await producer.start()
    try:
        await producer.send_and_wait(topics.ORDERS_COMMANDS, f"not json {marker}".encode(), key=marker.encode())
    finally:
        await producer.stop()


async def letters_with(ops, orders: str, marker: str) -> list[dict]:
    answer = await ops.get(f"{orders}/dead-letters", params={"limit": 500})
    assert answer.status_code == 200, answer.text
    return [letter for letter in answer.json() if marker in letter["value"]]


async def test_a_poison_message_is_filed_then_retried_then_discarded(system, ops, endpoints, wait_for):
    orders, marker = system.url("orders"), uuid.uuid4().hex
    await poison(endpoints, marker)

    async def filed():
        found = await letters_with(ops, orders, marker)
        return found if found else None

    [letter] = await wait_for(filed, what="the poison message in the orders service's dead letters")
    assert letter["status"] == "new"
    assert letter["topic"] == topics.ORDERS_COMMANDS and letter["key"] == marker
    assert letter["consumer_group"] == "orders"
    assert "not JSON" in letter["reason"]

    retried = await ops.post(f"{orders}/dead-letters/{letter['letter_id']}/retry", json={"reason": "try once more"})
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "retried"
    assert retried.json()["closed"]["reason"] == "try once more"

    async def filed_again():
        found = await letters_with(ops, orders, marker)
        return found if len(found) == 2 else None

    both = await wait_for(filed_again, what="the retried poison to fail and be filed again")
    [again] = [letter for letter in both if letter["status"] == "new"]

    twice = await ops.post(f"{orders}/dead-letters/{letter['letter_id']}/retry", json={"reason": "again"})
    assert twice.status_code == 409
    assert "already retried" in twice.json()["detail"]

    discarded = await ops.post(f"{orders}/dead-letters/{again['letter_id']}/discard", json={"reason": "test junk"})
    assert discarded.status_code == 200, discarded.text
    assert discarded.json()["status"] == "discarded"
    assert len(await letters_with(ops, orders, marker)) == 2  # discarding sends nothing again


async def test_an_unknown_letter_is_404_and_a_reason_is_required(system, ops):
    orders = system.url("orders")
    missing = await ops.post(f"{orders}/dead-letters/nope:0:0/discard", json={"reason": "x"})
    assert missing.status_code == 404
    no_reason = await ops.post(f"{orders}/dead-letters/nope:0:0/discard", json={})
    assert no_reason.status_code == 422
