"""Slower tests: many parallel HTTP requests, real processes killed mid-work (run by `make test`)."""
