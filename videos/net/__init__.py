"""Outbound network helpers shared by everything that calls a user-given URL."""
