"""Tests of the annex forms' own rules, through HTTP."""
