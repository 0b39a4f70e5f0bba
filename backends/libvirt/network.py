"""A segment's network on one libvirt host, as a Pulumi dynamic resource (libvirt-python).

The network is a bridge libvirt creates, with the segment's gateway address and, when declared,
DHCP over the rest of the range. Everything that defines it (mode, bridge, range, DHCP) is fixed
once it exists: a change replaces it, and so does finding it stopped. Either way its id (the
network's UUID) changes, and every Domain on it is replaced too, because a VM's interface is
attached to the bridge when the VM starts and is not re-attached when a network is restarted or
recreated (checked on libvirt 9.0: after `net-destroy` and `net-start` the VM's tap stays off the
bridge). So the preview names each VM a network change touches.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any, Optional
from xml.etree import ElementTree as ET

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from backends.libvirt.host_call import Progress, call, lookup
from backends.libvirt.provider_base import LibvirtProvider, gone
from backends.libvirt.storage import refuse_foreign
from backends.state_registry import RecordedProvider
from vmfleet.spec import parse_address_range


def network_xml(name: str, bridge: str, mode: str, cidr: str, dhcp: bool, reserved: Sequence[str] = ()) -> str:
    """The libvirt definition: `mode` in libvirt's words (none, nat, route); gateway = first address;
    DHCP over the rest of the range less the `reserved` ones (`10.0.0.5` or `10.0.0.5-10.0.0.9`)."""
    network = ipaddress.IPv4Network(cidr)
    first = network.network_address + 1
    last = network.broadcast_address - 1
    root = ET.Element("network")
    ET.SubElement(root, "name").text = name
    if mode != "none":
        ET.SubElement(root, "forward", mode=mode)
    ET.SubElement(root, "bridge", name=bridge, stp="on", delay="0")
    ip = ET.SubElement(root, "ip", address=str(first), prefix=str(network.prefixlen))
    if dhcp:
        dhcp_element = ET.SubElement(ip, "dhcp")
        for start, end in dhcp_ranges(first + 1, last, [parse_address_range(text) for text in reserved]):
            ET.SubElement(dhcp_element, "range", start=str(start), end=str(end))
    return ET.tostring(root, encoding="unicode")


def dhcp_ranges(
    first: ipaddress.IPv4Address,
    last: ipaddress.IPv4Address,
    reserved: Sequence[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]],
) -> list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]]:
    """`first`..`last` with the reserved ranges cut out, as the runs that are left."""
    runs = [(first, last)]
    for low, high in sorted(reserved):
        cut = []
        for start, end in runs:
            if high < start or low > end:
                cut.append((start, end))
                continue
            if start < low:
                cut.append((start, low - 1))
            if high < end:
                cut.append((high + 1, end))
        runs = cut
    return runs


def network_facts(xml: str) -> dict[str, Any]:
    """What a live definition says about the keys we declare: mode, bridge, cidr, dhcp."""
    root = ET.fromstring(xml)
    forward = root.find("forward")
    ip = next((element for element in root.findall("ip") if element.get("family", "ipv4") == "ipv4"), None)
    cidr = ""
    if ip is not None and ip.get("address"):
        prefix = ip.get("prefix") or str(ipaddress.IPv4Network(f"0.0.0.0/{ip.get('netmask')}").prefixlen)
        cidr = str(ipaddress.IPv4Network(f"{ip.get('address')}/{prefix}", strict=False))
    bridge = root.find("bridge")
    return {
        "mode": forward.get("mode", "nat") if forward is not None else "none",
        "bridge": bridge.get("name", "") if bridge is not None else "",
        "cidr": cidr,
        "dhcp": ip is not None and ip.find("dhcp") is not None,
    }


class SegmentNetworkProvider(RecordedProvider, LibvirtProvider):
    """Inputs: `uri`, `name`, `bridge`, `mode`, `cidr`, `dhcp`, `reserved` (only when some are), `active`
    (True), `autostart` (True)."""

    state_name = "libvirt/network"
    replace_keys = ("uri", "name", "bridge", "mode", "cidr", "dhcp", "active")
    optional_replace_keys = ("reserved",)
    update_keys = ("autostart",)
    kind = "network"

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, uri = props["name"], props["uri"]

        def define(conn: Any, _progress: Progress) -> str:
            xml = network_xml(
                name, props["bridge"], props["mode"], props["cidr"], props["dhcp"], props.get("reserved") or ()
            )
            existing = lookup(conn.networkLookupByName, name)
            if existing is not None:
                # What a run killed mid-create leaves: take it over when it is this very network.
                if network_facts(existing.XMLDesc(0)) != network_facts(xml):
                    remove = f"virsh -c {uri} net-destroy {name}; virsh -c {uri} net-undefine {name}"
                    raise refuse_foreign("network", name, uri, remove)
                existing.setAutostart(1)
                if not existing.isActive():
                    existing.create()
                return str(existing.UUIDString())
            network = conn.networkDefineXML(xml)
            try:
                network.setAutostart(1)
                network.create()
            except Exception:
                network.undefine()
                raise
            return str(network.UUIDString())

        return CreateResult(id_=call(uri, f"create network {name}", define), outs=dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def inspect(conn: Any, _progress: Progress) -> ReadResult:
            network = lookup(conn.networkLookupByUUIDString, id_)
            if network is None:
                return gone()
            live = network_facts(network.XMLDesc(0))
            state = {"active": bool(network.isActive()), "autostart": bool(network.autostart())}
            return ReadResult(id_=id_, outs={**props, "name": network.name(), **live, **state})

        return call(props["uri"], f"read network {props['name']}", inspect)

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        def converge(conn: Any, _progress: Progress) -> None:
            conn.networkLookupByUUIDString(id_).setAutostart(1 if news["autostart"] else 0)

        call(news["uri"], f"set autostart of network {news['name']}", converge)
        return UpdateResult(outs=dict(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        def remove(conn: Any, _progress: Progress) -> None:
            network = lookup(conn.networkLookupByUUIDString, id_)
            if network is None:
                return
            if network.isActive():
                network.destroy()
            network.undefine()

        call(props["uri"], f"delete network {props['name']}", remove)


class SegmentNetwork(Resource):
    """A segment's bridge network on one host; its id is the network's UUID."""

    def __init__(
        self,
        name: str,
        uri: str,
        network_name: str,
        bridge: str,
        mode: str,
        cidr: str,
        dhcp: bool,
        opts: Optional[pulumi.ResourceOptions],
        reserved: Sequence[str] = (),
    ) -> None:
        props: dict[str, Any] = {
            "uri": uri,
            "name": network_name,
            "bridge": bridge,
            "mode": mode,
            "cidr": cidr,
            "dhcp": dhcp,
            "active": True,
            "autostart": True,
        }
        if reserved:  # absent otherwise, so the networks of stacks deployed before it are not replaced
            props["reserved"] = list(reserved)
        super().__init__(SegmentNetworkProvider(), name, props, opts)
