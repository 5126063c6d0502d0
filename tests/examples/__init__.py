"""Tests for the reference shop (examples/merchant_flask)."""
