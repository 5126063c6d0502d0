"""Tests for paylater_sdk.signing."""
