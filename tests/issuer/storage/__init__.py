"""Tests for paylater_sdk.issuer.storage."""
