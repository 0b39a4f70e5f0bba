"""vmfleet: the stack's fleet declaration -> checked plan -> components -> each platform's resources."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pulumi
import pulumi.runtime

from audit.settings import CONFIG_KEY as AUDIT_CONFIG_KEY
from audit.settings import AuditConfig, lease_warning_days
from backends.libvirt import LibvirtBackend
from backends.libvirt.probe import best_domain_type
from backends.libvirt.snapshot_hooks import DESTROY_VARIABLE, SnapshotHooks
from backends.proxmox.adapter import ProxmoxBackend
from components.backend import Backend
from components.fleet import Fleet
from components.sdk_debug_log import drop_sdk_debug_messages
from components.stack_state import (
    ADDRESSES_OUTPUT,
    HOSTS_OUTPUT,
    PLACEMENT_OUTPUT,
    PROTECTED_OUTPUT,
    RETIRED_OUTPUT,
    previous_deployment,
)
from vmfleet import images, monitoring
from vmfleet.load import CONFIG_KEY, FleetPlan, parse_section, plan
from vmfleet.problems import FleetDeclarationError
from vmfleet.spec import Fleet as FleetSpec
from vmfleet.spec import SnapshotPolicy

drop_sdk_debug_messages()
config = pulumi.Config()
destroying = os.environ.get(DESTROY_VARIABLE) == "1"  # `make down`: pulumi destroy --run-program


def libvirt_backend(fleet: FleetSpec) -> Backend:
    hooks = SnapshotHooks(fleet.snapshots, destroying=destroying)
    # A destroy keeps each Domain's recorded inputs, so its domain type is not asked of the host.
    probe = (lambda _uri: "qemu") if destroying else best_domain_type
    return LibvirtBackend(fleet.prefix, probe_domain_type=probe, snapshot_hooks=hooks)


def proxmox_backend(fleet: FleetSpec) -> Backend:
    return ProxmoxBackend(fleet.prefix, secret=config.require_secret)


BACKENDS: dict[str, Callable[[FleetSpec], Backend]] = {"libvirt": libvirt_backend, "proxmox": proxmox_backend}
"""The host pool platforms this program deploys to, each with how to make its backend for a fleet."""


def monitoring_thresholds(spec: FleetSpec) -> monitoring.Thresholds | None:
    """What the monitoring rules compare with, each from its one home: the audit's idle threshold
    (`vmfleet:audit`), the pack's expiry notice (policies/config/<stack>.json), `monitoring.idle_days`."""
    if spec.monitoring is None:
        return None
    sys.path.insert(0, str(Path("policies").resolve()))  # the pack's own settings and defaults
    stack = pulumi.get_stack()
    raw = config.get_object(AUDIT_CONFIG_KEY)
    source = f"Pulumi.{stack}.yaml ({namespace}{AUDIT_CONFIG_KEY})"
    own = AuditConfig() if raw is None else parse_section(AuditConfig, raw, source, "thresholds")
    return monitoring.Thresholds(
        lease_warning_days=lease_warning_days(Path("policies") / "config" / f"{stack}.json"),
        idle_cpu_percent=own.idle_cpu_percent,
        idle_days=spec.monitoring.idle_days,
    )


def deploy(fleet_plan: FleetPlan, thresholds: monitoring.Thresholds | None) -> Fleet:
    """The plan's resources, each host pool through its platform's backend, and the stack's outputs."""
    fleet = Fleet(
        "fleet",
        fleet_plan,
        backends={platform: make(fleet_plan.fleet) for platform, make in BACKENDS.items()},
        password_hash=config.require_secret,
        monitoring_thresholds=thresholds,
    )
    pulumi.export("inventory", fleet.inventory)
    pulumi.export("utilization", fleet.utilization)
    pulumi.export(PLACEMENT_OUTPUT, dict(fleet_plan.placement.host_of))
    pulumi.export(PROTECTED_OUTPUT, fleet_plan.protected)
    pulumi.export(ADDRESSES_OUTPUT, fleet_plan.address_texts())
    pulumi.export(RETIRED_OUTPUT, fleet.retired)
    pulumi.export(HOSTS_OUTPUT, fleet_plan.host_names)
    for group, shared in fleet_plan.placement.shared_hosts().items():
        together = "; ".join(f"{', '.join(vms)} on {host}" for host, vms in shared.items())
        pulumi.log.warn(
            f"anti_affinity: VMs of group {group} share a host ({together}). They stay where they run, since "
            "moving a VM rebuilds it, disk and all, on another host; every VM placed anew goes to a host of its own"
        )
    for group, (vms, reason) in fleet_plan.removed_unretired.items():
        pulumi.log.warn(
            f"remove_unretired: group {group} is removed without a decommission, on purpose: its VMs "
            f"{', '.join(vms)} are destroyed with their disks, no archive and no record. Reason given: {reason}"
        )
    return fleet


namespace = f"{pulumi.get_project()}:"
previous = previous_deployment()


def checked_plan() -> tuple[FleetPlan, monitoring.Thresholds | None] | None:
    """The declaration, checked and placed; None under `make down` when it is not valid."""
    try:
        checked = plan(
            config.require_object(CONFIG_KEY),
            source=f"Pulumi.{pulumi.get_stack()}.yaml ({namespace}{CONFIG_KEY})",
            previous_placement=previous.placement,
            previously_protected=previous.protected,
            previous_addresses=previous.addresses,
            previously_retired=previous.retired,
            is_secret=lambda key: pulumi.runtime.is_config_secret(namespace + key),
            inspect_image=images.virtual_size,
        )
        return checked, monitoring_thresholds(checked.fleet)
    except FleetDeclarationError as error:
        if not destroying:
            raise pulumi.RunError(str(error)) from None
        pulumi.log.warn(f"the declaration is not valid, so the VMs' snapshots are not deleted first:\n{error}")
        return None


if destroying and not previous.recorded:
    # `make down` of a stack never deployed, or destroyed already: nothing to delete, and whatever the
    # program declared would only be written into the state. The Domains' hooks still, for a first
    # `up` killed before it exported anything.
    pulumi.log.info("the stack has no outputs: it was never deployed, or is destroyed already")
    SnapshotHooks(SnapshotPolicy(), destroying=True)
elif (planned := checked_plan()) is None:
    # `make down` deletes what the state holds whatever the declaration says; it only needs the
    # hooks its Domains name (without the hosts, they cannot delete the VMs' snapshots first).
    SnapshotHooks(SnapshotPolicy(), destroying=True)
else:
    # Also under `make down` (pulumi destroy --run-program), which deletes everything regardless:
    # the engine then calls the hooks of the resources the program declares. It declares only the
    # hosts the last deployment reached: a provider for any other would be created for nothing,
    # and one that does not answer fails the whole destroy.
    checked, thresholds = planned
    if destroying and previous.hosts is not None:
        unreached = [host for host in checked.host_names if host not in previous.hosts]
        if unreached:
            pulumi.log.info(f"not deployed to, so left out of the destroy: host {', '.join(unreached)}")
        checked = checked.on_hosts(previous.hosts)
    fleet = deploy(checked, thresholds)
