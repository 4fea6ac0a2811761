"""Plumbing shared by every OMS service; no domain rules live here."""
