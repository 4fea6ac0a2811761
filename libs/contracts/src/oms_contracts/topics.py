"""Every Kafka topic name. Topics are `oms.<context>.events|commands`; dead letters go to `<topic>.dlq`."""

INGEST_EVENTS = "oms.ingest.events"
INGEST_COMMANDS = "oms.ingest.commands"
ORDERS_COMMANDS = "oms.orders.commands"
ORDERS_EVENTS = "oms.orders.events"
INVENTORY_COMMANDS = "oms.inventory.commands"
INVENTORY_EVENTS = "oms.inventory.events"
FULFILMENT_COMMANDS = "oms.fulfilment.commands"
FULFILMENT_EVENTS = "oms.fulfilment.events"
PRINTING_COMMANDS = "oms.printing.commands"
PRINTING_EVENTS = "oms.printing.events"
DEAD_LETTER_COMMANDS = "oms.platform.deadletters"

MAIN_TOPICS = (
    INGEST_EVENTS,
    INGEST_COMMANDS,
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    INVENTORY_COMMANDS,
    INVENTORY_EVENTS,
    FULFILMENT_COMMANDS,
    FULFILMENT_EVENTS,
    PRINTING_COMMANDS,
    PRINTING_EVENTS,
    DEAD_LETTER_COMMANDS,
)


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return f"{topic}.dlq"


ALL_TOPICS = MAIN_TOPICS + tuple(dlq(t) for t in MAIN_TOPICS)
