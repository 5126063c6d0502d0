"""Notifications: the outbox written with each state change, and the background work that
delivers them and sweeps expiries."""
