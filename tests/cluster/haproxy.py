"""HAProxy (Debian's) in front of app instances, on loopback: the config the tests run with.

What a request may be retried on (the decision of issue 15, test 3): HAProxy retries any request
whose connection to a server failed (it never reached the app: safe), and a GET or HEAD whose
server died or sent garbage before answering (`empty-response`, `junk-response`: a GET changes
nothing). Every other method — POST above all: saving a form, signing — is never sent a second
time (`disable-l7-retry`): the client gets HAProxy's 502 and the database holds the request's
work either once (it committed before the server died) or not at all. No idempotency key on the
forms: the forms that matter are already idempotent in the app (a signature request is signed
once; a second POST finds it signed), and a key would not make a lost answer visible either.
`option redispatch`: a retry goes to another server, not to the dead one again.
"""

from __future__ import annotations

import contextlib
import csv
import io
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.processes import free_port, stop, wait_for

#: A header only the tests' config knows: it pins a request to one server (a or b) while that
#: server is up; with the server down, HAProxy balances (and redispatches) as usual.
PIN = "X-Cluster-Server"
#: requests HAProxy lets each instance hold at once, pages and PDFs apart; more wait in its
#: queue. Together below gunicorn's threads (THREADS), so a health check always finds one free.
APP_SLOTS, PDF_SLOTS = 4, 2
THREADS = 8


def config_text(
    port: int, stats_port: int, servers: Sequence[tuple[str, int]], check_path: str
) -> str:
    """haproxy.cfg for *servers* ((name, port) on 127.0.0.1) behind 127.0.0.1:*port*."""
    lines = [
        "global",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        # a client has 10 s to send its request head: an idle or dribbling connection holds
        # a slot of HAProxy's (thousands), never a thread of the app's
        "    timeout http-request 10s",
        "    timeout http-keep-alive 5s",
        "    timeout client 30s",
        "    timeout connect 2s",
        # above the tests' converter timeout and gunicorn's, so the app's own message comes back
        "    timeout server 150s",
        "    timeout queue 30s",
        "    timeout check 2s",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response junk-response",
        "    option forwardfor",
        "frontend web",
        f"    bind 127.0.0.1:{port}",
        "    maxconn 2000",
        # PDFs (previews, downloads) get slots of their own on each server: however many wait
        # for a converter, the other pages and the health checks still find a free thread
        "    use_backend pdf if { path_end .pdf }",
        "    default_backend app",
    ]
    for backend, maxconn in (("app", APP_SLOTS), ("pdf", PDF_SLOTS)):
        lines += [
            f"backend {backend}",
            "    balance roundrobin",
            # only a request that never reached a server is retried unless it is a GET or HEAD
            "    http-request disable-l7-retry if !METH_GET",
        ]
        if backend == "app":
            lines += [
                "    option httpchk",
                f"    http-check send meth GET uri {check_path}",
                "    http-check expect status 200",
                "    default-server check inter 500ms fall 2 rise 2",
            ]
        pins = [f"    use-server {n} if {{ req.hdr({PIN}) -m str {n} }}" for n, _ in servers]
        lines += pins
        for name, p in servers:
            health = "" if backend == "app" else f" track app/{name}"
            lines.append(f"    server {name} 127.0.0.1:{p} maxconn {maxconn}{health}")
    lines += [
        "listen stats",
        f"    bind 127.0.0.1:{stats_port}",
        "    stats enable",
        "    stats uri /stats",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class HAProxy:
    proc: subprocess.Popen[bytes]
    url: str
    stats_url: str
    log: Path

    def servers(self, backend: str = "app") -> dict[str, dict[str, str]]:
        """The stats row of each server of *backend* (status, scur, …), by name."""
        text = requests.get(f"{self.stats_url};csv", timeout=5).text.lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {
            r["svname"]: r
            for r in rows
            if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND")
        }

    def total(self, name: str, *columns: str) -> int:
        """The sum of *columns* of server *name* over both backends."""
        rows = [self.servers(backend)[name] for backend in ("app", "pdf")]
        return sum(int(row[c] or 0) for row in rows for c in columns)

    def up(self, *names: str) -> bool:
        servers = self.servers()
        return all(servers[n]["status"] == "UP" for n in names)


@contextlib.contextmanager
def haproxy(folder: Path, servers: Sequence[tuple[str, int]], check_path: str) -> Iterator[HAProxy]:
    """HAProxy balancing over *servers*, started in the foreground; stopped on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    port, stats_port = free_port(), free_port()
    cfg = folder / "haproxy.cfg"
    cfg.write_text(config_text(port, stats_port, servers, check_path))
    check = subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], capture_output=True, timeout=10)
    assert check.returncode == 0, check.stderr.decode(errors="replace")
    log = folder / "haproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["haproxy", "-db", "-f", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lb = HAProxy(proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stats_port}/stats", log)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"haproxy exited {proc.returncode}:\n{log.read_text()}")
            try:
                return lb.up(*(name for name, _ in servers))
            except requests.ConnectionError:
                return False

        wait_for(ready, 20, "haproxy with every server up")
        yield lb
    finally:
        stop(proc, grace=5)
