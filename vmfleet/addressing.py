"""Each VM's address in each of its segments: deterministic, sticky, and kept off reserved ranges.

Rules:
1. A segment's VM addresses are its host addresses less the gateway (the first, the network's own)
   and its `reserved` ranges; the broadcast and network addresses are never host addresses.
2. A VM that had an address in a segment (the previous deployment's `addresses` output) keeps it
   while it is still one of the segment's VM addresses; so growing a group never renumbers a VM.
3. Every other VM, in declaration order, gets the lowest address of the segment that is free.
Pure: no Pulumi, tested directly. `vmfleet.validate` refuses a segment too small for its VMs
first, with the numbers, so `assign` always finds room.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from vmfleet.plan import VmInstance
from vmfleet.spec import Fleet, Segment

Addresses = Mapping[str, Mapping[str, ipaddress.IPv4Address]]
"""VM name -> segment name -> its address there."""


@dataclass(frozen=True)
class SegmentRoom:
    """How many VM addresses a segment offers, and why not more."""

    total: int
    """Addresses in the CIDR, network and broadcast included."""
    reserved: int
    """Host addresses its `reserved` ranges hold."""
    usable: int
    """What is left for VMs: total less network, gateway, broadcast and reserved."""


def vm_addresses(segment: Segment) -> Iterator[ipaddress.IPv4Address]:
    """The segment's addresses a VM may get, lowest first (lazily: a /16 holds 65,533)."""
    reserved = segment.reserved_ranges()
    for address in segment.cidr.hosts():
        if _offered(segment, address, reserved):
            yield address


def is_vm_address(segment: Segment, address: ipaddress.IPv4Address) -> bool:
    """Whether `address` is one the segment may give a VM."""
    return _offered(segment, address, segment.reserved_ranges())


def _offered(
    segment: Segment,
    address: ipaddress.IPv4Address,
    reserved: Sequence[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]],
) -> bool:
    gateway, last = segment.cidr.network_address + 1, segment.cidr.broadcast_address - 1
    return gateway < address <= last and not any(low <= address <= high for low, high in reserved)


def room(segment: Segment) -> SegmentRoom:
    """The segment's VM capacity; reserved ranges that overlap count once."""
    first, last = segment.cidr.network_address + 1, segment.cidr.broadcast_address - 1
    clipped = sorted(
        (max(low, first), min(high, last)) for low, high in segment.reserved_ranges() if high >= first and low <= last
    )
    reserved, reach = 0, first - 1
    for low, high in clipped:
        start = max(low, reach + 1)
        if high >= start:
            reserved += int(high) - int(start) + 1
            reach = high
    hosts = segment.cidr.num_addresses - 2
    return SegmentRoom(total=segment.cidr.num_addresses, reserved=reserved, usable=hosts - 1 - reserved)


@dataclass(frozen=True)
class NicAddress:
    """A VM's planned address on one segment, and its name there."""

    segment: str
    address: str
    prefix_length: int
    gateway: str
    """The segment's first host address (the hypervisor's side of the segment network)."""
    fqdn: str
    domain: str
    """The segment's DNS domain, the guest's search domain there."""
    dhcp: bool
    """Whether the segment hands it out by DHCP (else the guest is configured with it)."""


def nic_addresses(fleet: Fleet, assigned: Addresses) -> dict[str, dict[str, NicAddress]]:
    """VM name -> segment name -> its `NicAddress`, from `assign`'s result."""
    segments = {segment.name: segment for segment in fleet.segments}
    return {
        vm: {
            name: NicAddress(
                segment=name,
                address=str(address),
                prefix_length=segments[name].cidr.prefixlen,
                gateway=str(segments[name].cidr.network_address + 1),
                fqdn=fqdn(fleet, segments[name], vm),
                domain=segment_domain(fleet, segments[name]),
                dhcp=segments[name].dhcp,
            )
            for name, address in by_segment.items()
        }
        for vm, by_segment in assigned.items()
    }


def default_route(nics: Sequence[NicAddress]) -> NicAddress | None:
    """The NIC whose segment gateway a configured guest routes by default, from its NICs in
    segment order: the first NIC when its segment is static, else none (a DHCP segment's router
    comes from DHCP, and a later NIC never carries the default route)."""
    return nics[0] if nics and not nics[0].dhcp else None


def fqdn(fleet: Fleet, segment: Segment, vm: str) -> str:
    """`web-01.web.dev.vmfleet.internal`: the VM's name in the segment's DNS domain."""
    return f"{vm}.{segment_domain(fleet, segment)}"


def segment_domain(fleet: Fleet, segment: Segment) -> str:
    """The segment's own `dns_domain`, else `<segment>.<the fleet's domain>`."""
    return segment.dns_domain or f"{segment.name}.{fleet.domain}"


def assign(
    fleet: Fleet, instances: Sequence[VmInstance], previous: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, dict[str, ipaddress.IPv4Address]]:
    """Every VM's address in each of its segments (see the module's rules).

    `previous`: the last deployment's addresses, VM name -> segment -> address text; anything in it
    that is not a VM address of its segment any more (the CIDR or `reserved` changed) is dropped.
    Raises ValueError when a segment has no free address left (validation reports that first).
    """
    earlier = previous or {}
    segments = {segment.name: segment for segment in fleet.segments}
    on_segment: dict[str, list[VmInstance]] = {name: [] for name in segments}
    for vm in instances:
        for name in vm.segments:
            on_segment[name].append(vm)
    assigned: dict[str, dict[str, ipaddress.IPv4Address]] = {vm.name: {} for vm in instances}
    for name, vms in on_segment.items():
        segment = segments[name]
        taken: set[ipaddress.IPv4Address] = set()
        for vm in vms:  # rule 2 first, for every VM, so a newcomer never takes a kept address
            kept = _address(earlier.get(vm.name, {}).get(name))
            if kept is not None and kept not in taken and is_vm_address(segment, kept):
                assigned[vm.name][name] = kept
                taken.add(kept)
        free = (address for address in vm_addresses(segment) if address not in taken)
        for vm in vms:
            if name not in assigned[vm.name]:
                address = next(free, None)
                if address is None:
                    raise ValueError(f"segment {name} has no free address for VM {vm.name}")
                assigned[vm.name][name] = address
    return assigned


def _address(text: object) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(str(text)) if text is not None else None
    except ValueError:
        return None
