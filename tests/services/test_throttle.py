"""The lockout over time, with the clock passed in (no test waits for a lockout to end)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from formsvc.models import User
from formsvc.services import throttle
from formsvc.services.audit import Origin
from tests.conftest import PASSWORD, World

T0 = datetime(2026, 12, 7, 9, 0, 0)
POLICY = throttle.Policy(
    account_failures=5,
    address_failures=1000,
    address_window=timedelta(minutes=15),
    lockout=timedelta(seconds=60),
    lockout_max=timedelta(seconds=600),
    memory=timedelta(hours=24),
)


def attempt(
    user: User | None,
    password: str,
    at: datetime,
    *,
    ip: str = "192.0.2.1",
    policy: throttle.Policy = POLICY,
    name: str = "caseworker",
) -> throttle.Outcome:
    return throttle.check_password(
        user,
        user.username if user else name,
        password,
        origin=Origin(ip=ip),
        policy=policy,
        failure=throttle.Failure.of_user("login_failed", user),
        now=at,
    )


def test_the_lockout_doubles_with_each_failure_up_to_the_maximum(world: World) -> None:
    user = world.users["caseworker"]
    at = T0
    for _ in range(4):
        assert attempt(user, "fel", at).retry_after == timedelta(0)
        at += timedelta(seconds=1)
    waits = []
    for _ in range(6):
        outcome = attempt(user, "fel", at)
        assert not outcome.ok and not outcome.refused
        waits.append(int(outcome.retry_after.total_seconds()))
        # while it lasts nothing is checked, not even the right password
        almost = at + outcome.retry_after - timedelta(seconds=1)
        assert attempt(user, PASSWORD, almost).refused
        at += outcome.retry_after
    assert waits == [60, 120, 240, 480, 600, 600]
    assert attempt(user, PASSWORD, at).ok  # after the last lockout: the right password works
    assert attempt(user, "fel", at).retry_after == timedelta(0)  # and the count starts again


def test_failures_are_forgotten_after_a_quiet_day(world: World) -> None:
    user = world.users["caseworker"]
    for i in range(4):
        attempt(user, "fel", T0 + timedelta(minutes=i))
    later = T0 + timedelta(hours=25)
    assert attempt(user, "fel", later).retry_after == timedelta(0)  # the first of a new run


def test_an_unknown_name_is_locked_like_a_real_one(world: World) -> None:
    for i in range(4):
        assert attempt(None, "fel", T0 + timedelta(seconds=i), name="okand").retry_after == (
            timedelta(0)
        )
    fifth = attempt(None, "fel", T0 + timedelta(seconds=5), name="OKAND")
    assert fifth.retry_after == timedelta(seconds=60)
    assert attempt(None, "fel", T0 + timedelta(seconds=6), name="okand").refused


def test_an_address_is_locked_for_its_window_then_counts_afresh(world: World) -> None:
    policy = replace(POLICY, address_failures=3)
    names = iter(f"namn{i}" for i in range(20))

    def spray(at: datetime) -> throttle.Outcome:
        return attempt(None, "fel", at, ip="198.51.100.1", policy=policy, name=next(names))

    for i in range(3):
        assert not spray(T0 + timedelta(seconds=i)).refused
    blocked = spray(T0 + timedelta(minutes=14))
    assert blocked.refused and blocked.by_address
    user = world.users["caseworker"]
    assert attempt(
        user, PASSWORD, T0 + timedelta(minutes=14), ip="198.51.100.1", policy=policy
    ).refused
    assert attempt(user, PASSWORD, T0 + timedelta(minutes=14), ip="198.51.100.2", policy=policy).ok
    after = T0 + timedelta(minutes=16)
    for i in range(3):
        assert not spray(after + timedelta(seconds=i)).refused
    assert spray(after + timedelta(seconds=5)).by_address


def test_a_long_first_lockout_doubled_forty_times_stays_at_the_maximum() -> None:
    # 600 s · 2**40 is past timedelta's range: the login page answered 500 (found in issue 15)
    policy = throttle.Policy.from_settings(
        {
            "LOGIN_ACCOUNT_FAILURES": 3,
            "LOGIN_ADDRESS_FAILURES": 30,
            "LOGIN_ADDRESS_WINDOW_SECONDS": 900,
            "LOGIN_LOCKOUT_SECONDS": 600,
            "LOGIN_LOCKOUT_MAX_SECONDS": 3600,
            "LOGIN_FAILURE_MEMORY_SECONDS": 86400,
        }
    )
    assert [policy.lockout_after(n).total_seconds() for n in (2, 3, 4, 50)] == [0, 600, 1200, 3600]
