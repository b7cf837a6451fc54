"""Tests of formsvc.models."""
