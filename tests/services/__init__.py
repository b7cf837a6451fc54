"""Tests for formsvc.services."""
