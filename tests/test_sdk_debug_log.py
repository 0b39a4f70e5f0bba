"""The SDK's per-resource debug messages stay in the program unless VMFLEET_SDK_DEBUG=1."""

from __future__ import annotations

import logging

import pulumi
import pulumi.log
import pulumi.runtime
import pulumi.runtime.resource
import pytest

from components import sdk_debug_log
from components.sdk_debug_log import drop_sdk_debug_messages
from tests.declarations import ROOT


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, object]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, object], None]:
        return {}, None


def debug_messages_sent(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What reaches the engine's debug channel when the SDK's runtime logs as it does per resource."""
    logger = logging.getLogger("engine-under-test")
    pulumi.runtime.set_mocks(_Mocks(), logger=logger)
    with caplog.at_level(logging.DEBUG, logger="engine-under-test"):
        sdk_runtime_log = pulumi.runtime.resource.log  # type: ignore[attr-defined]  # the SDK's own call site
        sdk_runtime_log.debug("registering resource: ty=test:index:Thing, name=one")
        pulumi.log.info("kept")
    return [record.getMessage() for record in caplog.records if record.levelno == logging.DEBUG]


@pytest.fixture(autouse=True)
def restore_sdk_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pulumi.log, "debug", sdk_debug_log.SDK_DEBUG)


def test_the_sdk_sends_its_debug_messages_to_the_engine_by_default(caplog: pytest.LogCaptureFixture) -> None:
    assert debug_messages_sent(caplog) == ["registering resource: ty=test:index:Thing, name=one"]


def test_the_program_stops_them_where_the_sdk_sends_them(caplog: pytest.LogCaptureFixture) -> None:
    assert drop_sdk_debug_messages({}) is True
    assert debug_messages_sent(caplog) == []
    assert [record.getMessage() for record in caplog.records] == ["kept"], "info still reaches the engine"


def test_vmfleet_sdk_debug_sends_them_again(caplog: pytest.LogCaptureFixture) -> None:
    assert drop_sdk_debug_messages({"VMFLEET_SDK_DEBUG": "1"}) is False
    assert debug_messages_sent(caplog) == ["registering resource: ty=test:index:Thing, name=one"]


def test_the_program_drops_them_before_it_registers_anything() -> None:
    program = (ROOT / "__main__.py").read_text()
    assert program.index("\ndrop_sdk_debug_messages()\n") < program.index("\n    fleet = Fleet(")
