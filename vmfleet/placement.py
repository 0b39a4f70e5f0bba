"""Which host each VM runs on: deterministic, capacity-aware, sticky.

Rules, in order:
1. A VM pinned to a host goes there.
2. A VM that already runs somewhere (its host in the previous deployment's placement) stays there
   while that host is still in its pool and still has room; so adding VMs never moves existing ones.
3. Every other VM, in declaration order, goes to the host of its pool that keeps the most headroom
   (the smaller of its free vCPU and free memory fractions after placement); ties go to the host
   declared first. A VM of an `anti_affinity` group only goes to a host that holds none of its
   group yet. Rule 2 still keeps VMs of such a group that already share a host (moving one would
   rebuild it, disk and all, on another host); `Placement.shared_hosts` names them.
Capacity is physical cores and memory times the pool's overcommit ratios. If anything does not fit,
`place` raises with demand against capacity for every host of each pool that overflows, before any
resource exists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vmfleet.plan import VmInstance
from vmfleet.spec import Fleet, HostPool, Node


@dataclass
class HostLoad:
    """A host's capacity and what has been placed on it so far."""

    pool: str
    host: Node
    vcpu_capacity: int
    memory_capacity_mib: int
    vms: list[VmInstance] = field(default_factory=list)
    vcpus: int = 0
    """vCPUs of the VMs placed so far (kept as a running total: groups may hold thousands of VMs)."""
    memory_mib: int = 0
    """Memory of the VMs placed so far, MiB."""

    def add(self, vm: VmInstance) -> None:
        """Place `vm` here."""
        self.vms.append(vm)
        self.vcpus += vm.vcpus
        self.memory_mib += vm.memory_mib

    def fits(self, vm: VmInstance) -> bool:
        return (
            self.vcpus + vm.vcpus <= self.vcpu_capacity and self.memory_mib + vm.memory_mib <= self.memory_capacity_mib
        )

    def holds_group(self, group: str) -> bool:
        """Whether a VM of `group` is placed here already."""
        return any(vm.group == group for vm in self.vms)

    def takes(self, vm: VmInstance) -> bool:
        """Rule 3: room for `vm`, and none of its group here if the group keeps its VMs apart."""
        return self.fits(vm) and not (vm.anti_affinity and self.holds_group(vm.group))

    def headroom_after(self, vm: VmInstance) -> float:
        free_cpu = (self.vcpu_capacity - self.vcpus - vm.vcpus) / self.vcpu_capacity
        free_memory = (self.memory_capacity_mib - self.memory_mib - vm.memory_mib) / self.memory_capacity_mib
        return min(free_cpu, free_memory)


@dataclass(frozen=True)
class Placement:
    """The outcome: each VM's host, and every host's load."""

    host_of: Mapping[str, str]
    loads: Sequence[HostLoad]

    def shared_hosts(self) -> dict[str, dict[str, list[str]]]:
        """Anti-affinity groups whose VMs share a host (kept there by rule 2): group -> host -> its VMs."""
        shared: dict[str, dict[str, list[str]]] = {}
        for load in self.loads:
            by_group: dict[str, list[str]] = {}
            for vm in load.vms:
                if vm.anti_affinity:
                    by_group.setdefault(vm.group, []).append(vm.name)
            for group, vms in by_group.items():
                if len(vms) > 1:
                    shared.setdefault(group, {})[load.host.name] = vms
        return shared

    def utilization(self) -> dict[str, dict[str, Any]]:
        """Allocated against capacity per host, and how consolidated the fleet is."""
        hosts: dict[str, Any] = {}
        for load in self.loads:
            hosts[load.host.name] = {
                "pool": load.pool,
                "vms": len(load.vms),
                "vcpus_allocated": load.vcpus,
                "vcpus_capacity": load.vcpu_capacity,
                "physical_cores": load.host.cpu_cores,
                "memory_mib_allocated": load.memory_mib,
                "memory_mib_capacity": load.memory_capacity_mib,
                "cpu_overcommit_used": round(load.vcpus / load.host.cpu_cores, 2),
                "memory_used_percent": round(100 * load.memory_mib / load.host.memory_mib, 1),
            }
        busy = [load for load in self.loads if load.vms]
        vm_count = sum(len(load.vms) for load in self.loads)
        cores = sum(load.host.cpu_cores for load in busy)
        return {
            "hosts": hosts,
            "fleet": {
                "vms": vm_count,
                "hosts_in_use": len(busy),
                "hosts_total": len(self.loads),
                "vms_per_host": round(vm_count / len(busy), 2) if busy else 0.0,
                "vcpus_per_core": round(sum(load.vcpus for load in busy) / cores, 2) if cores else 0.0,
            },
        }


