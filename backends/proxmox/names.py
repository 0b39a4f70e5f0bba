"""Names of what the Proxmox backend creates on a cluster; all start with the stack's prefix."""

from __future__ import annotations

import hashlib

SECURITY_GROUP_LENGTH = 18
"""Security group names are kept this short: Proxmox refuses long ones."""


def vm(prefix: str, vm_name: str) -> str:
    return f"{prefix}-{vm_name}"


def template_vm(prefix: str, template: str, version: str) -> str:
    return f"{prefix}-{template}-{version}"


def image_file(prefix: str, template: str, version: str, node: str) -> str:
    """A downloaded cloud image in the image datastore (content type `import` wants .qcow2/.raw/.img).

    Named per node: on a datastore shared by the nodes (cephfs, NFS) one name for every node's
    download would collide, and deleting one node's copy would delete every node's.
    """
    return f"{prefix}-{template}-{version}-{node}.qcow2"


def resource_pool(prefix: str, project: str) -> str:
    return f"{prefix}-{project}"


def security_group(prefix: str, segment: str) -> str:
    """`<prefix>-<segment>`, or a digest of it when that is longer than a security group name may be."""
    name = f"{prefix}-{segment}"
    if len(name) <= SECURITY_GROUP_LENGTH:
        return name
    return "vf" + hashlib.sha256(name.encode()).hexdigest()[: SECURITY_GROUP_LENGTH - 2]


def ip_set(prefix: str, segment: str) -> str:
    """The IP set that stands for a segment's range in firewall rules (`+<name>`)."""
    return f"{prefix}-{segment}"


def ha_group(prefix: str, node: str) -> str:
    """The HA group whose VMs prefer `node`."""
    return f"{prefix}-prefer-{node}"


def ha_node_rule(prefix: str, vm_name: str) -> str:
    """The node-affinity HA rule by which a VM prefers its node (PVE 9)."""
    return f"{prefix}-{vm_name}-prefer"


def ha_apart_rule(prefix: str, group: str) -> str:
    """The negative resource-affinity HA rule that keeps a group's VMs on separate nodes (PVE 9)."""
    return f"{prefix}-{group}-apart"


SDN_ID_LENGTH = 8
"""SDN zone and VNet ids are short words (Proxmox VE refuses longer ones)."""


def sdn_zone(prefix: str) -> str:
    """The stack's VLAN zone: `vf` and a digest of the prefix, as short as an SDN id must be."""
    return "vf" + hashlib.sha256(prefix.encode()).hexdigest()[: SDN_ID_LENGTH - 2]


def sdn_vnet(prefix: str, segment: str) -> str:
    """A segment's VNet: `v` and a digest of `<prefix>-<segment>`; its alias carries the readable name."""
    return "v" + hashlib.sha256(f"{prefix}-{segment}".encode()).hexdigest()[: SDN_ID_LENGTH - 1]
