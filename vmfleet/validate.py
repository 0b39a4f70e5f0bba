"""Checks that need the whole declaration: references, duplicates, overlaps, limits and tags.

`problems` never stops at the first mistake; it returns all of them, each with its config path
(built by `vmfleet.problems.config_path`, so every named item shows its name: `vms[0] (web).pool`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vmfleet import addressing, decommission, monitoring, operations, rules
from vmfleet.images import ImageInspector, ImageUnreadable, gib_text, whole_gib
from vmfleet.plan import effective_resources, split_instance_name, vm_names
from vmfleet.problems import Problem, config_path, shown
from vmfleet.spec import FirewallRule, Fleet, Host, HostPool, ProxmoxPool, VmGroup

Location = tuple[int | str, ...]
"""Where something is in the declaration, as keys and list indexes: ('vms', 0, 'tags', 'owner')."""


def problems(
    fleet: Fleet,
    is_secret: Callable[[str], bool] | None = None,
    inspect_image: ImageInspector | None = None,
    previously_protected: Collection[str] = (),
    previously_deployed: Collection[str] = (),
    previously_retired: Collection[str] = (),
) -> list[Problem]:
    """Every semantic mistake in `fleet`.

    `is_secret`, when given, tells whether a stack config key is stored as a secret; a user's
    `password_secret` must name one. `inspect_image`, when given (`vmfleet.images.virtual_size`),
    reads each `image_path` template's virtual size: a file it cannot read is a problem, and VM disks
    must hold the larger of that size and `min_disk_gib`. Without it, and for `image_url` templates,
    `min_disk_gib` alone is trusted. `previously_protected` names the VMs the last deployment made
    with Pulumi's `protect` option: each must still be declared (see `_protected_removals`).
    `previously_deployed` and `previously_retired` name the last deployment's VMs and those of them
    it had decommissioned: the retire gate (`vmfleet.decommission`) refuses dropping any other.
    """
    found: list[Problem] = []
    found += _duplicates(fleet)
    found += _pool_problems(fleet, is_secret)
    image_problems, image_needs = _template_images(fleet, inspect_image)
    found += _template_problems(fleet)
    found += image_problems
    found += _segment_problems(fleet)
    found += _firewall_problems(fleet)
    found += _tag_problems(fleet, ("defaults", "tags"), fleet.defaults.tags)
    for position, group in enumerate(fleet.vms):
        found += _vm_group_problems(fleet, position, group, is_secret, image_needs)
    refused = decommission.removed_unretired(fleet, previously_deployed, previously_retired)
    overridden = {removal.group for removal in fleet.remove_unretired}
    gated = {name for group, names in refused.items() if group not in overridden for name in names}
    found += decommission.problems(fleet, previously_deployed, previously_retired, previously_protected)
    found += _protected_removals(fleet, set(previously_protected) - gated)  # the gate's fix says how
    found += operations.problems(fleet)
    found += monitoring.problems(fleet)
    return found


def _pool_problems(fleet: Fleet, is_secret: Callable[[str], bool] | None) -> list[Problem]:
    """A Proxmox cluster's API token is read from a secret stack config key, never a plain one."""
    found = []
    for position, pool in enumerate(fleet.host_pools):
        if not isinstance(pool, ProxmoxPool) or is_secret is None:
            continue
        key = pool.proxmox.api_token_secret
        if not is_secret(key):
            found.append(
                Problem(
                    config_path(("host_pools", position, "proxmox", "api_token_secret"), fleet),
                    f"{shown(key)} is not a secret in this stack's config; store the API token with "
                    f"`pulumi config set --secret {key} 'user@realm!tokenid=<uuid>'`",
                )
            )
    return found


