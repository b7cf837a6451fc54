"""Issue 15, test 2: the login and /verify limits hold across both instances behind HAProxy.

The /verify limit counts in the shared Redis, the login lockout in the shared database; the
client address is the one HAProxy saw (`option forwardfor`, PROXY_FIX_X_FOR = 1), so a client
naming other addresses in X-Forwarded-For is still counted as itself.
"""

from __future__ import annotations

import redis
import requests
from flask import Flask

from formsvc.services import users
from tests.cluster.conftest import Cluster
from tests.conftest import PASSWORD
from tests.views.test_login_throttle import LOCKED, WRONG


def verify(cluster: Cluster, name: str, forged: str | None = None) -> int:
    """An empty /verify upload through HAProxy to instance *name*: refused (200), but counted."""
    headers = cluster.pin(name)
    if forged is not None:
        headers["X-Forwarded-For"] = forged
    return requests.post(cluster.url("/verify"), headers=headers, timeout=10).status_code


def login(cluster: Cluster, name: str, password: str) -> str:
    data = {"username": "anna", "password": password}
    r = requests.post(cluster.url("/login"), data=data, headers=cluster.pin(name), timeout=10)
    return r.text


def test_login_and_verify_limits_hold_across_both_instances(app: Flask, cluster: Cluster) -> None:
    forged = ["203.0.113.7", "10.0.0.1, 198.51.100.2", "127.0.0.2", "x" * 300, "::1"]
    statuses = [verify(cluster, n, f) for n, f in zip("abab", forged, strict=False)]
    assert statuses == [200, 200, 200, 200]
    # the fifth and sixth, on either instance and under any claimed address, are refused
    assert verify(cluster, "a", forged[4]) == 429
    assert verify(cluster, "b") == 429
    # and nothing but the proxy's view of the client counted: one address in Redis
    keys = redis.Redis(port=cluster.redis.port).keys("*")
    assert keys and all(b"203.0.113" not in k and b"198.51.100" not in k for k in keys)

    users.create_user(
        username="anna", full_name="Anna", role="analyst", password=PASSWORD, district_id=None
    )
    assert LOCKED not in login(cluster, "a", WRONG)
    assert LOCKED not in login(cluster, "b", WRONG)
    assert LOCKED in login(cluster, "a", WRONG)  # the third failure, on A, locks the name …
    assert LOCKED in login(cluster, "b", PASSWORD)  # … on B too: the right password is refused
