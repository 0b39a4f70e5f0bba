"""The whole estate of a stack: host pools, templates, segments, firewalls and VMs, wired."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Optional

import pulumi

from components.access_grant import AccessGrant
from components.backend import Backend, ClusterServices, HostHandle, VmHandle
from components.backup_tier import BackupTier
from components.firewall import Firewall
from components.host_pool import HostPool
from components.monitoring import Monitoring
from components.network_segment import NetworkSegment
from components.tagged_vm import TaggedVm
from components.vm_template import VmTemplate
from vmfleet import addressing, monitoring, rules
from vmfleet.addressing import NicAddress
from vmfleet.load import FleetPlan

LEFT_OUT_WHEN_RETIRED = "backup tiers (their selection)"
LEFT_OUT_OF_MONITORING = "the Prometheus metrics (vmfleet_vm_info and its lease)"
"""What the program leaves a retired VM out of, as its decommission record says."""


class Fleet(pulumi.ComponentResource):
    """Builds a checked, placed `FleetPlan`, each host pool through the backend of its platform;
    children only where VMs need them."""

    inventory: dict[str, Any]
    """Each VM: host, pool, segments, size, template, tags and expiry (plain values)."""
    utilization: dict[str, Any]
    """Allocated against capacity per host, and the fleet's consolidation figures."""
    vms: dict[str, TaggedVm]

    def __init__(
        self,
        name: str,
        plan: FleetPlan,
        backends: Mapping[str, Backend],
        password_hash: Callable[[str], pulumi.Output[str]],
        opts: Optional[pulumi.ResourceOptions] = None,
        monitoring_thresholds: monitoring.Thresholds | None = None,
    ) -> None:
        super().__init__("vmfleet:fleet:Fleet", name, None, opts)
        fleet, placement = plan.fleet, plan.placement
        child = pulumi.ResourceOptions(parent=self)

        hosts: dict[str, HostHandle] = {}
        for pool in fleet.host_pools:
            hosts |= HostPool(f"{name}-{pool.name}", pool, backends[pool.platform], child).hosts

        # A template's image, a segment's network and its firewall exist only on hosts with a VM
        # that uses them, in host declaration order.
        used_by_template = plan.template_hosts()
        used_by_segment = plan.segment_hosts()

        def hosts_in(names: set[str]) -> list[HostHandle]:
            return [handle for host_name, handle in hosts.items() if host_name in names]

        templates = {
            template.name: VmTemplate(
                f"{name}-{template.name}",
                template,
                hosts_in(used_by_template[template.name]),
                child,
            )
            for template in fleet.templates
        }
        segments = {
            segment.name: NetworkSegment(
                f"{name}-{segment.name}",
                segment,
                hosts_in(used_by_segment[segment.name]),
                child,
            )
            for segment in fleet.segments
        }
        segment_cidrs = {segment.name: segment.cidr for segment in fleet.segments}
        firewalls = {
            firewall.segment: Firewall(
                f"{name}-{firewall.segment}-firewall",
                firewall,
                segment_cidrs,
                hosts_in(used_by_segment[firewall.segment]),
                child,
            )
            for firewall in fleet.firewalls
        }

        template_specs = {template.name: template for template in fleet.templates}
        nic_addresses = addressing.nic_addresses(fleet, plan.addresses)
        self.vms = {}
        for vm in plan.instances:
            host_name = placement.host_of[vm.name]
            self.vms[vm.name] = TaggedVm(
                f"{name}-{vm.name}",
                vm,
                template_specs[vm.template],
                hosts[host_name],
                templates[vm.template].images[host_name],
                [segments[segment].networks[host_name] for segment in vm.segments],
                {s: firewalls[s].filters[host_name] for s in vm.segments if s in firewalls},
                {
                    user.name: password_hash(user.password_secret)
                    for user in vm.cloud_init.users
                    if user.password_secret
                },
                child,
                nic_addresses[vm.name],
                archive_dir=fleet.archive_dir,
                left_out_of=(LEFT_OUT_WHEN_RETIRED, *([LEFT_OUT_OF_MONITORING] if fleet.monitoring else [])),
            )

        cluster_services = {
            handle.pool: handle.backend for handle in hosts.values() if isinstance(handle.backend, ClusterServices)
        }
        for tier in fleet.backup_tiers:
            members: dict[str, list[VmHandle]] = {}
            for vm in plan.instances:
                if vm.tags.get(rules.BACKUP_TAG) == tier.name and vm.retire is None:
                    members.setdefault(vm.pool, []).append(self.vms[vm.name].handle)
            if members:
                BackupTier(f"{name}-{tier.name}-backup", tier, members, cluster_services, child)
        for group in fleet.vms:
            if group.critical and group.anti_affinity and group.pool in cluster_services:
                kept_apart = [self.vms[vm.name].handle for vm in plan.instances if vm.group == group.name]
                if len(kept_apart) > 1:
                    cluster_services[group.pool].keep_apart(group.name, group.pool, kept_apart, self)
        for position, grant in enumerate(fleet.access):
            scope: dict[str, tuple[list[str], list[VmHandle]]] = {}
            for pool_name in cluster_services:
                on_pool = [vm for vm in plan.instances if vm.pool == pool_name]
                projects = sorted({vm.tags.get("project", "") for vm in on_pool} & set(grant.projects))
                vms = [self.vms[vm.name].handle for vm in on_pool if vm.group in grant.vm_groups]
                if projects or vms or not (grant.projects or grant.vm_groups):
                    scope[pool_name] = (projects, vms)
            AccessGrant(f"{name}-access-{position}-{grant.role}", grant, scope, cluster_services, child)

        self.inventory = {
            vm.name: {
                "host": placement.host_of[vm.name],
                "pool": vm.pool,
                "segments": list(vm.segments),
                "addresses": _served_addresses(hosts[placement.host_of[vm.name]].backend, nic_addresses[vm.name]),
                "firewalled_segments": [s for s in vm.segments if s in firewalls],
                "size": vm.size,
                "vcpus": vm.vcpus,
                "memory_mib": vm.memory_mib,
                "disk_gib": vm.disk_gib,
                "template": vm.template,
                "template_version": template_specs[vm.template].version,
                "tags": dict(vm.tags),
                "expires": vm.expires,
                "retired": vm.retire.reason if vm.retire is not None else None,
            }
            for vm in plan.instances
        }
        self.retired = {
            vm_name: handle.handle.decommission_record
            for vm_name, handle in self.vms.items()
            if handle.handle.decommission_record is not None
        }
        """Retired VM -> its decommission record (a path), known once the decommission is done."""
        if fleet.monitoring is not None:
            if monitoring_thresholds is None:
                raise ValueError("the declaration has monitoring: pass monitoring_thresholds")
            Monitoring(
                f"{name}-monitoring",
                fleet.monitoring,
                fleet,
                plan.instances,
                placement.host_of,
                {vm: handle.handle.monitored_as for vm, handle in self.vms.items() if handle.handle.monitored_as},
                monitoring_thresholds,
                child,
            )
        self.utilization = placement.utilization()
        self.register_outputs({"inventory": self.inventory, "utilization": self.utilization})


def _served_addresses(backend: Backend, nics: Mapping[str, NicAddress]) -> dict[str, dict[str, str]]:
    """Segment -> {address, fqdn} for the inventory: what the VM's platform really gives it there."""
    served: dict[str, dict[str, str]] = {}
    for segment, nic in nics.items():
        if backend.applies_address(nic):
            served[segment] = {"address": nic.address}
            if backend.serves_name(nic):
                served[segment]["fqdn"] = nic.fqdn
    return served
