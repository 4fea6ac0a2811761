"""Fault injection: a whole OMS under load, one fault at a time, and the invariants that must still hold."""
