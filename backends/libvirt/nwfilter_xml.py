"""A segment's firewall as a libvirt nwfilter document.

libvirt applies the filter to each VM interface that references it (`<filterref>`), in the host's
bridge firewall. Direction `in` is traffic towards the VM, `out` traffic from it; accept rules
match connection state, so replies to an accepted flow pass without a rule of their own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from xml.etree import ElementTree as ET

from vmfleet.spec import Firewall, FirewallRule

DHCP_PRIORITY = 100
RULE_PRIORITY = 200
DEFAULT_PRIORITY = 900


def render(name: str, firewall: Firewall, segment_cidrs: Mapping[str, ipaddress.IPv4Network]) -> str:
    """The nwfilter XML for `firewall`, with segment peers resolved to their CIDRs."""
    root = ET.Element("filter", name=name, chain="root")
    # Addresses come from the segment's DHCP server; without these the default-drop would starve it.
    _rule(root, "accept", "out", DHCP_PRIORITY, "udp", {"srcportstart": "68", "dstportstart": "67"})
    _rule(root, "accept", "in", DHCP_PRIORITY, "udp", {"srcportstart": "67", "dstportstart": "68"})
    priority = RULE_PRIORITY
    for direction, rules in (("in", firewall.ingress), ("out", firewall.egress)):
        for rule in rules:
            for attributes in _match_attributes(rule, direction, segment_cidrs):
                _rule(root, "accept", direction, priority, rule.protocol, attributes)
            priority += 1
    for direction, default in (("in", firewall.default_ingress), ("out", firewall.default_egress)):
        _rule(root, default, direction, DEFAULT_PRIORITY, "all", {})
        _rule(root, default, direction, DEFAULT_PRIORITY, "all-ipv6", {})
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def _match_attributes(
    rule: FirewallRule, direction: str, segment_cidrs: Mapping[str, ipaddress.IPv4Network]
) -> list[dict[str, str]]:
    peer: dict[str, str] = {}
    if rule.peer != "any":
        network = segment_cidrs.get(rule.peer) or ipaddress.IPv4Network(rule.peer)
        side = "src" if direction == "in" else "dst"
        peer = {f"{side}ipaddr": str(network.network_address), f"{side}ipmask": str(network.prefixlen)}
    ranges = rule.port_ranges()
    if not ranges:
        return [peer]
    return [{**peer, "dstportstart": str(low), "dstportend": str(high)} for low, high in ranges]


def _rule(
    root: ET.Element, action: str, direction: str, priority: int, protocol: str, attributes: dict[str, str]
) -> None:
    rule = ET.SubElement(root, "rule", action=action, direction=direction, priority=str(priority))
    ET.SubElement(rule, protocol, attributes)