class PlacementError(Exception):
    """The fleet does not fit its host pools: a capacity report for each pool that overflows."""

    def __init__(self, reports: Mapping[str, str]) -> None:
        self.reports = dict(reports)
        """Pool name -> its capacity report (demand, capacity, each host's load, what did not fit, a fix)."""
        super().__init__("\n".join(f"host pool {pool!r} {report}" for pool, report in self.reports.items()))


def host_loads(pool: HostPool) -> list[HostLoad]:
    """Empty loads for a pool's hosts, with capacity after overcommit (rounded down)."""
    return [
        HostLoad(
            pool=pool.name,
            host=host,
            vcpu_capacity=math.floor(host.cpu_cores * pool.cpu_overcommit),
            memory_capacity_mib=math.floor(host.memory_mib * pool.memory_overcommit),
        )
        for host in pool.hosts
    ]


def place(fleet: Fleet, instances: Sequence[VmInstance], previous: Mapping[str, str] | None = None) -> Placement:
    """Assign every instance to a host; `previous` maps VM names to the hosts they run on now."""
    previous = previous or {}
    loads = {pool.name: host_loads(pool) for pool in fleet.host_pools}
    load_of = {(load.pool, load.host.name): load for pool_loads in loads.values() for load in pool_loads}
    unplaced: list[VmInstance] = []
    pending: list[VmInstance] = []

    for vm in instances:
        if vm.pinned_host is not None:
            target = load_of[vm.pool, vm.pinned_host]
            if target.fits(vm):
                target.add(vm)
            else:
                unplaced.append(vm)
        else:
            pending.append(vm)

    still_pending = []
    for vm in pending:
        earlier = load_of.get((vm.pool, previous.get(vm.name, "")))
        if earlier is not None and earlier.fits(vm):
            earlier.add(vm)
        else:
            still_pending.append(vm)

    for vm in still_pending:
        candidates = [load for load in loads[vm.pool] if load.takes(vm)]
        if not candidates:
            unplaced.append(vm)
            continue
        best = max(candidates, key=lambda load: load.headroom_after(vm))
        best.add(vm)

    if unplaced:
        raise PlacementError(_capacity_reports(unplaced, loads))
    all_loads = [load for pool in fleet.host_pools for load in loads[pool.name]]
    host_of = {vm.name: load.host.name for load in all_loads for vm in load.vms}
    return Placement(host_of={vm.name: host_of[vm.name] for vm in instances}, loads=all_loads)


def _capacity_reports(unplaced: Sequence[VmInstance], loads: Mapping[str, list[HostLoad]]) -> dict[str, str]:
    reports = {}
    for pool_name in sorted({vm.pool for vm in unplaced}):
        missing = [vm for vm in unplaced if vm.pool == pool_name]
        demand_cpu = sum(ld.vcpus for ld in loads[pool_name]) + sum(vm.vcpus for vm in missing)
        demand_mem = sum(ld.memory_mib for ld in loads[pool_name]) + sum(vm.memory_mib for vm in missing)
        cap_cpu = sum(ld.vcpu_capacity for ld in loads[pool_name])
        cap_mem = sum(ld.memory_capacity_mib for ld in loads[pool_name])
        lines = [
            f"cannot hold its VMs: demand {demand_cpu} vCPU / {demand_mem} MiB "
            f"against capacity {cap_cpu} vCPU / {cap_mem} MiB (after overcommit).",
            "  per host (placed so far / capacity):",
        ]
        for load in loads[pool_name]:
            lines.append(
                f"    {load.host.name}: {load.vcpus}/{load.vcpu_capacity} vCPU, "
                f"{load.memory_mib}/{load.memory_capacity_mib} MiB, {len(load.vms)} VMs"
            )
        lines.append("  did not fit:")
        for vm in missing:
            where = f" (pinned to {vm.pinned_host})" if vm.pinned_host else ""
            if vm.anti_affinity:
                where += f" (anti_affinity: only on a host without a VM of group {vm.group})"
            lines.append(f"    {vm.name} from {vm.config_path}: {vm.vcpus} vCPU, {vm.memory_mib} MiB{where}")
        lines.append(
            "  Fix: add hosts to the pool, raise its overcommit ratios, choose smaller sizes, lower counts, "
            "or unpin VMs."
        )
        reports[pool_name] = "\n".join(lines)
    return reports
