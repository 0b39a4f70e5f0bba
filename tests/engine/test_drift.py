"""Out-of-band drift: what people change or delete on a host shows in refresh, and `up` converges.

Every kind of object the stack manages, with the edits an operator commonly makes: a stopped VM,
a VM removed by hand, a VM undefined while it runs (left transient), an edited description, tags
changed or removed, autostart switched off, a stopped or undefined storage pool, a stopped or
restarted network, autostart of a network switched off, an edited firewall, a deleted cloud-init
disk. Healthy VMs are never replaced for a cosmetic difference; a VM whose
network was restarted is (its interface is off the bridge until it restarts), and the preview says
so. After `up`, a refreshed preview is empty. Then the issue's instance: a VM removed by hand,
then `down`, which must remove everything.
"""

from __future__ import annotations

import copy
import subprocess
from typing import Any
from xml.etree import ElementTree as ET

import libvirt
import pytest

from backends.libvirt import names
from backends.libvirt.nwfilter import filter_rules
from backends.libvirt.tags import TAGS_NAMESPACE
from tests.engine.harness import NOTHING, URI, EphemeralStack, bridge_members, domain_state, free_cidrs, host_objects

pytestmark = pytest.mark.engine


def two_segment_fleet(fleet: dict[str, Any]) -> dict[str, Any]:
    """web-01 on `front` (firewalled), app-01 on `back`."""
    declared = copy.deepcopy(fleet)
    declared["segments"].append({"name": "back", "cidr": free_cidrs(2)[1], "mode": "isolated", "dhcp": True})
    declared["vms"].append(
        {"name": "app", "count": 1, "pool": "local", "template": "tiny", "segments": ["back"], "tags": {"role": "app"}}
    )
    return declared


def virsh(*arguments: str) -> None:
    subprocess.run(["virsh", "-c", URI, *arguments], check=True, capture_output=True, text=True)


def test_drift_is_reported_and_up_converges_without_replacing_healthy_vms(
    ephemeral: EphemeralStack, fleet: dict[str, Any]
) -> None:
    prefix = ephemeral.prefix
    web, app = f"{prefix}-web-01", f"{prefix}-app-01"
    pool, front, back = names.storage_pool(prefix), names.network(prefix, "front"), names.network(prefix, "back")
    front_filter = names.nwfilter(prefix, "front")
    ephemeral.declare(two_segment_fleet(fleet))
    ephemeral.up()
    before = {vm: domain_state(vm) for vm in (web, app)}
    declared_rules = _filter_rules(front_filter)

    # In-place drift: each is an update, and no VM is replaced.
    virsh("destroy", web)  # the VM was shut off
    virsh("autostart", "--disable", app)
    virsh("desc", app, "edited on the host")  # a cosmetic edit
    virsh("metadata", app, "--uri", TAGS_NAMESPACE, "--remove")  # tags removed (live)
    virsh("pool-destroy", pool)  # the storage pool was stopped
    virsh("net-autostart", "--disable", front)
    _edit_filter(front_filter)

    # The engine names the changed keys of the Domain's diff; our dynamic resources report a change.
    refreshed = ephemeral.refresh().refreshed
    assert refreshed == {
        web: ["running"],
        app: ["autostart", "description"],
        f"{prefix}-app-01-tags": [],
        f"{prefix}-localhost-storage": [],
        f"{prefix}-localhost-front": [],
        f"{prefix}-localhost-front-nwfilter": [],
    }
    planned = ephemeral.preview().changes()
    assert planned == {
        web: "update",
        app: "update",
        f"{prefix}-app-01-tags": "update",
        f"{prefix}-localhost-storage": "update",
        f"{prefix}-localhost-front": "update",
        f"{prefix}-localhost-front-nwfilter": "update",
    }
    ephemeral.up()
    after = {vm: domain_state(vm) for vm in (web, app)}
    for vm in (web, app):
        assert after[vm]["uuid"] == before[vm]["uuid"], f"{vm} was not replaced"
        assert after[vm]["running"] and after[vm]["autostart"]
        assert after[vm]["description"] == before[vm]["description"]
        assert after[vm]["tags"] == before[vm]["tags"]
    assert _filter_rules(front_filter) == declared_rules
    assert ephemeral.preview().changes() == {}, "a refreshed preview after up is empty"

    # A deleted cloud-init disk is recreated (the same content, so the VM keeps running as it is),
    # and a VM whose network was restarted under it is replaced, because its interface stays off
    # the bridge until it starts again; no other VM is touched.
    virsh("vol-delete", "--pool", pool, names.cloudinit_volume(prefix, "web-01"))
    virsh("undefine", "--snapshots-metadata", web)  # still running, now transient: it would vanish at its next shutdown
    virsh("net-destroy", back)
    virsh("net-start", back)
    assert not set(after[app]["taps"]) & set(bridge_members(names.bridge(prefix, "back"))), "tap off the bridge"
    refreshed = ephemeral.refresh().refreshed
    assert refreshed[f"{prefix}-web-01-cloudinit"] == ["(gone)"]
    assert refreshed[web] == ["autostart"]
    assert refreshed[app] == ["networkInterfaces"]
    planned = ephemeral.preview().changes()
    assert planned == {
        f"{prefix}-web-01-cloudinit": "create",
        web: "update",  # persistent again, autostart on; the new disk's id turns out the same
        app: "replace",
        f"{prefix}-app-01-tags": "update",
    }
    ephemeral.up()
    assert domain_state(web)["uuid"] == before[web]["uuid"], "neither change replaces the VM"
    assert domain_state(web)["persistent"] and domain_state(web)["autostart"]
    replaced = domain_state(app)
    assert replaced["running"] and set(replaced["taps"]) <= set(bridge_members(names.bridge(prefix, "back")))
    assert ephemeral.preview().changes() == {}

    # A stopped network is replaced, and with it the VMs on it. A storage pool someone undefined is
    # defined again over its folder, where the volumes still are: none of them is recreated.
    virsh("net-destroy", front)
    virsh("pool-destroy", pool)
    virsh("pool-undefine", pool)
    planned = ephemeral.preview().changes()
    assert planned == {
        f"{prefix}-localhost-front": "replace",
        f"{prefix}-web-01-front-address": "replace",
        web: "replace",
        f"{prefix}-web-01-tags": "update",
        f"{prefix}-localhost-storage": "create",
    }
    ephemeral.up()
    assert set(domain_state(web)["taps"]) <= set(bridge_members(names.bridge(prefix, "front")))
    assert ephemeral.preview().changes() == {}

    # The instance: a VM removed by hand, then down. Everything goes; nothing is left over.
    virsh("destroy", web)
    virsh("undefine", "--snapshots-metadata", web)
    ephemeral.destroy()
    assert host_objects(prefix) == NOTHING
    assert ephemeral.leftovers() == []


def _filter_rules(name: str) -> list[tuple[str, ...]]:
    conn = libvirt.open(URI)
    try:
        return filter_rules(conn.nwfilterLookupByName(name).XMLDesc(0))
    finally:
        conn.close()


def _edit_filter(name: str) -> None:
    """What an operator's `virsh nwfilter-edit` does: one more accept rule."""
    conn = libvirt.open(URI)
    try:
        root = ET.fromstring(conn.nwfilterLookupByName(name).XMLDesc(0))
        rule = ET.SubElement(root, "rule", action="accept", direction="in", priority="500")
        ET.SubElement(rule, "tcp", dstportstart="22")
        conn.nwfilterDefineXML(ET.tostring(root, encoding="unicode"))
    finally:
        conn.close()
