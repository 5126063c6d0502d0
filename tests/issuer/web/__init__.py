"""Tests for paylater_sdk.issuer.web."""
