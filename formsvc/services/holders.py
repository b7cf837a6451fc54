"""Who holds a claim: this process, named so that another process can tell it has died.

A name is ``host/boot/pid-namespace/pid/start``: the start time (from /proc) tells a live
process from a later one that reuses its pid, the boot id tells a reboot, the pid namespace a
container on the same host. Only a holder on *this* host (same boot, same namespace) can be
declared dead; anywhere else the answer is "don't know", and the caller falls back to a time
limit (FINALISE_STALE_MINUTES). See docs/adr/012-serialised-appends-and-dead-claims.md.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path

PROC = Path("/proc")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _start_and_state(pid: int) -> tuple[str, str] | None:
    """(start time in clock ticks since boot, state letter) of *pid*; None if no such process."""
    stat = _read(PROC / str(pid) / "stat")
    if not stat:
        return None
    # "pid (comm) state ppid ... starttime(22nd field)"; comm may hold spaces and parentheses
    fields = stat.rsplit(")", 1)[-1].split()
    return (fields[19], fields[0]) if len(fields) > 19 else None


def _namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        return ""


@cache
def this_process() -> str:
    """The name of this process as a claim holder (at most 200 characters)."""
    pid = os.getpid()
    started = _start_and_state(pid)
    boot = _read(PROC / "sys" / "kernel" / "random" / "boot_id")
    name = f"{socket.gethostname()}/{boot}/{_namespace()}/{pid}/{started[0] if started else ''}"
    return name[-200:]


def _alive_without_proc(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def is_dead(holder: str | None) -> bool:
    """True only when *holder* certainly runs no more; unknown or foreign holders are not dead."""
    if not holder:
        return False  # a claim from before holders were recorded: only the time limit frees it
    try:
        host, boot, namespace, pid_text, start = holder.rsplit("/", 4)
        pid = int(pid_text)
    except ValueError:
        return False
    me_host, me_boot, me_namespace, _pid, _start = this_process().rsplit("/", 4)
    if host != me_host:
        return False  # another machine: we cannot see its processes
    if boot and me_boot and boot != me_boot:
        return True  # this machine restarted since: every process of then is gone
    if namespace != me_namespace:
        return False  # another container on this machine: its pids are not ours
    if not start or not PROC.is_dir():
        return not _alive_without_proc(pid)
    now = _start_and_state(pid)
    if now is None:
        return True
    started, state = now
    return started != start or state in ("Z", "X")  # reused pid, or a corpse not yet reaped
