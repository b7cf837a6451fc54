"""Issue 15, test 6: 200 idle connections from one client do not stop other users.

HAProxy holds them (it has thousands of slots and opens a server connection only for a whole
request head); the app's threads never see them. Half of them send half a request, the other
half nothing at all.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack
from urllib.parse import urlsplit

import requests

from tests.cluster.conftest import Cluster


def test_200_idle_connections_from_one_client_do_not_stop_other_users(cluster: Cluster) -> None:
    where = urlsplit(cluster.lb.url)
    address = (where.hostname or "", int(where.port or 0))
    with ExitStack() as stack:
        for i in range(200):
            sock = stack.enter_context(socket.create_connection(address, timeout=5))
            if i % 2:  # a slow client: the request line and one header, then silence
                sock.sendall(b"GET /login HTTP/1.1\r\nHost: formsvc\r\n")
        for name in ("a", "b", "a", "b"):
            r = requests.get(cluster.url("/login"), headers=cluster.pin(name), timeout=10)
            assert r.status_code == 200
            assert 'name="password"' in r.text
        # the idle ones never reached an app instance
        assert cluster.in_flight("a") + cluster.in_flight("b") <= 2
