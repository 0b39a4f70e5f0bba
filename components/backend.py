"""What a hypervisor backend offers the components, and what it hands back.

Components are backend-neutral: they decide what exists and how it is wired, then ask a backend
(libvirt today, Proxmox later) to create the provider resources as their children. Handles carry
only what other components need from a created thing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import pulumi

from vmfleet.addressing import NicAddress
from vmfleet.plan import VmInstance
from vmfleet.spec import AccessGrant, BackupTier, Firewall, HostPool, Node, Segment, Template


@dataclass(frozen=True)
class HostHandle:
    """A host as reachable from Pulumi: its provider and where VM disks go."""

    name: str
    pool: str
    backend: Backend
    """The backend that made this handle: everything on the host goes through it."""
    address: str
    """How the platform's provider resources name where a VM runs (libvirt: the connection URI)."""
    provider: pulumi.ProviderResource
    storage: pulumi.Output[str]
    domain_type: str


@dataclass(frozen=True)
class ImageHandle:
    """A template's base image on one host; VM disks are copy-on-write clones of it."""

    template: str
    host: str
    image_id: pulumi.Output[str]
    image_format: str
    """How the image is stored: qcow2 or raw."""
    resource: pulumi.Resource | None
    """What was made for it; None when the platform already has it (an existing template VM)."""


@dataclass(frozen=True)
class NetworkHandle:
    """A segment's network on one host, by the name VM interfaces attach to."""

    segment: str
    host: str
    network_name: str
    network_id: pulumi.Output[str]
    """The backend's id of this network; it changes when the network is replaced."""
    resource: pulumi.Resource | None
    """What was made for it; None when a segment is only a tag on NICs (a VLAN on a cluster bridge)."""


@dataclass(frozen=True)
class FilterHandle:
    """A segment's firewall on one host, by the name VM interfaces reference."""

    segment: str
    host: str
    filter_name: str
    resource: pulumi.Resource


@dataclass(frozen=True)
class VmRequest:
    """Everything a backend needs to build one VM."""

    vm: VmInstance
    template: Template
    host: HostHandle
    image: ImageHandle
    networks: Sequence[NetworkHandle]
    filters: Mapping[str, FilterHandle]
    metadata: str
    user_data: pulumi.Input[str]
    meta_data: str
    password_hashes: Mapping[str, pulumi.Output[str]]
    """User name -> the (secret) password hash cloud-init sets, for platforms that take them apart."""
    addresses: Mapping[str, NicAddress] = field(default_factory=dict)
    """Segment name -> the VM's address there; a backend serves it (libvirt: a DHCP reservation and a
    DNS host record on the segment's network)."""
    archive_dir: str = "/var/lib/vmfleet/archive"
    """Where a retired VM's decommission writes its archive and records (`Fleet.archive_dir`)."""
    left_out_of: Sequence[str] = ()
    """What the program leaves a retired VM out of, for its decommission record ("backup tiers", ...)."""


@dataclass(frozen=True)
class VmHandle:
    """A created VM: its backend id and the resource that is the VM itself."""

    name: str
    host: str
    vm_id: pulumi.Output[str]
    resource: pulumi.Resource
    decommission_record: pulumi.Output[str] | None = None
    """A retired VM's decommission record (a path), once its decommission is done."""
    monitored_as: str | None = None
    """The name its host's Prometheus exporter reports it by (libvirt: the domain name), if any."""


class Backend(Protocol):
    """A hypervisor platform. Every resource it creates is a child of `parent`."""

    def applies_address(self, nic: NicAddress) -> bool:
        """Whether a VM really gets its planned address on this segment (`VmRequest.addresses`);
        the inventory shows the address only then."""
        ...

    def serves_name(self, nic: NicAddress) -> bool:
        """Whether the segment's network answers DNS for the VM's `nic.fqdn`; the inventory shows
        the name only then."""
        ...

    def host(self, pool: HostPool, host: Node, parent: pulumi.Resource) -> HostHandle: ...

    def template_image(self, template: Template, host: HostHandle, parent: pulumi.Resource) -> ImageHandle: ...

    def segment_network(self, segment: Segment, host: HostHandle, parent: pulumi.Resource) -> NetworkHandle: ...

    def firewall_filter(
        self,
        firewall: Firewall,
        segment_cidrs: Mapping[str, ipaddress.IPv4Network],
        host: HostHandle,
        parent: pulumi.Resource,
    ) -> FilterHandle: ...

    def virtual_machine(self, request: VmRequest, parent: pulumi.Resource) -> VmHandle: ...


@runtime_checkable
class ClusterServices(Protocol):
    """What a clustered platform (Proxmox VE) adds for the VMs it runs: scheduled backups, high
    availability and access control. A backend without them (libvirt) does not implement this, and
    validation keeps such declarations off its pools (vmfleet/operations.py)."""

    def backup_job(self, tier: BackupTier, pool: str, vms: Sequence[VmHandle], parent: pulumi.Resource) -> None:
        """Back up `vms` of host pool `pool` on the tier's schedule, keeping what its retention says."""

    def high_availability(self, vm: VmHandle, host: HostHandle, parent: pulumi.Resource) -> None:
        """Have the cluster restart `vm` on another node when `host` fails, preferring `host`."""

    def keep_apart(self, group: str, pool: str, vms: Sequence[VmHandle], parent: pulumi.Resource) -> None:
        """Have the cluster keep `vms` (a critical anti_affinity group's, each passed to
        `high_availability` first) on separate nodes when it moves them, where it can."""

    def access_grant(
        self,
        grant: AccessGrant,
        pool: str,
        projects: Sequence[str],
        vms: Sequence[VmHandle],
        parent: pulumi.Resource,
    ) -> None:
        """Give the grant's groups and users its role on host pool `pool`: over the resource pools of
        `projects`, over `vms`, or over the whole cluster when its role has no scope."""
