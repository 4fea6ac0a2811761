"""The fault drill's phases keep their stock and orders apart."""

import re

from oms_devtools.faults.__main__ import DEFAULT, FAULTS, phase_tag


def test_every_fault_has_its_own_tag_of_capitals_and_digits():
    tags = [phase_tag(name) for name in FAULTS]
    assert len(set(tags)) == len(tags)
    assert all(re.fullmatch(r"[A-Z0-9]+", tag) for tag in tags)  # the spool's order-number pattern relies on it


def test_the_default_drill_names_only_known_faults():
    assert set(DEFAULT.split(",")) <= set(FAULTS)


def test_the_outages_past_the_poll_interval_are_known_but_not_in_the_default_drill():
    long_outages = {"database-outage-330s", "kafka-outage-330s"}
    assert long_outages <= set(FAULTS) and not long_outages & set(DEFAULT.split(","))