def _protected_removals(fleet: Fleet, previously_protected: Collection[str]) -> list[Problem]:
    """A protected VM cannot be removed in the run that unprotects it: Pulumi keeps the `protect` flag
    of a resource that is no longer declared as its state recorded it, and refuses the delete."""
    declared = {group.name: (position, group) for position, group in reversed(list(enumerate(fleet.vms)))}
    kept = {name for group in fleet.vms for name in vm_names(group)}
    removed: dict[str, list[tuple[int, str]]] = {}
    for name in sorted(set(previously_protected) - kept):
        group_name, index = split_instance_name(name) or (name, 0)
        removed.setdefault(group_name, []).append((index, name))
    found = []
    for group_name, vms in removed.items():
        vms.sort()
        names = ", ".join(name for _, name in vms)
        keep = max(index for index, _ in vms)
        if group_name in declared:
            position, group = declared[group_name]
            path = config_path(("vms", position, "count"), fleet)
            found_text = f"found {group.count}, but {names} of group {group_name!r}"
            keep_step = f"keep them (count: {keep}) with protect: false on the group (or in defaults)"
            remove_step = f"then lower count to {group.count}"
        else:
            path = "vms"
            found_text = f"found no group {group_name!r}, but its VMs {names}"
            keep_step = f"keep the group (count: {keep}) with protect: false on it (or in defaults)"
            remove_step = "then remove the group"
        found.append(
            Problem(
                path,
                f"{found_text} were deployed with protect: true, and Pulumi refuses to delete a protected VM "
                "(its protect flag stays in the stack's state until an update clears it). Remove them in two runs:\n"
                f"1. {keep_step}, and run `make up`;\n"
                f"2. {remove_step}, and run `make up` again.",
            )
        )
    return found


def _duplicates(fleet: Fleet) -> list[Problem]:
    found: list[Problem] = []

    def check(what: str, entries: Sequence[tuple[Location, str]]) -> None:
        first_item: dict[str, str] = {}
        for location, value in entries:
            if value in first_item:
                found.append(
                    Problem(
                        config_path(location, fleet),
                        f"{shown(value)} is already used by {first_item[value]}; {what} must be unique",
                    )
                )
            else:
                first_item[value] = config_path(location[:-1], fleet)

    def names(section: str, items: Sequence[Any], key: str = "name") -> list[tuple[Location, str]]:
        return [((section, i, key), getattr(item, key)) for i, item in enumerate(items)]

    hosts = [
        (("host_pools", p, "hosts", h), host)
        for p, pool in enumerate(fleet.host_pools)
        for h, host in enumerate(pool.hosts)
    ]
    check("host pool names", names("host_pools", fleet.host_pools))
    check("host names", [((*location, "name"), host.name) for location, host in hosts])
    check("host URIs", [((*location, "uri"), host.uri) for location, host in hosts if isinstance(host, Host)])
    check("size names", names("sizes", fleet.sizes))
    check("template names", names("templates", fleet.templates))
    check("segment names", names("segments", fleet.segments))
    check("firewall segments (one firewall per segment)", names("firewalls", fleet.firewalls, key="segment"))
    check("VM group names", names("vms", fleet.vms))
    return found


def _template_problems(fleet: Fleet) -> list[Problem]:
    sizes = {size.name for size in fleet.sizes}
    return [
        _dangling(fleet, ("templates", position, "default_size"), template.default_size, "size", sizes)
        for position, template in enumerate(fleet.templates)
        if template.default_size not in sizes
    ]


@dataclass(frozen=True)
class _ImageNeed:
    """The least disk a clone of a template's image needs, and where that figure comes from."""

    gib: int
    origin: str


def _template_images(fleet: Fleet, inspect_image: ImageInspector | None) -> tuple[list[Problem], dict[str, _ImageNeed]]:
    """Problems with image files, and each template's disk need (by template name)."""
    found: list[Problem] = []
    needs: dict[str, _ImageNeed] = {}
    read: dict[tuple[str, str], int | ImageUnreadable] = {}
    for position, template in enumerate(fleet.templates):
        declared = template.min_disk_gib
        says = f"{config_path(('templates', position, 'min_disk_gib'), fleet)} says {declared}"
        path = template.image_path
        if path is None:
            needs[template.name] = _ImageNeed(declared, f"{says}; an image_url is not read before deployment")
            continue
        if _only_on_clusters(fleet, template.name):
            # Only libvirt hosts upload an image_path; a cluster cannot use one (vmfleet.operations says so).
            needs[template.name] = _ImageNeed(declared, says)
            continue
        if inspect_image is None:
            needs[template.name] = _ImageNeed(declared, says)
            continue
        key = (path, template.image_format)
        if key not in read:
            try:
                read[key] = inspect_image(*key)
            except ImageUnreadable as error:
                read[key] = error
        size = read[key]
        if isinstance(size, ImageUnreadable):
            found.append(Problem(config_path(("templates", position, "image_path"), fleet), f"found {path!r}; {size}"))
            needs[template.name] = _ImageNeed(declared, says)
        elif whole_gib(size) > declared:
            needs[template.name] = _ImageNeed(
                whole_gib(size), f"the virtual size of {path} as qemu-img reads it is {gib_text(size)}; {says}"
            )
        else:
            needs[template.name] = _ImageNeed(declared, f"{says}; qemu-img reads {gib_text(size)} in {path}")
    return found, needs


