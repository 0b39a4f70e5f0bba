"""VM addresses on the real libvirt: each VM's DHCP reservation and DNS names on its segment's network,
stable while the group grows, gone with the VM, and added without restarting the network or a VM."""

from __future__ import annotations

import copy
from typing import Any
from xml.etree import ElementTree as ET

import libvirt
import pytest

from tests.engine.harness import URI, EphemeralStack, domain_state

pytestmark = pytest.mark.engine


def network_entries(network_name: str) -> tuple[str, dict[str, tuple[str, str]], dict[str, list[str]]]:
    """The network's UUID; its DHCP hosts (hostname -> (MAC, address)); its DNS hosts (address -> names)."""
    conn = libvirt.open(URI)
    try:
        network = conn.networkLookupByName(network_name)
        root = ET.fromstring(network.XMLDesc(0))
        uuid = network.UUIDString()
    finally:
        conn.close()
    dhcp = {h.get("name", ""): (h.get("mac", ""), h.get("ip", "")) for h in root.findall("ip/dhcp/host")}
    dns = {h.get("ip", ""): [n.text or "" for n in h.findall("hostname")] for h in root.findall("dns/host")}
    return uuid, dhcp, dns


def nic_macs(domain_name: str) -> list[str]:
    conn = libvirt.open(URI)
    try:
        root = ET.fromstring(conn.lookupByName(domain_name).XMLDesc(0))
    finally:
        conn.close()
    return [mac.get("address", "") for mac in root.findall("devices/interface/mac")]


def test_addresses_are_reserved_and_named_on_the_network_stable_under_growth_and_gone_with_the_vm(
    ephemeral: EphemeralStack, fleet: dict[str, Any]
) -> None:
    prefix, network = ephemeral.prefix, f"{ephemeral.prefix}-front"
    subnet = fleet["segments"][0]["cidr"].rsplit(".", 1)[0]  # free_cidrs gives /24s
    domain = f"front.{prefix}.vmfleet.internal"
    two = copy.deepcopy(fleet)
    two["vms"][0]["count"] = 2
    ephemeral.declare(two)
    ephemeral.up()

    uuid, dhcp, dns = network_entries(network)
    web1, web2 = f"{prefix}-web-01", f"{prefix}-web-02"
    assert dhcp == {
        "web-01": ("52:54:" + _octets(f"{subnet}.2"), f"{subnet}.2"),
        "web-02": ("52:54:" + _octets(f"{subnet}.3"), f"{subnet}.3"),
    }
    assert dns == {f"{subnet}.2": [f"web-01.{domain}", "web-01"], f"{subnet}.3": [f"web-02.{domain}", "web-02"]}
    assert nic_macs(web1) == [dhcp["web-01"][0]] and nic_macs(web2) == [dhcp["web-02"][0]]
    assert ephemeral.stack is not None
    outputs = ephemeral.stack.outputs()
    assert outputs["addresses"].value == {"web-01": {"front": f"{subnet}.2"}, "web-02": {"front": f"{subnet}.3"}}
    assert outputs["inventory"].value["web-02"]["addresses"] == {
        "front": {"address": f"{subnet}.3", "fqdn": f"web-02.{domain}"}
    }
    before = {name: domain_state(name) for name in (web1, web2)}
    assert ephemeral.preview().changes() == {}, "a second preview finds nothing to do"

    # Grow: web-03 gets the next address, added to the running network in place; nothing else changes.
    three = copy.deepcopy(two)
    three["vms"][0]["count"] = 3
    ephemeral.declare(three)
    planned = ephemeral.preview().changes()
    assert planned == {
        "fleet-web-03": "create",
        f"{prefix}-web-03-disk": "create",
        f"{prefix}-web-03-cloudinit": "create",
        f"{prefix}-web-03-front-address": "create",
        f"{prefix}-web-03": "create",
        f"{prefix}-web-03-tags": "create",
    }
    ephemeral.up()
    grown_uuid, dhcp, dns = network_entries(network)
    assert grown_uuid == uuid, "the network was not replaced"
    assert {name: address for name, (_mac, address) in dhcp.items()} == {
        "web-01": f"{subnet}.2",
        "web-02": f"{subnet}.3",
        "web-03": f"{subnet}.4",
    }
    assert dns[f"{subnet}.4"] == [f"web-03.{domain}", "web-03"]
    for name in (web1, web2):
        after = domain_state(name)
        assert (after["uuid"], after["run_id"]) == (before[name]["uuid"], before[name]["run_id"]), f"{name} untouched"

    # Shrink to one: the reservations and names of web-02 and web-03 vanish with them.
    one = copy.deepcopy(three)
    one["vms"][0]["count"] = 1
    one["remove_unretired"] = [{"group": "web", "reason": "the test shrinks the group without a decommission"}]
    ephemeral.declare(one)
    ephemeral.up()
    del one["remove_unretired"]  # done: an override left in place would be refused
    ephemeral.declare(one)
    shrunk_uuid, dhcp, dns = network_entries(network)
    assert shrunk_uuid == uuid
    assert dhcp == {"web-01": ("52:54:" + _octets(f"{subnet}.2"), f"{subnet}.2")}
    assert dns == {f"{subnet}.2": [f"web-01.{domain}", "web-01"]}

    # A reservation removed by hand is drift: refresh finds it, up puts it back.
    conn = libvirt.open(URI)
    try:
        net = conn.networkLookupByName(network)
        flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
        mac, address = dhcp["web-01"]
        net.update(
            libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE,
            libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
            -1,
            f"<host mac='{mac}' name='web-01' ip='{address}'/>",
            flags,
        )
    finally:
        conn.close()
    assert network_entries(network)[1] == {}
    assert ephemeral.preview().changes() == {f"{prefix}-web-01-front-address": "replace"}
    ephemeral.up()
    assert network_entries(network)[1] == {"web-01": (mac, address)}


def _octets(address: str) -> str:
    return ":".join(f"{int(octet):02x}" for octet in address.split("."))
