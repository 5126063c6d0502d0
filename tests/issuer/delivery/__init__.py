"""Tests for paylater_sdk.issuer.delivery."""
