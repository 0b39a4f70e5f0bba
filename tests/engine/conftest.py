"""Engine tests share one prepared host and engine; each test gets its own ephemeral stack."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.engine.harness import EphemeralStack, engine_environment, free_cidrs, prepare_host, small_fleet


@pytest.fixture(scope="session")
def engine_env() -> dict[str, str]:
    prepare_host()
    return engine_environment()


@pytest.fixture
def ephemeral(engine_env: dict[str, str]) -> Iterator[EphemeralStack]:
    stack = EphemeralStack(engine_env)
    try:
        yield stack
    finally:
        stack.cleanup()


@pytest.fixture
def fleet(ephemeral: EphemeralStack) -> dict[str, object]:
    """A small valid declaration for this stack, expiring in 30 days."""
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    return small_fleet(ephemeral.prefix, free_cidrs(1), ephemeral.storage_dir, expires)
