"""`vmfleet.each_host.on_each`: every item's outcome in order, at once, one failure costing the others nothing."""

from __future__ import annotations

import threading
import time

import pytest

from vmfleet.each_host import PARALLEL_HOSTS, on_each


def test_outcomes_come_in_the_items_order_with_each_failure_its_own() -> None:
    def work(item: int) -> int:
        time.sleep(0.05 * (5 - item))  # later items finish first
        if item == 2:
            raise TimeoutError("host 2 does not answer")
        return item * 10

    outcomes = on_each([1, 2, 3, 4], work)
    assert [outcome.item for outcome in outcomes] == [1, 2, 3, 4]
    assert [outcome.value for outcome in outcomes] == [10, None, 30, 40]
    assert isinstance(outcomes[1].error, TimeoutError)
    assert outcomes[3].result() == 40
    with pytest.raises(TimeoutError, match="host 2"):
        outcomes[1].result()


def test_hosts_are_worked_on_together_up_to_the_limit() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def work(_item: int) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with lock:
            running -= 1

    started = time.monotonic()
    on_each(list(range(PARALLEL_HOSTS * 2)), work)
    assert most == PARALLEL_HOSTS
    assert time.monotonic() - started < 0.2 * 2 + 0.3, "two rounds of hosts, not one host after another"


def test_no_items_no_work() -> None:
    assert on_each([], lambda item: item) == []