def _only_on_clusters(fleet: Fleet, template: str) -> bool:
    """The template's VMs all run on Proxmox VE pools (and there are some)."""
    pools = {group.pool for group in fleet.vms if group.template == template}
    clustered = {pool.name for pool in fleet.host_pools if isinstance(pool, ProxmoxPool)}
    return bool(pools) and pools <= clustered


def _segment_problems(fleet: Fleet) -> list[Problem]:
    found = _segment_room(fleet)
    for i, first in enumerate(fleet.segments):
        for j in range(i + 1, len(fleet.segments)):
            second = fleet.segments[j]
            if first.cidr.overlaps(second.cidr):
                found.append(
                    Problem(
                        config_path(("segments", j, "cidr"), fleet),
                        f"found {second.cidr}, which overlaps {config_path(('segments', i), fleet)} "
                        f"({first.cidr}); segments need disjoint address ranges",
                    )
                )
    return found


def _segment_room(fleet: Fleet) -> list[Problem]:
    """Every VM gets an address of its own in each of its segments (`vmfleet.addressing`)."""
    found = []
    for position, segment in enumerate(fleet.segments):
        groups = {group.name: group.count for group in fleet.vms if segment.name in group.segments and group.count}
        needed = sum(groups.values())
        offered = addressing.room(segment)
        if needed <= offered.usable:
            continue
        prefix = segment.cidr.prefixlen
        while prefix > 0 and 2 ** (32 - prefix) - 3 - offered.reserved < needed:
            prefix -= 1
        on_it = ", ".join(f"{name}: {count}" for name, count in groups.items())
        found.append(
            Problem(
                config_path(("segments", position, "cidr"), fleet),
                f"found {segment.cidr}: it holds {offered.usable} VM addresses ({offered.total} addresses, less "
                f"the network, gateway and broadcast addresses and {offered.reserved} reserved), and {needed} VMs "
                f"are on it ({on_it}); use a /{prefix} or larger" + (", or reserve fewer" if offered.reserved else ""),
            )
        )
    return found


def _firewall_problems(fleet: Fleet) -> list[Problem]:
    segments = {segment.name for segment in fleet.segments}
    found = []
    for position, firewall in enumerate(fleet.firewalls):
        if firewall.segment not in segments:
            found.append(_dangling(fleet, ("firewalls", position, "segment"), firewall.segment, "segment", segments))
        for direction, rules_ in (("ingress", firewall.ingress), ("egress", firewall.egress)):
            for r, rule in enumerate(rules_):
                problem = _peer_problem(fleet, ("firewalls", position, direction, r, "peer"), rule, segments)
                if problem:
                    found.append(problem)
    return found


def _peer_problem(fleet: Fleet, location: Location, rule: FirewallRule, segments: Collection[str]) -> Problem | None:
    if rule.peer == "any" or rule.peer in segments:
        return None
    try:
        ipaddress.IPv4Network(rule.peer)
        return None
    except ValueError:
        pass
    return Problem(
        config_path(location, fleet),
        f"found {shown(rule.peer)}; expected 'any', an IPv4 CIDR such as 10.0.0.0/8, "
        f"or a declared segment ({_choices(segments)})",
    )


def _hosts_text(count: int) -> str:
    return f"{count} host" if count == 1 else f"{count} hosts"


def _anti_affinity_problems(fleet: Fleet, here: Location, group: VmGroup, pool: HostPool) -> list[Problem]:
    """A host per VM: a group pinned to one host, or larger than its pool, cannot be kept apart."""
    if group.host is not None and group.count > 1:
        return [
            Problem(
                config_path((*here, "anti_affinity"), fleet),
                f"found true, but the group's {group.count} VMs are pinned to one host ({group.host!r}); "
                "unpin them (drop host) or drop anti_affinity",
            )
        ]
    if group.count > len(pool.hosts):
        return [
            Problem(
                config_path((*here, "anti_affinity"), fleet),
                f"found true with count {group.count}, but pool {pool.name!r} has {_hosts_text(len(pool.hosts))} and "
                f"each VM needs one of its own; lower count to {len(pool.hosts)}, add hosts, or drop anti_affinity",
            )
        ]
    return []


