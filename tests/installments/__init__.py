"""Tests for paylater_sdk.installments."""
