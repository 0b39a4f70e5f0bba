"""vmfleet: the stack's fleet declaration -> checked plan -> components -> each platform's resources."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi.runtime

from backends.libvirt import LibvirtBackend
from backends.libvirt.probe import best_domain_type
from backends.proxmox.adapter import ProxmoxBackend
from components.backend import Backend
from components.fleet import Fleet
from components.sdk_debug_log import drop_sdk_debug_messages
from components.stack_state import ADDRESSES_OUTPUT, PLACEMENT_OUTPUT, PROTECTED_OUTPUT, previous_deployment
from vmfleet import images
from vmfleet.load import CONFIG_KEY, plan
from vmfleet.problems import FleetDeclarationError

drop_sdk_debug_messages()
config = pulumi.Config()


def libvirt_backend(prefix: str) -> Backend:
    return LibvirtBackend(prefix, probe_domain_type=best_domain_type)


def proxmox_backend(prefix: str) -> Backend:
    return ProxmoxBackend(prefix, secret=config.require_secret)


BACKENDS: dict[str, Callable[[str], Backend]] = {"libvirt": libvirt_backend, "proxmox": proxmox_backend}
"""The host pool platforms this program deploys to, each with how to make its backend for a prefix."""

namespace = f"{pulumi.get_project()}:"
previous = previous_deployment()
try:
    fleet_plan = plan(
        config.require_object(CONFIG_KEY),
        source=f"Pulumi.{pulumi.get_stack()}.yaml ({namespace}{CONFIG_KEY})",
        previous_placement=previous.placement,
        previously_protected=previous.protected,
        previous_addresses=previous.addresses,
        is_secret=lambda key: pulumi.runtime.is_config_secret(namespace + key),
        inspect_image=images.virtual_size,
    )
except FleetDeclarationError as error:
    raise pulumi.RunError(str(error)) from None

fleet = Fleet(
    "fleet",
    fleet_plan,
    backends={platform: make(fleet_plan.fleet.prefix) for platform, make in BACKENDS.items()},
    password_hash=config.require_secret,
)
pulumi.export("inventory", fleet.inventory)
pulumi.export("utilization", fleet.utilization)
pulumi.export(PLACEMENT_OUTPUT, dict(fleet_plan.placement.host_of))
pulumi.export(PROTECTED_OUTPUT, fleet_plan.protected)
pulumi.export(ADDRESSES_OUTPUT, fleet_plan.address_texts())
