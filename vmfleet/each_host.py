"""Work on many hosts at once: each host's outcome in order, one that fails or stalls costing the
others nothing (each call bounds its own wait: `backends.libvirt.host_call`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

Item = TypeVar("Item")
Value = TypeVar("Value")

PARALLEL_HOSTS = 8
"""At most this many hosts are worked on at once."""


@dataclass(frozen=True)
class Outcome(Generic[Item, Value]):
    """What `work` gave for one item: its value, or the exception it raised."""

    item: Item
    value: Value | None = None
    error: Exception | None = None

    def result(self) -> Value:
        """The value; raises the exception `work` raised for this item instead, if it did."""
        if self.error is not None:
            raise self.error
        return cast(Value, self.value)


def on_each(items: Sequence[Item], work: Callable[[Item], Value]) -> list[Outcome[Item, Value]]:
    """`work(item)` for every item, `PARALLEL_HOSTS` at a time; the outcomes in the items' order."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL_HOSTS, len(items))) as pool:
        futures = [(item, pool.submit(work, item)) for item in items]
        outcomes: list[Outcome[Item, Value]] = []
        for item, future in futures:
            try:
                outcomes.append(Outcome(item, value=future.result()))
            except Exception as error:  # this item's failure; the others go on
                outcomes.append(Outcome(item, error=error))
        return outcomes
