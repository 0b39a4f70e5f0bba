"""The retire gate: a VM leaves the declaration only after its group was retired, or on purpose.

A group is retired by declaring `retire: {reason: ..., archive: true}` on it; the next `up`
decommissions its VMs (backends/libvirt/decommission.py) and the stack exports them as `retired`.
Removing VMs from the declaration afterwards destroys them. Removing any that no `up` has retired
(the group deleted, or its count lowered) is refused with the fix, unless the group is listed in
`remove_unretired` with a reason, which the program logs. Pure: tested directly.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlparse

from vmfleet.plan import split_instance_name, vm_names
from vmfleet.problems import Problem, config_path, shown
from vmfleet.spec import Fleet

LOCAL_URIS = ("qemu:///system", "qemu:///session")


def is_local(uri: str) -> bool:
    """Whether a libvirt URI reaches the hypervisor on this machine (its files are readable here)."""
    parsed = urlparse(uri)
    return uri in LOCAL_URIS or (parsed.scheme in ("qemu", "qemu+unix") and not parsed.netloc)


def removed_unretired(
    fleet: Fleet, previously_deployed: Collection[str], previously_retired: Collection[str]
) -> dict[str, list[str]]:
    """Group -> its VMs the last deployment had, this declaration drops, and no `up` retired."""
    kept = {name for group in fleet.vms for name in vm_names(group)}
    removed: dict[str, list[str]] = {}
    for name in sorted(set(previously_deployed) - kept - set(previously_retired)):
        group = (split_instance_name(name) or (name, 0))[0]
        removed.setdefault(group, []).append(name)
    return removed


def problems(
    fleet: Fleet,
    previously_deployed: Collection[str],
    previously_retired: Collection[str],
    previously_protected: Collection[str],
) -> list[Problem]:
    """Removals the gate refuses, and retirements that cannot be carried out."""
    found = _retire_problems(fleet)
    overridden = {removal.group for removal in fleet.remove_unretired}
    declared = {group.name: (position, group) for position, group in enumerate(fleet.vms)}
    for position, removal in enumerate(fleet.remove_unretired):
        if (
            removal.group in declared
            and declared[removal.group][1].count > 0
            and not _drops_vms(fleet, removal.group, previously_deployed)
        ):
            found.append(
                Problem(
                    config_path(("remove_unretired", position, "group"), fleet),
                    f"{shown(removal.group)} is still declared and drops none of its VMs: remove this entry",
                )
            )
    for group, names in removed_unretired(fleet, previously_deployed, previously_retired).items():
        if group in overridden:
            continue
        listed = ", ".join(names)
        protected = sorted(set(names) & set(previously_protected))
        unprotect = (
            f" and protect: false ({', '.join(protected)} were deployed protected, and Pulumi deletes a protected "
            "VM only after an update has cleared the flag)"
            if protected
            else ""
        )
        if group in declared:
            position, declared_group = declared[group]
            path = config_path(("vms", position, "count"), fleet)
            what = f"found {declared_group.count}: lowering it destroys {listed} of group {group!r} at once"
            retire = (
                f"1. to decommission the whole group, keep count as it was and add retire: {{reason: ...}}{unprotect}, "
                "run `make up` (it shuts the VMs down, archives them and writes the decommission record), then "
                "lower count or remove the group, and run `make up` again"
            )
        else:
            path = "vms"
            vms = "VMs" if len(names) > 1 else "VM"
            what = f"found no group {group!r}: removing it destroys its {vms} {listed} at once"
            retire = (
                f"1. put the group back as it was, with retire: {{reason: ...}}{unprotect}, run `make up` (it "
                "shuts the VMs down, archives them and writes the decommission record), then remove it and run "
                "`make up` again"
            )
        found.append(
            Problem(
                path,
                f"{what}, and no `make up` has retired them. Either\n{retire};\n"
                f"2. or destroy them without a decommission, on purpose: add {{group: {group}, reason: ...}} to "
                "remove_unretired (the run logs it).",
            )
        )
    return found


def _drops_vms(fleet: Fleet, group: str, previously_deployed: Collection[str]) -> bool:
    kept = {name for declared in fleet.vms if declared.name == group for name in vm_names(declared)}
    return any(
        (split_instance_name(name) or (name, 0))[0] == group and name not in kept for name in previously_deployed
    )


def _retire_problems(fleet: Fleet) -> list[Problem]:
    """Only libvirt pools decommission VMs."""
    pools = {pool.name: pool for pool in fleet.host_pools}
    found = []
    for position, group in enumerate(fleet.vms):
        if group.retire is None:
            continue
        pool = pools.get(group.pool)
        if pool is None:
            continue  # an unknown pool is reported on its own
        if pool.platform != "libvirt":
            found.append(
                Problem(
                    config_path(("vms", position, "retire"), fleet),
                    f"group {group.name!r} is on {pool.platform} pool {pool.name!r}, where vmfleet cannot "
                    "decommission VMs yet (libvirt pools only): remove retire, and retire the VMs on the cluster",
                )
            )
    return found
