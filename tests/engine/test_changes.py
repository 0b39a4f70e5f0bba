"""Every declared change reaches the host, and the preview names each VM it touches and how.

A segment's range or DHCP changes: its network is replaced and so is every VM on it (a VM's
interface is not attached again to a new network), and the VM comes back on the new network.
Reordering a VM's segments or moving it to another segment replaces the VM with the new NICs.
A bigger disk grows in place, on the running VM; a smaller one is refused at preview. After each
`up`, a refreshed preview is empty.
"""

from __future__ import annotations

import copy
from typing import Any
from xml.etree import ElementTree as ET

import libvirt
import pytest
from pulumi import automation as auto

from backends.libvirt import names
from backends.libvirt.network import network_facts
from tests.engine.harness import URI, EphemeralStack, bridge_members, free_cidrs, host_objects

pytestmark = pytest.mark.engine


def interfaces(domain: str) -> list[str]:
    """The networks of a domain's NICs, in order, as libvirt runs it."""
    with _connection() as conn:
        xml = ET.fromstring(conn.lookupByName(domain).XMLDesc(0))
    return [source.get("network", "") for source in xml.findall("./devices/interface/source")]


def attached(domain: str, network_name: str, bridge: str) -> bool:
    """Every NIC of the running domain on `network_name` is a member of its bridge (read on the host)."""
    with _connection() as conn:
        xml = ET.fromstring(conn.lookupByName(domain).XMLDesc(0))
    taps = [
        target.get("dev", "")
        for nic in xml.findall("./devices/interface")
        if nic.find(f"./source[@network='{network_name}']") is not None and (target := nic.find("target")) is not None
    ]
    return bool(taps) and set(taps) <= set(bridge_members(bridge))


def network(name: str) -> dict[str, Any]:
    """The network's facts as its provider reads them, and the DHCP and DNS host entries it holds."""
    with _connection() as conn:
        xml = conn.networkLookupByName(name).XMLDesc(0)
    root = ET.fromstring(xml)
    return {
        **network_facts(xml),
        "dhcp_hosts": [host.get("name") for host in root.findall("ip/dhcp/host")],
        "dns_hosts": [name.text for name in root.findall("dns/host/hostname") if "." in (name.text or "")],
    }


def disk_bytes(volume: str, pool: str) -> int:
    with _connection() as conn:
        return int(conn.storagePoolLookupByName(pool).storageVolLookupByName(volume).info()[1])


class _connection:
    def __enter__(self) -> Any:
        self.conn = libvirt.open(URI)
        return self.conn

    def __exit__(self, *_exc: object) -> None:
        self.conn.close()


def test_declared_changes_reach_the_vms(ephemeral: EphemeralStack, fleet: dict[str, Any]) -> None:
    prefix = ephemeral.prefix
    web = f"{prefix}-web-01"
    front, back = names.network(prefix, "front"), names.network(prefix, "back")
    first, second, third = free_cidrs(3)
    declared = copy.deepcopy(fleet)
    declared["segments"] = [
        {"name": "front", "cidr": first, "mode": "isolated", "dhcp": True},
        {"name": "back", "cidr": second, "mode": "isolated", "dhcp": True},
    ]
    declared["vms"][0]["segments"] = ["front", "back"]
    ephemeral.declare(declared)
    ephemeral.up()
    assert interfaces(web) == [front, back]

    # A new range for `back`: its network is replaced, and the VM on it with it.
    declared["segments"][1]["cidr"] = third
    ephemeral.declare(declared)
    planned = ephemeral.preview().changes()
    assert planned == {
        f"{prefix}-localhost-back": "replace",
        f"{prefix}-web-01-back-address": "replace",  # a new address in the new range, and a new MAC
        f"{prefix}-web-01-cloudinit": "replace",  # the seed's network-config names the new MAC
        web: "replace",
        f"{prefix}-web-01-tags": "update",
    }
    ephemeral.up()
    assert network(back)["cidr"] == third
    assert attached(web, back, names.bridge(prefix, "back")), "the VM is on the new network's bridge"
    assert ephemeral.preview().changes() == {}

    # DHCP off on `front`: the same, and the network really has no DHCP afterwards.
    declared["segments"][0]["dhcp"] = False
    ephemeral.declare(declared)
    planned = ephemeral.preview().changes()
    assert planned == {
        f"{prefix}-localhost-front": "replace",
        f"{prefix}-web-01-front-address": "replace",
        f"{prefix}-web-01-cloudinit": "replace",  # the NIC is configured with its address now
        web: "replace",
        f"{prefix}-web-01-tags": "update",
    }
    ephemeral.up()
    assert network(front)["dhcp"] is False
    assert network(front)["dhcp_hosts"] == [] and network(front)["dns_hosts"] == [
        f"web-01.front.{prefix}.vmfleet.internal"
    ]
    assert attached(web, front, names.bridge(prefix, "front"))
    assert ephemeral.preview().changes() == {}

    # Segments reordered: the VM is replaced with its NICs in the new order.
    declared["vms"][0]["segments"] = ["back", "front"]
    ephemeral.declare(declared)
    assert ephemeral.preview().changes() == {
        web: "replace",
        f"{prefix}-web-01-cloudinit": "replace",  # the default route follows the first NIC
        f"{prefix}-web-01-tags": "update",
    }
    ephemeral.up()
    assert interfaces(web) == [back, front]
    assert ephemeral.preview().changes() == {}

    # Moved off `front`: the VM is replaced with one NIC, and `front` (now unused here) is deleted
    # after it, with its firewall.
    declared["vms"][0]["segments"] = ["back"]
    ephemeral.declare(declared)
    planned = ephemeral.preview().changes()
    assert planned == {
        web: "replace",
        f"{prefix}-web-01-cloudinit": "replace",
        f"{prefix}-web-01-tags": "update",
        f"{prefix}-web-01-front-address": "delete",
        f"{prefix}-localhost-front": "delete",
        f"{prefix}-localhost-front-nwfilter": "delete",
    }
    ephemeral.up()
    assert interfaces(web) == [back]
    assert host_objects(prefix)["networks"] == [back]
    assert ephemeral.preview().changes() == {}

    # A bigger disk grows in place, on the running VM; a smaller one is refused at preview.
    uuid_before = _uuid(web)
    declared["sizes"].append({"name": "roomy", "vcpus": 1, "memory_mib": 128, "disk_gib": 2})
    declared["vms"][0]["size"] = "roomy"
    ephemeral.declare(declared)
    # The Domain's update is its metadata document, which names the size: in place, no restart.
    assert ephemeral.preview().changes() == {f"{prefix}-web-01-disk": "update", web: "update"}
    ephemeral.up()
    assert disk_bytes(names.disk_volume(prefix, "web-01"), names.storage_pool(prefix)) == 2 * 1024**3
    assert _uuid(web) == uuid_before, "the VM was not replaced"
    declared["vms"][0]["size"] = "nano"
    ephemeral.declare(declared)
    with pytest.raises(auto.CommandError, match="shrinking it to 1 GiB is not possible without losing data"):
        ephemeral.preview()


def _uuid(domain: str) -> str:
    with _connection() as conn:
        return str(conn.lookupByName(domain).UUIDString())
