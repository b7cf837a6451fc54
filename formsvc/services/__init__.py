"""Use cases: plain functions and classes taking plain values, never flask.request."""
