"""Preview through the real engine shows exactly the expected creates."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.engine.harness import NOTHING, EphemeralStack, host_objects

pytestmark = pytest.mark.engine


def test_preview_of_a_small_fleet_shows_exactly_the_expected_creates(
    ephemeral: EphemeralStack, fleet: dict[str, Any]
) -> None:
    ephemeral.declare(fleet)
    run = ephemeral.preview()
    kinds = Counter(urn.split("::")[2].split("$")[-1] for urn in run.steps)
    assert set(run.steps.values()) == {"create"}
    assert kinds == {
        "vmfleet:fleet:Fleet": 1,
        "vmfleet:fleet:HostPool": 1,
        "pulumi:providers:libvirt": 1,
        "vmfleet:fleet:VmTemplate": 1,
        "vmfleet:network:NetworkSegment": 1,
        "vmfleet:network:Firewall": 1,
        # Storage pool, base image, network, nwfilter, disk, cloud-init disk, tags and the VM's address
        # reservation (backends/libvirt/).
        "pulumi-python:dynamic:Resource": 8,
        "vmfleet:compute:TaggedVm": 1,
        "libvirt:index/domain:Domain": 1,
        # Default providers: the built-in one (reading the previous placement) and the dynamic one.
        "pulumi:providers:pulumi": 1,
        "pulumi:providers:pulumi-python": 1,
    }
    assert host_objects(ephemeral.prefix) == NOTHING
