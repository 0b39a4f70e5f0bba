"""Names things get on a libvirt host. Every name starts with the stack's prefix, so stacks that
share a host never collide, and none depends on anything but declared names (renames replace)."""

from __future__ import annotations

import hashlib
import re


def storage_pool(prefix: str) -> str:
    return f"{prefix}-vmfleet"


def base_volume(prefix: str, template: str, version: str) -> str:
    return f"{prefix}-{template}-{version}.qcow2"


def disk_volume(prefix: str, vm: str) -> str:
    return f"{prefix}-{vm}.qcow2"


def cloudinit_volume(prefix: str, vm: str) -> str:
    return f"{prefix}-{vm}-cloudinit.iso"


def network(prefix: str, segment: str) -> str:
    return f"{prefix}-{segment}"


def bridge(prefix: str, segment: str) -> str:
    """Linux limits interface names to 15 characters, so the bridge name is a short digest."""
    digest = hashlib.sha256(network(prefix, segment).encode()).hexdigest()[:10]
    return f"vf{digest}"


def mac(address: str) -> str:
    """A NIC's MAC address from its IPv4 address: `52:54:` (locally administered, the QEMU range)
    then the four octets, so it is as unique as the address and never depends on a random draw."""
    octets = [int(octet) for octet in address.split(".")]
    return "52:54:" + ":".join(f"{octet:02x}" for octet in octets)


def nwfilter(prefix: str, segment: str) -> str:
    return f"{prefix}-{segment}-fw"


def domain(prefix: str, vm: str) -> str:
    return f"{prefix}-{vm}"


QEMU_LOG_DIR = "/var/log/libvirt/qemu"
"""Where libvirt keeps each local QEMU domain's log (`<domain>.log`), on the VM's host."""


def qemu_log(domain_name: str) -> str:
    """The file on the VM's host where libvirt logs the domain's QEMU command lines and errors."""
    return f"{QEMU_LOG_DIR}/{domain_name}.log"


def console_log(domain_name: str) -> str:
    """The file on the VM's host that keeps everything the guest wrote on its serial console."""
    return f"{QEMU_LOG_DIR}/{domain_name}-console.log"


def domain_description(prefix: str, domain_name: str) -> str:
    """A domain's fixed description: marks it as the stack's (see leftovers.py) and says where its tags are."""
    return f"{domain_marker(prefix)} tags: virsh metadata {domain_name} --uri https://vmfleet.dev/xmlns/tags/1"


def domain_marker(prefix: str) -> str:
    """How every description of the stack's domains starts."""
    return f"Managed by vmfleet ({prefix});"


_MARKER = re.compile("^" + re.escape(domain_marker("PREFIX")).replace("PREFIX", "([a-z][a-z0-9-]*)"))


def marked_prefix(description: str) -> str | None:
    """The prefix of the stack whose `domain_marker` starts `description`, or None for none."""
    found = _MARKER.match(description)
    return found.group(1) if found else None
