"""From the raw stack config value to a checked, placed plan, or one error listing every problem."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from vmfleet import addressing, decommission, validate
from vmfleet.images import ImageInspector
from vmfleet.placement import Placement, PlacementError, place
from vmfleet.plan import VmInstance, expand
from vmfleet.problems import FleetDeclarationError, Problem, config_path, from_validation_error
from vmfleet.spec import Fleet

CONFIG_KEY = "fleet"
"""The stack config key (`vmfleet:fleet`) that holds the declaration."""


@dataclass(frozen=True)
class FleetPlan:
    """A declaration that passed every check, its VMs and where they run."""

    fleet: Fleet
    instances: Sequence[VmInstance]
    placement: Placement
    addresses: addressing.Addresses = field(default_factory=dict)
    """VM name -> segment name -> its address there (`vmfleet.addressing`)."""
    removed_unretired: Mapping[str, tuple[list[str], str]] = field(default_factory=dict)
    """Group -> (its VMs this run destroys without a decommission, the `remove_unretired` reason)."""

    def address_texts(self) -> dict[str, dict[str, str]]:
        """The addresses as text, as the stack exports them for the next run (`previous_addresses`)."""
        return {
            vm: {segment: str(address) for segment, address in by_segment.items()}
            for vm, by_segment in self.addresses.items()
        }

    @property
    def protected(self) -> list[str]:
        """Names of the VMs deployed with Pulumi's `protect` option, in declaration order; the program
        exports them so that the next run can pass them back as `previously_protected`."""
        return [vm.name for vm in self.instances if vm.protect]

    @property
    def host_names(self) -> list[str]:
        """Every declared host, pool by pool in declaration order: each gets the backend's per-host
        objects (a libvirt provider and storage pool), so the program exports them as `hosts`."""
        return [host.name for pool in self.fleet.host_pools for host in pool.hosts]

    def on_hosts(self, hosts: Collection[str]) -> FleetPlan:
        """This plan without the hosts not in `hosts`, the VMs placed on them, and pools left empty.

        For `make down`: a host the last deployment did not reach holds nothing of the stack, so the
        destroy needs no provider for it, and a dead one must not be asked. Not re-validated: it is
        a part of a plan that passed every check, never deployed from.
        """
        keep = set(hosts)
        pools = [
            pool.model_copy(update={"hosts": [host for host in pool.hosts if host.name in keep]})
            for pool in self.fleet.host_pools
            if any(host.name in keep for host in pool.hosts)
        ]
        return FleetPlan(
            fleet=self.fleet.model_copy(update={"host_pools": pools}),
            instances=[vm for vm in self.instances if self.placement.host_of[vm.name] in keep],
            placement=Placement(
                host_of={vm: host for vm, host in self.placement.host_of.items() if host in keep},
                loads=[load for load in self.placement.loads if load.host.name in keep],
            ),
            addresses=self.addresses,
            removed_unretired=self.removed_unretired,
        )

    def template_hosts(self) -> dict[str, set[str]]:
        """Each template's name -> the hosts that run a VM of it (where its image is needed)."""
        hosts: dict[str, set[str]] = {template.name: set() for template in self.fleet.templates}
        for vm in self.instances:
            hosts[vm.template].add(self.placement.host_of[vm.name])
        return hosts

    def segment_hosts(self) -> dict[str, set[str]]:
        """Each segment's name -> the hosts that run a VM on it (where its network and firewall are needed)."""
        hosts: dict[str, set[str]] = {segment.name: set() for segment in self.fleet.segments}
        for vm in self.instances:
            for segment in vm.segments:
                hosts[segment].add(self.placement.host_of[vm.name])
        return hosts


Model = TypeVar("Model", bound=BaseModel)


def parse(raw: Any, source: str, outcome: str = "nothing was deployed") -> Fleet:
    """The typed declaration, or FleetDeclarationError naming every shape error."""
    return parse_section(Fleet, raw, source, "sections", outcome)


