"""The four roles of a virtualized estate as Proxmox VE roles, and where each is granted.

Least privilege, from Proxmox VE's privilege list (pve-docs, "User Management", "Privileges"):
- vm-user: see, open the console of and power the VMs they are given, nothing else.
- vm-admin: manage the VMs of their projects' resource pools (create, clone, configure, migrate,
  back up, snapshot) and use the pools' storage and SDN; no node, storage or access configuration.
- infra-admin: nodes, storage, network (SDN) and resource pools, cluster-wide; no VM contents and
  no access configuration.
- security-admin: audit everything, and change the firewall (cluster and node firewall rules need
  `Sys.Modify`; a VM's firewall needs `VM.Config.Network`) and access (users, groups, ACLs).
Roles are created per stack (`<prefix>-<role>`), so two stacks never fight over one definition.
"""

from __future__ import annotations

from typing import Final

from vmfleet.spec import AccessRole

PRIVILEGES: Final[dict[AccessRole, tuple[str, ...]]] = {
    "vm-user": ("VM.Audit", "VM.Console", "VM.PowerMgmt"),
    "vm-admin": (
        "Datastore.AllocateSpace",
        "Datastore.Audit",
        "Pool.Audit",
        "SDN.Use",
        "VM.Allocate",
        "VM.Audit",
        "VM.Backup",
        "VM.Clone",
        "VM.Config.CDROM",
        "VM.Config.CPU",
        "VM.Config.Cloudinit",
        "VM.Config.Disk",
        "VM.Config.HWType",
        "VM.Config.Memory",
        "VM.Config.Network",
        "VM.Config.Options",
        "VM.Console",
        "VM.Migrate",
        "VM.PowerMgmt",
        "VM.Snapshot",
        "VM.Snapshot.Rollback",
    ),
    "infra-admin": (
        "Datastore.Allocate",
        "Datastore.AllocateSpace",
        "Datastore.AllocateTemplate",
        "Datastore.Audit",
        "Pool.Allocate",
        "Pool.Audit",
        "SDN.Allocate",
        "SDN.Audit",
        "SDN.Use",
        "Sys.Audit",
        "Sys.Console",
        "Sys.Modify",
        "Sys.PowerMgmt",
        "Sys.Syslog",
    ),
    "security-admin": (
        "Datastore.Audit",
        "Group.Allocate",
        "Permissions.Modify",
        "Pool.Audit",
        "SDN.Audit",
        "Sys.Audit",
        "Sys.Modify",
        "User.Modify",
        "VM.Audit",
        "VM.Config.Network",
    ),
}
"""Each role's privileges, sorted as Proxmox lists them."""


def role_id(prefix: str, role: AccessRole) -> str:
    return f"{prefix}-{role}"


def pool_path(pool_id: str) -> str:
    """ACL path of a resource pool: the grant reaches its VMs and storage."""
    return f"/pool/{pool_id}"


def vm_path(vm_id: int | str) -> str:
    return f"/vms/{vm_id}"


CLUSTER_PATH: Final[str] = "/"
