"""Slower tests: parallel HTTP requests, real processes killed mid-work (run by `make test`)."""
