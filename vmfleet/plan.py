"""Pure planning: VM groups expanded into named instances with their final size and tags.

No Pulumi here: these functions are plain Python, tested directly, and run before any resource is
registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vmfleet import rules
from vmfleet.problems import config_path
from vmfleet.spec import CloudInit, Fleet, Retirement, Size, VmGroup


@dataclass(frozen=True)
class VmInstance:
    """One VM to build: `web-02` of group `web`; `config_path` is its group's, `vms[0] (web)`."""

    name: str
    group: str
    index: int
    config_path: str
    pool: str
    template: str
    size: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    segments: tuple[str, ...]
    pinned_host: str | None
    tags: Mapping[str, str]
    protect: bool
    autostart: bool
    cloud_init: CloudInit = field(compare=False)
    critical: bool = False
    """High availability: the cluster restarts the VM on another node when its node fails."""
    anti_affinity: bool = False
    """Its group's VMs go to different hosts (`vmfleet.placement`, rule 3)."""
    retire: Retirement | None = None
    """Set while the VM is decommissioned (its group's `retire`)."""

    @property
    def expires(self) -> str:
        """The VM's expiry date as written in its tags."""
        return self.tags.get("expires", "")


CUSTOM_SIZE = "custom"
"""Size name recorded for a VM group that sets explicit `resources` instead of a catalog size."""


def instance_name(group: str, index: int) -> str:
    """`web`, 3 -> `web-03`; `web`, 120 -> `web-120`: at least two digits, so names never change when a group grows."""
    return f"{group}-{index:0{rules.VM_INDEX_MIN_WIDTH}d}"


def vm_names(group: VmGroup) -> list[str]:
    """The names of a group's VMs, index 1 to `count`: `web-01`, `web-02`, ..."""
    return [instance_name(group.name, index) for index in range(1, group.count + 1)]


def split_instance_name(name: str) -> tuple[str, int] | None:
    """`web-03` -> (`web`, 3), the inverse of `instance_name`; None for a name it cannot have made."""
    group, _, index = name.rpartition("-")
    if not group or not rules.matches(rules.VM_INSTANCE_PATTERN, name):
        return None
    return group, int(index)


def group_protect(fleet: Fleet, group: VmGroup) -> bool:
    """Whether the group's VMs get Pulumi's `protect` option: the group's own choice, else the default."""
    return fleet.defaults.protect if group.protect is None else group.protect


def merged_tags(fleet: Fleet, group: VmGroup) -> dict[str, str]:
    """Stack-level defaults fill the tags a group leaves out; the environment defaults too."""
    return {"environment": fleet.environment, **fleet.defaults.tags, **group.tags}


def catalog_size(fleet: Fleet, group: VmGroup) -> Size | None:
    """The catalog size a group names, or its template's default size."""
    wanted = group.size
    if wanted is None:
        template = next((t for t in fleet.templates if t.name == group.template), None)
        wanted = template.default_size if template else None
    return next((s for s in fleet.sizes if s.name == wanted), None)


def effective_resources(fleet: Fleet, group: VmGroup) -> tuple[str, int, int, int] | None:
    """(size name, vCPUs, memory MiB, disk GiB) after applying a group's explicit overrides."""
    size = catalog_size(fleet, group)
    override = group.resources
    if size is None and override is None:
        return None
    vcpus = (override and override.vcpus) or (size and size.vcpus)
    memory = (override and override.memory_mib) or (size and size.memory_mib)
    disk = (override and override.disk_gib) or (size and size.disk_gib)
    if not (vcpus and memory and disk):
        return None
    overridden = override is not None and any(
        value is not None for value in (override.vcpus, override.memory_mib, override.disk_gib)
    )
    name = CUSTOM_SIZE if overridden or size is None else size.name
    return name, vcpus, memory, disk


def expand(fleet: Fleet) -> list[VmInstance]:
    """Every VM of the fleet in declaration order (group by group, index by index).

    Assumes `vmfleet.validate.problems` found nothing: references resolve.
    """
    instances: list[VmInstance] = []
    for position, group in enumerate(fleet.vms):
        resolved = effective_resources(fleet, group)
        if resolved is None:
            raise ValueError(f"{config_path(('vms', position), fleet)} has no size; validate the declaration first")
        size, vcpus, memory, disk = resolved
        tags = merged_tags(fleet, group)
        protect = group_protect(fleet, group)
        for index, name in enumerate(vm_names(group), start=1):
            instances.append(
                VmInstance(
                    name=name,
                    group=group.name,
                    index=index,
                    config_path=config_path(("vms", position), fleet),
                    pool=group.pool,
                    template=group.template,
                    size=size,
                    vcpus=vcpus,
                    memory_mib=memory,
                    disk_gib=disk,
                    segments=tuple(group.segments),
                    pinned_host=group.host,
                    tags=tags,
                    protect=protect,
                    autostart=group.autostart,
                    cloud_init=group.cloud_init,
                    critical=group.critical,
                    anti_affinity=group.anti_affinity,
                    retire=group.retire,
                )
            )
    return instances
