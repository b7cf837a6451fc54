"""`make run`'s Procfile under honcho: web, worker, beat and a private Redis come up together
and Ctrl-C (SIGINT to the terminal's process group) stops every one of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis
import requests

from tests.jobs import ROOT, celery_config, free_port, wait_until

VENV = Path(sys.executable).parent.parent


def descendants(pid: int) -> set[int]:
    """Every live process below *pid* (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_honcho_starts_web_worker_beat_and_redis_and_ctrl_c_stops_them_all(
    config: dict[str, Any], tmp_path: Path
) -> None:
    web_port, redis_port = free_port(), free_port()
    broker = f"redis://127.0.0.1:{redis_port}/0"
    settings = celery_config(config, broker, CONVERTER_SOFFICE="/nonexistent/soffice")
    instance = tmp_path / "instance"
    (instance / "redis").mkdir(parents=True, mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORMSVC_")}
    env.update({f"FORMSVC_{key}": json.dumps(value) for key, value in settings.items()})
    env.update(
        FORMSVC_INSTANCE_PATH=str(instance),
        VENV=str(VENV),
        WEB_PORT=str(web_port),
        REDIS_PORT=str(redis_port),
        PYTHONPATH=str(ROOT),
    )
    log = tmp_path / "honcho.log"
    with log.open("wb") as out:
        honcho = subprocess.Popen(
            [str(VENV / "bin" / "honcho"), "start", "-f", "Procfile"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    processes: set[int] = set()
    try:

        def web_up() -> bool:
            assert honcho.poll() is None, log.read_text()[-3000:]
            try:
                return requests.get(f"http://127.0.0.1:{web_port}/login", timeout=2).ok
            except requests.ConnectionError:
                return False

        wait_until("the web answers", web_up, timeout=90)
        client = redis.Redis.from_url(broker, socket_timeout=2)
        # the worker (no -Q) consumes mail: /readyz counts it
        mail = f"{settings['QUEUE_KEY_PREFIX']}heartbeats:mail"
        wait_until("the worker's heartbeat", lambda: client.zcard(mail), 90)
        wait_until("beat runs", lambda: "beat: Starting" in log.read_text(errors="replace"), 60)
        client.close()
        processes = descendants(honcho.pid)
        assert len(processes) >= 4  # redis, web, worker (+ its pool), beat

        os.killpg(honcho.pid, signal.SIGINT)  # Ctrl-C in the terminal
        assert honcho.wait(timeout=60) is not None
        wait_until(
            "every process has ended",
            lambda: not [p for p in processes if alive(p)],
            timeout=30,
        )
        output = log.read_text(errors="replace")
        for name in ("redis", "web", "worker", "beat"):
            assert f"{name}.1" in output
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait(timeout=10)
        for pid in processes:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