def parse_section(
    model: type[Model], raw: Any, source: str, holds: str, outcome: str = "nothing was deployed"
) -> Model:
    """`raw` as `model`, or FleetDeclarationError naming every shape error with its config path.

    `source` names where `raw` was read; `holds` says what its mapping holds ("sections", "thresholds");
    `outcome`, what the error stopped.
    """
    if not isinstance(raw, Mapping):
        raise FleetDeclarationError(
            [Problem("(top level)", f"expected a mapping of {holds}, found {type(raw).__name__}")], source, outcome
        )
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise FleetDeclarationError(from_validation_error(error, raw), source, outcome) from None


def stack_config_value(stack_file: Path, key: str) -> Any:
    """The project config value `vmfleet:<key>` of a stack file, or None; for the tools that read a
    stack file outside a Pulumi run (leftovers, audit)."""
    document = yaml.safe_load(stack_file.read_text()) or {}
    return (document.get("config") or {}).get(f"vmfleet:{key}")


def load_fleet(stack_file: Path, outcome: str = "nothing was deployed") -> Fleet:
    """The declaration in a stack file (`config: vmfleet:fleet: ...`), checked for shape only."""
    source = f"{stack_file.name} (vmfleet:{CONFIG_KEY})"
    return parse(stack_config_value(stack_file, CONFIG_KEY), source, outcome)


def plan(
    raw: Any,
    *,
    source: str = "the fleet declaration",
    previous_placement: Mapping[str, str] | None = None,
    is_secret: Callable[[str], bool] | None = None,
    inspect_image: ImageInspector | None = None,
    previously_protected: Collection[str] = (),
    previous_addresses: Mapping[str, Mapping[str, str]] | None = None,
    previously_retired: Collection[str] = (),
) -> FleetPlan:
    """Parse, check, place and address; raises FleetDeclarationError before anything is deployed.

    `raw`: the stack's `vmfleet:fleet` value. `source`: how the error names it. `previous_placement`:
    VM name -> host of the last deployment (VMs stay put). `is_secret`: whether a stack config key is
    a secret. `inspect_image`: reads a template image's virtual size (`vmfleet.images.virtual_size`;
    the program passes it, and without it `min_disk_gib` is trusted and no file is read).
    `previously_protected`: names of the VMs the last deployment made with `protect` (its
    `FleetPlan.protected`); the plan must keep every one of them, since Pulumi refuses to delete a
    protected resource, and the problem says how to remove them in two runs. `previous_addresses`:
    VM name -> segment -> address of the last deployment (VMs keep their addresses).
    `previously_retired`: the VMs the last deployment had decommissioned; with the VMs of
    `previous_placement`, the retire gate refuses dropping any VM no `up` retired.
    """
    fleet = parse(raw, source)
    found = validate.problems(
        fleet,
        is_secret,
        inspect_image,
        previously_protected,
        previously_deployed=list(previous_placement or {}),
        previously_retired=previously_retired,
    )
    if found:
        raise FleetDeclarationError(found, source)
    instances = expand(fleet)
    try:
        placement = place(fleet, instances, previous_placement)
    except PlacementError as error:
        positions = {pool.name: position for position, pool in enumerate(fleet.host_pools)}
        overflows = [
            Problem(config_path(("host_pools", positions[pool]), fleet), report)
            for pool, report in error.reports.items()
        ]
        raise FleetDeclarationError(overflows, source) from None
    addresses = addressing.assign(fleet, instances, previous_addresses)
    reasons = {removal.group: removal.reason for removal in fleet.remove_unretired}
    overridden = {
        group: (names, reasons[group])
        for group, names in decommission.removed_unretired(
            fleet, list(previous_placement or {}), previously_retired
        ).items()
        if group in reasons
    }
    return FleetPlan(
        fleet=fleet, instances=instances, placement=placement, addresses=addresses, removed_unretired=overridden
    )
