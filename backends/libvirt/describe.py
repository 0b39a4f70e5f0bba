"""What each resource of the libvirt backend is, told from its properties, and its properties in words.

All our dynamic resources share one type token (`pulumi-python:dynamic:Resource`) and their
provider is a secret in state and previews, so what kind of object one is (disk, network, ...) is
told by its properties: each provider declares the inputs it diffs (`replace_keys`,
`update_keys`), and a resource is of the kind whose declared inputs it carries. The leftovers check
(state exports) and the review (previews) both ask here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from backends.libvirt.decommission import DecommissionProvider
from backends.libvirt.network import SegmentNetworkProvider
from backends.libvirt.nwfilter import NetworkFilterProvider
from backends.libvirt.provider_base import LibvirtProvider
from backends.libvirt.reservation import AddressReservationProvider
from backends.libvirt.storage import (
    BaseImageProvider,
    CloudInitDiskProvider,
    DiskProvider,
    StoragePoolProvider,
    VolumeProvider,
)
from backends.libvirt.tags import DomainTagsProvider

DYNAMIC_TYPE: Final[str] = "pulumi-python:dynamic:Resource"
DOMAIN_TYPE: Final[str] = "libvirt:index/domain:Domain"
VM_TYPE: Final[str] = DOMAIN_TYPE
"""The resource that is a VM; the review reads `VM_PROPERTIES` and `VM_STATES` for it."""

DYNAMIC_PROVIDERS: Final[tuple[type[LibvirtProvider], ...]] = (
    StoragePoolProvider,
    BaseImageProvider,
    DiskProvider,
    CloudInitDiskProvider,
    SegmentNetworkProvider,
    NetworkFilterProvider,
    DomainTagsProvider,
    AddressReservationProvider,
    DecommissionProvider,
)
"""Every dynamic provider of this backend (tests check this against the state registry)."""

VM_PROPERTIES: Final[dict[str, str]] = {
    "vcpu": "vCPUs",
    "memory": "memory",
    "disks": "disk",
    "cloudinit": "cloud-init disk",
    "networkInterfaces": "NICs",
    "metadata": "tag document",
    "description": "description",
    "type": "domain type",
    "autostart": "autostart",
    "running": "run state",
    "xml": "firewall filters",
    "name": "name",
}
"""pulumi-libvirt Domain properties as a reviewer reads them."""

VM_STATES: Final[dict[str, tuple[str, str]]] = {
    "running": ("shut off", "running"),
    "autostart": ("no autostart", "autostart"),
}
"""A Domain's on/off properties, as (off, on) in a reviewer's words."""

DISK_KIND: Final[str] = DiskProvider.kind
"""What a VM's own disk is called; the review tells from it whether a VM keeps its data."""
CLOUD_INIT_KIND: Final[str] = CloudInitDiskProvider.kind

MIRRORED_KINDS: Final[frozenset[str]] = frozenset({DomainTagsProvider.kind, AddressReservationProvider.kind})
"""Kinds that restate on its host what planning decided for a VM (its tag document, its addresses): a planned
change of theirs follows the VM's or its network's own, told once (a change found on the host is told, though)."""


def dynamic_provider(props: Mapping[str, Any]) -> type[LibvirtProvider] | None:
    """The provider class of a dynamic resource with these properties (inputs or outputs), or None."""
    matching = [provider for provider in DYNAMIC_PROVIDERS if all(key in props for key in _keys(provider))]
    return max(matching, key=lambda p: len(_keys(p)), default=None)


def _keys(provider: type[LibvirtProvider]) -> tuple[str, ...]:
    return (*provider.replace_keys, *provider.update_keys, *provider.identity_keys)


def is_volume(provider: type[LibvirtProvider]) -> bool:
    """True for the kinds that are volumes in the stack's storage pool (base images, disks, cloud-init)."""
    return issubclass(provider, VolumeProvider)


def kind(resource_type: str, props: Mapping[str, Any]) -> str | None:
    """`disk`, `network`, `domain`, ... for a resource of this backend; None for any other resource."""
    if resource_type == DOMAIN_TYPE:
        return "domain"
    if resource_type == DYNAMIC_TYPE:
        provider = dynamic_provider(props)
        return provider.kind if provider is not None else None
    return None
