"""A fleet's life through the real engine and libvirt: up, retag, grow, resize, drift, destroy.

One stack goes through every phase (each `up` boots real VMs, so phases share it), and each phase
asserts both what the engine planned and what libvirt now holds.
"""

from __future__ import annotations

import copy
from typing import Any

import libvirt
import pytest

from tests.engine.harness import NOTHING, URI, EphemeralStack, domain_state, host_objects

pytestmark = pytest.mark.engine


def test_fleet_lifecycle(ephemeral: EphemeralStack, fleet: dict[str, Any]) -> None:
    prefix = ephemeral.prefix
    web1 = f"{prefix}-web-01"

    # up: domains, volumes, network and filter exist, the VM runs with its tags and firewall.
    ephemeral.declare(fleet)
    ephemeral.up()
    objects = host_objects(prefix)
    assert objects["domains"] == [web1]
    assert objects["networks"] == [f"{prefix}-front"]
    assert objects["nwfilters"] == [f"{prefix}-front-fw"]
    assert objects["pools"] == [f"{prefix}-vmfleet"]
    assert objects["volumes"] == sorted(
        [f"{prefix}-tiny-1.0.qcow2", f"{prefix}-web-01.qcow2", f"{prefix}-web-01-cloudinit.iso"]
    )
    state = domain_state(web1)
    assert state["running"]
    assert state["interfaces"] == [(f"{prefix}-front", f"{prefix}-front-fw")]
    assert state["tags"]["role"] == "web" and state["tags"]["owner"] == "qa@example.com"
    assert state["disk_backing"] == [f"{ephemeral.storage_dir}/{prefix}-tiny-1.0.qcow2"], "copy-on-write clone"
    assert ephemeral.preview().changes() == {}, "a second preview finds nothing to do"

    # retag: an in-place update of the Domain and of the host-side tags; the VM is not replaced.
    retagged = copy.deepcopy(fleet)
    retagged["vms"][0]["tags"]["role"] = "frontend"
    ephemeral.declare(retagged)
    planned = ephemeral.preview().changes()
    assert planned == {web1: "update", f"{prefix}-web-01-tags": "update"}
    ephemeral.up()
    after = domain_state(web1)
    assert after["uuid"] == state["uuid"] and after["running"], "same domain"
    assert after["run_id"] == state["run_id"], "never restarted by a retag"
    assert after["tags"]["role"] == "frontend"

    # grow: count 1 -> 2 creates web-02's resources only.
    grown = copy.deepcopy(retagged)
    grown["vms"][0]["count"] = 2
    ephemeral.declare(grown)
    planned = ephemeral.preview().changes()
    assert planned == {
        "fleet-web-02": "create",
        f"{prefix}-web-02-disk": "create",
        f"{prefix}-web-02-cloudinit": "create",
        f"{prefix}-web-02-front-address": "create",
        f"{prefix}-web-02": "create",
        f"{prefix}-web-02-tags": "create",
    }
    ephemeral.up()
    assert host_objects(prefix)["domains"] == [web1, f"{prefix}-web-02"]
    assert domain_state(web1)["uuid"] == state["uuid"]

    # resize: pulumi-libvirt marks memory as replace-on-change, so web-01's Domain is replaced (its
    # disk volume is a separate resource and survives); tags follow the new domain.
    resized = copy.deepcopy(grown)
    resized["vms"][0]["resources"] = {"memory_mib": 192}
    ephemeral.declare(resized)
    planned = ephemeral.preview().changes()
    assert planned[web1] == "replace"
    assert planned[f"{prefix}-web-02"] == "replace"
    assert f"{prefix}-web-01-disk" not in planned, "the disk keeps its data"
    assert planned[f"{prefix}-web-01-tags"] == "update", "tags are rewritten onto the new domain"
    ephemeral.up()
    resized_state = domain_state(web1)
    assert resized_state["memory_kib"] == 192 * 1024
    assert resized_state["uuid"] != state["uuid"] and resized_state["running"]
    assert resized_state["tags"]["role"] == "frontend"

    # drift: a VM deleted by hand shows up in refresh, and the next up recreates it.
    conn = libvirt.open(URI)
    try:
        victim = conn.lookupByName(f"{prefix}-web-02")
        victim.destroy()
        victim.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)  # the updates above snapshotted it
    finally:
        conn.close()
    refreshed = ephemeral.refresh()
    assert refreshed.steps, "refresh reports its reads"
    planned = ephemeral.preview().changes()
    assert planned[f"{prefix}-web-02"] == "create"
    ephemeral.up()
    assert domain_state(f"{prefix}-web-02")["running"]

    # destroy: nothing of the stack is left on the host.
    ephemeral.destroy()
    assert host_objects(prefix) == NOTHING