def _vm_group_problems(
    fleet: Fleet,
    position: int,
    group: VmGroup,
    is_secret: Callable[[str], bool] | None,
    image_needs: Mapping[str, _ImageNeed],
) -> list[Problem]:
    here: Location = ("vms", position)
    found: list[Problem] = []
    pools = {pool.name: pool for pool in fleet.host_pools}
    templates = {template.name: template for template in fleet.templates}
    sizes = {size.name for size in fleet.sizes}
    segments = {segment.name for segment in fleet.segments}

    pool = pools.get(group.pool)
    if pool is None:
        found.append(_dangling(fleet, (*here, "pool"), group.pool, "host pool", pools))
    elif group.host is not None and group.host not in {host.name for host in pool.hosts}:
        hosts = [h.name for h in pool.hosts]
        found.append(_dangling(fleet, (*here, "host"), group.host, f"host of pool {pool.name!r}", hosts))
    if pool is not None and group.anti_affinity:
        found += _anti_affinity_problems(fleet, here, group, pool)
    template = templates.get(group.template)
    if template is None:
        found.append(_dangling(fleet, (*here, "template"), group.template, "template", templates))
    if group.size is not None and group.size not in sizes:
        found.append(_dangling(fleet, (*here, "size"), group.size, "size", sizes))
    for s, segment in enumerate(group.segments):
        if segment not in segments:
            found.append(_dangling(fleet, (*here, "segments", s), segment, "segment", segments))
        elif segment in group.segments[:s]:
            found.append(Problem(config_path((*here, "segments", s), fleet), f"{shown(segment)} is listed twice"))

    found += _resource_problems(fleet, here, group)
    resolved = effective_resources(fleet, group)
    if resolved is None and group.size is None and template is not None:
        found.append(
            Problem(config_path((*here, "size"), fleet), "no size given and the template's default size is unknown")
        )
    need = image_needs.get(group.template)
    if resolved is not None and need is not None and resolved[3] < need.gib:
        size_name, disk = resolved[0], resolved[3]
        explicit = group.resources is not None and group.resources.disk_gib is not None
        found.append(
            Problem(
                config_path((*here, "resources", "disk_gib") if explicit else (*here, "size"), fleet),
                f"found a disk of {disk} GiB (size {size_name!r}), smaller than template {group.template!r}'s "
                f"image, which needs {need.gib} GiB ({need.origin}); choose a size with a disk of at least "
                f"{need.gib} GiB",
            )
        )

    tags = {"environment": fleet.environment, **fleet.defaults.tags, **group.tags}
    found += _tag_problems(fleet, (*here, "tags"), group.tags)
    for key in rules.REQUIRED_TAGS:
        if key not in tags:
            found.append(
                Problem(
                    config_path((*here, "tags", key), fleet),
                    f"required tag is missing; set it here or in defaults.tags "
                    f"(required: {', '.join(rules.REQUIRED_TAGS)})",
                )
            )

    for u, user in enumerate(group.cloud_init.users):
        secret_key = user.password_secret
        if secret_key is not None and is_secret is not None and not is_secret(secret_key):
            found.append(
                Problem(
                    config_path((*here, "cloud_init", "users", u, "password_secret"), fleet),
                    f"{shown(secret_key)} is not a secret in this stack's config; store the password hash "
                    f"with `pulumi config set --secret {secret_key} '<hash>'`",
                )
            )
    return found


def _resource_problems(fleet: Fleet, here: Location, group: VmGroup) -> list[Problem]:
    if group.resources is None:
        return []
    found = []
    for key in ("vcpus", "memory_mib", "disk_gib"):
        value = getattr(group.resources, key)
        if value is None:
            continue
        catalog = [getattr(size, key) for size in fleet.sizes]
        low, high = min(catalog), max(catalog)
        if not low <= value <= high:
            found.append(
                Problem(
                    config_path((*here, "resources", key), fleet),
                    f"found {value}; explicit sizes must stay within the catalog's range {low}-{high}",
                )
            )
    return found


def _tag_problems(fleet: Fleet, here: Location, tags: dict[str, str]) -> list[Problem]:
    found = []
    for key, value in tags.items():
        path = config_path((*here, key), fleet)
        for message in rules.tag_problems(key, value):
            found.append(Problem(path, f"found {shown(value)}; {message}"))
        if key == "environment" and value != fleet.environment:
            found.append(
                Problem(path, f"found {shown(value)}; must equal the fleet's environment {fleet.environment!r}")
            )
    return found


def _dangling(fleet: Fleet, location: Location, value: str, what: str, choices: Iterable[str]) -> Problem:
    return Problem(
        config_path(location, fleet), f"{shown(value)} is not a declared {what}; declared: {_choices(choices)}"
    )


def _choices(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed) if listed else "none"
