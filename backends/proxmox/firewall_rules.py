"""A segment's firewall in the Proxmox firewall's words: security group rules and VM options.

Proxmox applies a VM's rules and options to each NIC that has its `firewall` flag on. The segment's
rule set becomes a cluster security group (`in` = towards the VM); a peer segment becomes an IP set
(`+<name>`), a CIDR peer stays literal; the segment's defaults become the VM's input and output
policies (a VM on several segments takes the stricter default), and DHCP is let through by the
VM option `dhcp`, as the libvirt filter lets it through first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.proxmox import names
from vmfleet.spec import Firewall, FirewallRule

PROXMOX_ACTION = {"accept": "ACCEPT", "drop": "DROP"}


def group_rules(prefix: str, firewall: Firewall, segments: Sequence[str]) -> list[dict[str, Any]]:
    """The security group's rules, in declaration order: ingress first, then egress."""
    rules = []
    for direction, declared in (("in", firewall.ingress), ("out", firewall.egress)):
        for rule in declared:
            rules.append(_rule(prefix, direction, rule, segments))
    return rules


def _rule(prefix: str, direction: str, rule: FirewallRule, segments: Sequence[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": direction, "action": "ACCEPT"}
    if rule.protocol != "all":
        entry["proto"] = rule.protocol
    if rule.ports:
        entry["dport"] = ",".join(f"{low}:{high}" if low != high else str(low) for low, high in rule.port_ranges())
    if rule.peer != "any":
        peer = f"+{names.ip_set(prefix, rule.peer)}" if rule.peer in segments else rule.peer
        entry["source" if direction == "in" else "dest"] = peer
    if rule.description:
        entry["comment"] = rule.description
    return entry


def peer_segments(firewalls: Sequence[Firewall], segments: Sequence[str]) -> list[str]:
    """The segments some rule names as its peer: each needs an IP set."""
    return sorted({rule.peer for f in firewalls for rule in (*f.ingress, *f.egress) if rule.peer in segments})


@dataclass(frozen=True)
class VmPolicies:
    """A VM's firewall defaults in Proxmox's words (`ACCEPT`, `DROP`)."""

    input_policy: str
    output_policy: str


def vm_policies(firewalls: Mapping[str, Firewall]) -> VmPolicies:
    """A VM's input and output policy from the firewalls of its segments: drop wins."""
    ingress = "drop" if any(f.default_ingress == "drop" for f in firewalls.values()) else "accept"
    egress = "drop" if any(f.default_egress == "drop" for f in firewalls.values()) else "accept"
    return VmPolicies(input_policy=PROXMOX_ACTION[ingress], output_policy=PROXMOX_ACTION[egress])
