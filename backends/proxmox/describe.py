"""What each resource of the Proxmox VE backend is, and a VM's properties in words (for the review).

Every resource here has its own type token (`proxmoxve:<module>/<name>:<Name>`), so its kind is its
type's name in words; the provider's `Legacy` suffix (resources kept from its first API) says
nothing to a reviewer and is dropped. A VM's disks are part of its `VmLegacy` resource, so a
replaced VM is a new clone with new disks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

VM_TYPE: Final[str] = "proxmoxve:index/vmLegacy:VmLegacy"
PACKAGE: Final[str] = "proxmoxve"

VM_PROPERTIES: Final[dict[str, str]] = {
    "cpu": "CPU",
    "memory": "memory",
    "disks": "disk",
    "networkDevices": "NICs",
    "clone": "clone source",
    "nodeName": "node",
    "description": "tag document",
    "tags": "Proxmox tags",
    "initialization": "cloud-init",
    "poolId": "resource pool",
    "onBoot": "start at boot",
    "operatingSystem": "guest OS type",
    "name": "name",
}
"""bpg VmLegacy properties as a reviewer reads them."""

VM_STATES: Final[dict[str, tuple[str, str]]] = {
    "started": ("stopped", "running"),
    "onBoot": ("no start at boot", "start at boot"),
}
"""A VM's on/off properties, as (off, on) in a reviewer's words."""

MIRRORED_KINDS: Final[frozenset[str]] = frozenset()
"""Nothing here restates a VM's document elsewhere: its Proxmox tags are part of the VM resource."""

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def kind(resource_type: str, props: Mapping[str, Any]) -> str | None:
    """`VM`, `template VM`, `firewall security group`, ... for a Proxmox resource; None for any other."""
    if not resource_type.startswith(f"{PACKAGE}:"):
        return None
    if resource_type == VM_TYPE:
        return "template VM" if props.get("template") is True else "VM"
    name = resource_type.rsplit(":", 1)[-1].removesuffix("Legacy")
    module = resource_type.split(":")[1].split("/")[0]
    words = " ".join(word if word.isupper() else word.lower() for word in _WORD.findall(name))
    return words if module in ("index", "") or module.lower() in words else f"{module.lower()} {words}"
