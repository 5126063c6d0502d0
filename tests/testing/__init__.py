"""Tests for paylater_sdk.testing."""
