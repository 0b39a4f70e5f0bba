"""A VM's address on one segment network, as a DHCP reservation and a DNS host record (libvirt-python).

On a segment without DHCP only the DNS record is made (the guest is configured with its address).

Both live in the network's definition (`<dhcp><host mac= ip= name=/>` and `<dns><host ip=>`), and
libvirt's dnsmasq for the network serves them. They are added and removed in place with
`virNetworkUpdate` (live and persistent), so adding or removing a VM never restarts the network
and never touches another VM. One resource per VM and segment: it is created before the VM starts
(so its first DHCP request gets the reserved address) and deleted with it; the network being
replaced replaces it too (`network_id`).
"""

from __future__ import annotations

from typing import Any, Optional
from xml.etree import ElementTree as ET

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource

from backends.libvirt.host_call import Progress, call, lookup
from backends.libvirt.provider_base import LibvirtProvider, gone
from backends.state_registry import RecordedProvider


def dhcp_host_xml(mac: str, ip: str, hostname: str) -> str:
    return ET.tostring(ET.Element("host", mac=mac, name=hostname, ip=ip), encoding="unicode")


def dns_host_xml(ip: str, names: list[str]) -> str:
    host = ET.Element("host", ip=ip)
    for name in names:
        ET.SubElement(host, "hostname").text = name
    return ET.tostring(host, encoding="unicode")


def reservation_facts(network_xml: str, mac: str, ip: str) -> dict[str, Any]:
    """What a network's live definition holds for one reservation: its DHCP host and DNS names."""
    root = ET.fromstring(network_xml)
    dhcp = [
        host
        for host in root.findall("ip/dhcp/host")
        if (host.get("mac") or "").lower() == mac.lower() or host.get("ip") == ip
    ]
    dns = [host for host in root.findall("dns/host") if host.get("ip") == ip]
    return {
        "dhcp": [{"mac": (h.get("mac") or "").lower(), "ip": h.get("ip"), "hostname": h.get("name")} for h in dhcp],
        "dns": [[name.text or "" for name in host.findall("hostname")] for host in dns],
    }


class AddressReservationProvider(RecordedProvider, LibvirtProvider):
    """Inputs: `uri`, `network`, `network_id`, `mac`, `ip`, `hostname`, `fqdn`, `dhcp`, `present` (True)."""

    state_name = "libvirt/address-reservation"
    replace_keys = ("uri", "network", "network_id", "mac", "ip", "hostname", "fqdn", "dhcp", "present")
    kind = "address reservation"

    def create(self, props: dict[str, Any]) -> CreateResult:
        def add(conn: Any, _progress: Progress) -> None:
            import libvirt

            network = conn.networkLookupByName(props["network"])
            facts = reservation_facts(network.XMLDesc(0), props["mac"], props["ip"])
            wanted = _wanted(props)
            if facts["dhcp"] and facts["dhcp"] != wanted["dhcp"]:
                raise RuntimeError(
                    f"network {props['network']} already reserves {props['ip']} or MAC {props['mac']} for "
                    f"another VM ({facts['dhcp']}): an address of another stack or one made by hand; "
                    "give the segments of stacks that share a host disjoint CIDRs"
                )
            flags = _affect(network)
            if wanted["dhcp"] and not facts["dhcp"]:  # a run killed mid-create may have added it already
                network.update(
                    libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                    libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
                    -1,
                    dhcp_host_xml(props["mac"], props["ip"], props["hostname"]),
                    flags,
                )
            if wanted["dns"] not in facts["dns"]:
                for names in facts["dns"]:  # stale names for the address: replaced by ours
                    _delete(network, libvirt.VIR_NETWORK_SECTION_DNS_HOST, dns_host_xml(props["ip"], names))
                network.update(
                    libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                    libvirt.VIR_NETWORK_SECTION_DNS_HOST,
                    -1,
                    dns_host_xml(props["ip"], wanted["dns"]),
                    flags,
                )

        call(props["uri"], f"reserve {props['ip']} for {props['hostname']} on network {props['network']}", add)
        return CreateResult(id_=f"{props['network']}/{props['ip']}", outs=dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def inspect(conn: Any, _progress: Progress) -> ReadResult:
            network = lookup(conn.networkLookupByName, props["network"])
            if network is None:
                return gone()
            facts = reservation_facts(network.XMLDesc(0), props["mac"], props["ip"])
            wanted = _wanted(props)
            present = facts["dhcp"] == wanted["dhcp"] and wanted["dns"] in facts["dns"]
            return ReadResult(id_=id_, outs={**props, "present": present})

        return call(props["uri"], f"read the reservation of {props['ip']} on network {props['network']}", inspect)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        def remove(conn: Any, _progress: Progress) -> None:
            import libvirt

            network = lookup(conn.networkLookupByName, props["network"])
            if network is None:
                return
            facts = reservation_facts(network.XMLDesc(0), props["mac"], props["ip"])
            wanted = _wanted(props)
            if wanted["dhcp"] and wanted["dhcp"] == facts["dhcp"]:
                _delete(
                    network,
                    libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
                    dhcp_host_xml(props["mac"], props["ip"], props["hostname"]),
                )
            for names in facts["dns"]:
                if names == wanted["dns"]:
                    _delete(network, libvirt.VIR_NETWORK_SECTION_DNS_HOST, dns_host_xml(props["ip"], names))

        call(props["uri"], f"remove the reservation of {props['ip']} on network {props['network']}", remove)


def _wanted(props: dict[str, Any]) -> dict[str, Any]:
    """What the network should hold: its DHCP host entries (none without DHCP) and the DNS names."""
    dhcp = [{"mac": props["mac"].lower(), "ip": props["ip"], "hostname": props["hostname"]}] if props["dhcp"] else []
    return {"dhcp": dhcp, "dns": [props["fqdn"], props["hostname"]]}


def _delete(network: Any, section: int, xml: str) -> None:
    import libvirt

    network.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE, section, -1, xml, _affect(network))


def _affect(network: Any) -> int:
    """The persistent definition, and the running network's while it runs."""
    import libvirt

    flags: int = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    if network.isActive():
        flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
    return flags


class AddressReservation(Resource):
    """One VM's address and names on one segment network."""

    def __init__(
        self,
        name: str,
        uri: str,
        network: str,
        network_id: pulumi.Input[str],
        mac: str,
        ip: str,
        hostname: str,
        fqdn: str,
        dhcp: bool,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {
            "uri": uri,
            "network": network,
            "network_id": network_id,
            "mac": mac,
            "ip": ip,
            "hostname": hostname,
            "fqdn": fqdn,
            "dhcp": dhcp,
            "present": True,
        }
        super().__init__(AddressReservationProvider(), name, props, opts)
