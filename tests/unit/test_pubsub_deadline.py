"""``sync.adapters.pubsub.Deadline``: every try of one Publish call gets the time left, not the timeout again."""

import pytest
from google.api_core import exceptions as gexc

from sync.adapters.pubsub import Deadline


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_try_gets_the_time_left_until_the_deadline():
    clock = Clock()
    timeouts = []

    def rpc(timeout):
        timeouts.append(timeout)
        clock.now += 3.5  # each try takes 3.5 s and fails
        raise gexc.ServiceUnavailable("down")

    call = Deadline(10, clock)(rpc)  # api_core applies the decorator once per call
    for _ in range(4):
        with pytest.raises(gexc.ServiceUnavailable):
            call()
    # 10, then 6.5, then 3.0; past the deadline a try gets a millisecond (and fails at once), never
    # the whole timeout again (api_core's TimeToDeadlineTimeout gives 10 once less than 1 s is left).
    assert timeouts == [10, 6.5, 3.0, 0.001]


def test_a_new_call_has_a_deadline_of_its_own():
    clock = Clock()
    deadline = Deadline(10, clock)
    seen = []
    first = deadline(lambda timeout: seen.append(timeout))
    clock.now += 8
    second = deadline(lambda timeout: seen.append(timeout))
    first()
    second()
    assert seen == [2, 10]

