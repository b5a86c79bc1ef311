import pytest

from sync.kernel.throttle import DEFAULT_COOLDOWN, UserThrottle


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_a_burst_is_spaced_to_the_rate():
    clock = Clock()
    throttle = UserThrottle(per_minute=60, burst=3, clock=clock)
    waits = [throttle.reserve("u") for _ in range(6)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3:] == pytest.approx([1.0, 2.0, 3.0])  # one a second after the burst
    clock.t += 10
    assert throttle.reserve("u") == 0


def test_users_do_not_share_a_bucket():
    throttle = UserThrottle(per_minute=60, burst=1, clock=Clock())
    assert throttle.reserve("a") == 0 and throttle.reserve("b") == 0
    assert throttle.reserve("a") > 0


def test_retry_after_cools_a_user_down():
    clock = Clock()
    throttle = UserThrottle(per_minute=600, burst=10, clock=clock)
    throttle.cool_down("u", 30)
    assert throttle.reserve("u") == pytest.approx(30)
    throttle.cool_down("v", None)
    assert throttle.reserve("v") == pytest.approx(DEFAULT_COOLDOWN)
    clock.t += 31
    assert throttle.reserve("u") == 0


def test_a_call_not_made_is_given_back():
    throttle = UserThrottle(per_minute=60, burst=1, clock=Clock())
    throttle.reserve("u")
    throttle.give_back("u")
    assert throttle.reserve("u") == 0


def test_bulk_takes_keep_the_bucket_table_bounded_too(monkeypatch):
    from sync.kernel import throttle as module

    monkeypatch.setattr(module, "_MAX_USERS", 3)
    t = UserThrottle(600, 10, clock=lambda: 100.0)
    for user in ("a", "b", "c", "d", "e"):
        assert t.try_take(user, keep=3) == 0
    assert list(t.buckets) == ["c", "d", "e"]


def test_background_work_takes_a_bulk_turn_or_hands_the_wait_to_pub_sub():
    from sync.kernel.errors import Retryable

    clock = Clock()
    throttle = UserThrottle(per_minute=60, burst=4, clock=clock)  # 2 of the 4 kept for live changes
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock.t += seconds

    throttle.take_bulk_turn("u", 0, sleep)  # tokens above the live reserve: taken at once
    throttle.take_bulk_turn("u", 0, sleep)
    assert slept == []
    with pytest.raises(Retryable) as held:  # only the live reserve is left: not for background work
        throttle.take_bulk_turn("u", 0.5, sleep)
    assert held.value.reason == "throttled" and held.value.retry_after == pytest.approx(1.0)
    throttle.take_bulk_turn("u", 5, sleep)  # a wait within the bound is taken in place
    assert sum(slept) <= 5 and slept
