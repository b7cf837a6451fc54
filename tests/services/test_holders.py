"""Telling a dead claim holder from a live one, with real processes."""

from __future__ import annotations

import subprocess
import sys

from formsvc.services import holders


def _with(part: int, value: str) -> str:
    fields = holders.this_process().rsplit("/", 4)
    fields[part] = value
    return "/".join(fields)


def test_this_process_is_alive_and_a_finished_one_is_dead() -> None:
    me = holders.this_process()
    assert not holders.is_dead(me)
    child = subprocess.run(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-c",
            "from formsvc.services import holders; print(holders.this_process())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = child.stdout.strip()
    assert gone.rsplit("/", 4)[:3] == me.rsplit("/", 4)[:3]  # same host, boot and namespace
    assert holders.is_dead(gone)


def test_a_reused_pid_is_not_the_holder() -> None:
    assert holders.is_dead(_with(4, "1"))  # this pid, but another start time


def test_unknown_and_foreign_holders_are_left_to_the_time_limit() -> None:
    assert not holders.is_dead(None)  # a claim made before holders were recorded
    assert not holders.is_dead("")
    assert not holders.is_dead("garbage")
    assert not holders.is_dead(_with(0, "another-host"))
    assert not holders.is_dead(_with(2, "4026539999"))  # another container on this machine
    assert holders.is_dead(_with(1, "00000000-0000-0000-0000-000000000000"))  # rebooted since
