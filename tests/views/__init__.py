"""Tests of formsvc.views."""
