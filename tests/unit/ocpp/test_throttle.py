"""The handshake's failure throttle, on a fake clock: how long refusals are held, how the
score decays, what the table remembers and who it names as failing most."""

from __future__ import annotations

import pytest

from controller.ocpp.throttle import MAX_DELAY, FailureThrottle, source_key


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_the_first_failures_are_refused_at_once_and_later_ones_held_longer_and_longer(
    clock: Clock,
) -> None:
    throttle = FailureThrottle(clock=clock)
    holds = [throttle.failed("10.0.0.9", "CP-1") for _ in range(7)]
    assert holds == [0.0, 0.0, 0.25, 0.5, 1.0, 2.0, 3.0]


def test_a_refusal_is_never_held_longer_than_the_maximum(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    holds = [throttle.failed("10.0.0.9", "CP-1") for _ in range(100)]
    assert max(holds) == MAX_DELAY
    assert MAX_DELAY < 10.0 / 2  # websockets' open timeout, with room for the round trip


def test_failures_are_forgotten_as_time_passes(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock, half_life=60.0)
    for _ in range(8):
        throttle.failed("10.0.0.9", "CP-1")
    clock.now += 60.0
    assert throttle.recent("10.0.0.9", "CP-1") == pytest.approx(4.0)
    clock.now += 10 * 60.0
    assert throttle.failed("10.0.0.9", "CP-1") == 0.0  # as good as the first failure


def test_failures_of_one_address_do_not_hold_another_addresss_refusals(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    for _ in range(20):
        throttle.failed("10.0.0.66", "CP-1")
    assert throttle.failed("10.0.0.9", "CP-1") == 0.0
    assert throttle.recent("10.0.0.9", "CP-1") == 1.0


def test_failures_of_one_identity_do_not_hold_another_identitys_refusals(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    for _ in range(20):
        throttle.failed("10.0.0.9", "CP-1")
    assert throttle.failed("10.0.0.9", "CP-2") == 0.0


def test_the_table_stays_bounded_and_forgets_the_least_recent_failures_first(
    clock: Clock,
) -> None:
    throttle = FailureThrottle(clock=clock, capacity=100)
    for _ in range(5):
        throttle.failed("10.0.0.9", "CP-1")
    for n in range(1000):
        clock.now += 0.001
        throttle.failed(f"10.1.{n // 250}.{n % 250}", f"CP-{n}")
        if n % 50 == 0:
            throttle.failed("10.0.0.9", "CP-1")  # one that keeps failing stays remembered
    assert len(throttle) == 100
    assert throttle.recent("10.1.0.0", "CP-0") == 0.0  # forgotten
    assert throttle.recent("10.1.3.249", "CP-999") == 1.0
    assert throttle.recent("10.0.0.9", "CP-1") == pytest.approx(25.0, rel=0.01)


def test_the_top_sources_are_the_addresses_failing_most_across_identities(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    for identity in ("CP-1", "CP-2", "CP-3"):
        for _ in range(4):
            throttle.failed("10.0.0.66", identity)
    throttle.failed("10.0.0.9", "CP-1")
    throttle.failed("10.0.0.9", "CP-1")
    throttle.failed("10.0.0.7", "CP-1")
    assert throttle.top_sources(2) == [("10.0.0.66", 12.0), ("10.0.0.9", 2.0)]


def test_the_top_sources_leave_out_addresses_whose_failures_have_faded(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock, half_life=60.0)
    throttle.failed("10.0.0.9", "CP-1")
    clock.now += 120.0
    assert throttle.top_sources(5) == []


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::99", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("/run/chargectl.sock", "/run/chargectl.sock"),
    ],
)
def test_an_ipv6_host_counts_as_its_64_and_anything_else_as_itself(host: str, key: str) -> None:
    assert source_key(host) == key


def test_addresses_of_one_ipv6_64_share_one_score(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    for n in range(1, 8):
        hold = throttle.failed(f"2001:db8:1:2::{n:x}", "CP-1")
    assert hold == MAX_DELAY
