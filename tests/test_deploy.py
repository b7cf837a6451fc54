"""Deployment settings: the rate-limit storage, gunicorn's configuration from the environment."""

from __future__ import annotations

from typing import Any

import pytest

from formsvc import create_app


@pytest.mark.parametrize(
    "uri", ["mongodb://admin:hunter2@db.example/x", "memcached://127.0.0.1", "redis", "", "memory:"]
)
def test_a_rate_limit_storage_other_than_memory_or_redis_refuses_to_start(
    config: dict[str, Any], uri: str
) -> None:
    with pytest.raises(RuntimeError, match="RATELIMIT_STORAGE_URI must be") as exc:
        create_app({**config, "RATELIMIT_STORAGE_URI": uri})
    assert "hunter2" not in str(exc.value)
