"""Runnable examples built on the public paylater-sdk API (not shipped in the wheel)."""
