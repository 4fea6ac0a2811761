"""Handlers: one async function per command."""
