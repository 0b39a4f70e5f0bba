"""Checks of what a platform does for VMs after they run: backups, high availability, access.

These are cluster features (Proxmox VE builds them); a libvirt host pool has none of them, so
declaring one for a VM there is an error rather than a promise nobody keeps. Like
`vmfleet.validate`, every function returns all the problems it finds, each at its config path.
"""

from __future__ import annotations

from vmfleet import rules
from vmfleet.plan import merged_tags
from vmfleet.problems import Problem, config_path, shown
from vmfleet.spec import Fleet, ProxmoxPool

CLUSTER_FEATURE = "needs a Proxmox VE host pool (platform: proxmox); libvirt hosts have no {feature}"


def problems(fleet: Fleet) -> list[Problem]:
    """Every mistake in backup tiers, backup tags, critical VMs, access grants, SDN segments, and
    templates used on a platform that cannot take their image."""
    return (
        _tier_problems(fleet)
        + _vm_problems(fleet)
        + _access_problems(fleet)
        + _template_sources(fleet)
        + _sdn_problems(fleet)
    )


def _sdn_problems(fleet: Fleet) -> list[Problem]:
    """An SDN segment is a VNet in a VLAN zone: it needs a VLAN id and a cluster to live on."""
    found = []
    for position, segment in enumerate(fleet.segments):
        if not segment.sdn:
            continue
        here = ("segments", position)
        if segment.vlan is None:
            found.append(
                Problem(
                    config_path((*here, "vlan"), fleet), "an SDN segment (sdn: true) needs a vlan: set one (1-4094)"
                )
            )
        if not _clustered_pools(fleet):
            found.append(Problem(config_path((*here, "sdn"), fleet), CLUSTER_FEATURE.format(feature="SDN")))
    return found


def _template_sources(fleet: Fleet) -> list[Problem]:
    """libvirt hosts make base volumes from a file or URL; a Proxmox cluster downloads a URL itself
    (it cannot read a file on the machine running Pulumi) or clones an existing template VM."""
    clustered = _clustered_pools(fleet)
    found = []
    for position, template in enumerate(fleet.templates):
        pools = {group.pool for group in fleet.vms if group.template == template.name and group.count}
        on_cluster = bool(pools & clustered)
        on_libvirt = bool(pools - clustered)
        here = ("templates", position)
        if on_cluster and template.image_path is not None:
            found.append(
                Problem(
                    config_path((*here, "image_path"), fleet),
                    f"found {shown(template.image_path)}, but VMs of this template run on a Proxmox VE pool, "
                    "which downloads its image itself: give an image_url the cluster can reach, or proxmox_vm_id",
                )
            )
        if on_libvirt and template.proxmox_vm_id is not None:
            found.append(
                Problem(
                    config_path((*here, "proxmox_vm_id"), fleet),
                    f"found {template.proxmox_vm_id}, but VMs of this template run on a libvirt pool, which "
                    "needs an image: give image_path or image_url",
                )
            )
        if template.proxmox_node is not None and not any(
            template.proxmox_node in {node.name for node in pool.hosts}
            for pool in fleet.host_pools
            if pool.name in clustered
        ):
            found.append(
                Problem(
                    config_path((*here, "proxmox_node"), fleet),
                    f"{shown(template.proxmox_node)} is not a node of a Proxmox VE pool of this fleet",
                )
            )
    return found


def _clustered_pools(fleet: Fleet) -> set[str]:
    return {pool.name for pool in fleet.host_pools if isinstance(pool, ProxmoxPool)}


def _tier_problems(fleet: Fleet) -> list[Problem]:
    found = []
    for position, tier in enumerate(fleet.backup_tiers):
        if tier.name == rules.NO_BACKUP:
            found.append(
                Problem(
                    config_path(("backup_tiers", position, "name"), fleet),
                    f"found {shown(tier.name)}; {rules.NO_BACKUP!r} is reserved for VMs without backups: "
                    "choose another name",
                )
            )
    if fleet.backup_tiers and not _clustered_pools(fleet):
        found.append(Problem("backup_tiers", CLUSTER_FEATURE.format(feature="backup jobs")))
    return found


