"""Tests for paylater_sdk.client."""
