"""Tests for paylater_sdk.issuer.domain."""