def _vm_problems(fleet: Fleet) -> list[Problem]:
    clustered = _clustered_pools(fleet)
    tiers = {tier.name for tier in fleet.backup_tiers}
    found = []
    for position, group in enumerate(fleet.vms):
        tags = merged_tags(fleet, group)
        tier = tags.get(rules.BACKUP_TAG)
        here = ("vms", position)
        if group.critical and group.pool not in clustered:
            found.append(Problem(config_path((*here, "critical"), fleet), CLUSTER_FEATURE.format(feature="HA")))
        if group.pool in clustered:
            found += _cluster_cloud_init(fleet, position)
        if group.pool not in clustered:
            if tier is not None:
                found.append(
                    Problem(
                        config_path((*here, "tags", rules.BACKUP_TAG), fleet),
                        f"found {shown(tier)}; backups " + CLUSTER_FEATURE.format(feature="backup jobs"),
                    )
                )
            continue
        if tier is None:
            found.append(
                Problem(
                    config_path((*here, "tags", rules.BACKUP_TAG), fleet),
                    f"every VM on a cluster belongs to a backup tier: set the {rules.BACKUP_TAG!r} tag here or in "
                    f"defaults.tags to one of {', '.join(sorted(tiers)) or '(no tier declared)'}, or to "
                    f"{rules.NO_BACKUP!r} with a {rules.BACKUP_JUSTIFICATION_TAG!r} tag",
                )
            )
        elif tier == rules.NO_BACKUP:
            if not tags.get(rules.BACKUP_JUSTIFICATION_TAG, "").strip():
                found.append(
                    Problem(
                        config_path((*here, "tags", rules.BACKUP_JUSTIFICATION_TAG), fleet),
                        f"a VM with {rules.BACKUP_TAG}: {rules.NO_BACKUP} needs this tag to say why it has no backups",
                    )
                )
        elif tier not in tiers:
            found.append(
                Problem(
                    config_path((*here, "tags", rules.BACKUP_TAG), fleet),
                    f"found {shown(tier)}, which is not a declared backup tier; declared: "
                    f"{', '.join(sorted(tiers)) or 'none'} (or {rules.NO_BACKUP!r} with a justification)",
                )
            )
    return found


def _cluster_cloud_init(fleet: Fleet, position: int) -> list[Problem]:
    """Proxmox VE's cloud-init sets one user (keys, password hash) and DHCP; packages and commands
    need a user-data snippet uploaded to the nodes over SSH, which vmfleet does not do."""
    config = fleet.vms[position].cloud_init
    found = []
    here = ("vms", position, "cloud_init")
    for key, value in (("packages", config.packages), ("run", config.run)):
        if value:
            found.append(
                Problem(
                    config_path((*here, key), fleet),
                    f"found {shown(value)}; on a Proxmox VE pool cloud-init sets one user and the network only: "
                    "bake packages and commands into the template's image",
                )
            )
    if len(config.users) > 1:
        found.append(
            Problem(
                config_path((*here, "users"), fleet),
                f"found {len(config.users)} users; on a Proxmox VE pool cloud-init sets one user: keep one",
            )
        )
    return found


ROLE_SCOPES = {
    "vm-user": ("projects", "vm_groups"),
    "vm-admin": ("projects",),
    "infra-admin": (),
    "security-admin": (),
}
"""The scopes each role may be given; a role with none applies to the whole cluster."""


def _access_problems(fleet: Fleet) -> list[Problem]:
    if fleet.access and not _clustered_pools(fleet):
        return [Problem("access", CLUSTER_FEATURE.format(feature="access control"))]
    projects = {merged_tags(fleet, group).get("project", "") for group in fleet.vms}
    groups = {group.name for group in fleet.vms}
    found = []
    for position, grant in enumerate(fleet.access):
        here = ("access", position)
        allowed = ROLE_SCOPES[grant.role]
        for scope, declared, what in (("projects", projects, "project"), ("vm_groups", groups, "VM group")):
            values = getattr(grant, scope)
            if values and scope not in allowed:
                found.append(
                    Problem(
                        config_path((*here, scope), fleet),
                        f"found {shown(values)}; role {grant.role!r} is not given by {scope} "
                        f"({'it applies to the whole cluster' if not allowed else 'use ' + ' or '.join(allowed)})",
                    )
                )
                continue
            for item, value in enumerate(values):
                if value not in declared:
                    found.append(
                        Problem(
                            config_path((*here, scope, item), fleet),
                            f"{shown(value)} is not a {what} of this fleet; known: {_listed(declared)}",
                        )
                    )
        if allowed and not any(getattr(grant, scope) for scope in allowed):
            found.append(
                Problem(
                    config_path(here, fleet),
                    f"role {grant.role!r} needs a scope: give it {' or '.join(allowed)}",
                )
            )
    return found


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"
