"""What the previous deployment of this stack left in its outputs, read once before anything registers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.runtime

PLACEMENT_OUTPUT = "placement"
"""Stack output mapping each VM name to its host, read back to keep VMs where they are."""

ADDRESSES_OUTPUT = "addresses"
"""Stack output mapping each VM name to its address in each segment, read back so VMs keep them."""

PROTECTED_OUTPUT = "protected"
"""Stack output listing the VMs deployed with Pulumi's `protect` option (`["web-01", ...]`), read
back to refuse removing a protected VM in the same run that unprotects it (see `vmfleet.load.plan`)."""


RETIRED_OUTPUT = "retired"
"""Stack output mapping each decommissioned VM to its decommission record, read back so the retire
gate lets those VMs leave the declaration (see `vmfleet.decommission`)."""


HOSTS_OUTPUT = "hosts"
"""Stack output listing every host the deployment declared objects on (`["localhost", ...]`), read
back by `make down` so that it neither needs nor asks a host declared since (see `FleetPlan.on_hosts`)."""


@dataclass(frozen=True)
class PreviousDeployment:
    """The outputs of the stack's last deployment that planning needs; empty on the first one."""

    placement: Mapping[str, str] = field(default_factory=dict)
    """VM name -> host it runs on."""
    protected: frozenset[str] = frozenset()
    """Names of the VMs deployed with `protect: true`."""
    addresses: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """VM name -> segment -> address."""
    retired: frozenset[str] = frozenset()
    """Names of the VMs whose decommission is done."""
    hosts: frozenset[str] | None = None
    """The hosts it declared objects on; None when its outputs do not say (none at all, or deployed
    by a version without the output)."""
    recorded: bool = False
    """Whether the stack has outputs at all: false when it was never deployed, or is destroyed."""


def previous_deployment() -> PreviousDeployment:
    """The stack's own outputs from its last deployment, read once.

    Reads them through the engine's built-in `readStackOutputs` function, which is what
    StackReference uses, but synchronously, so they are known before any resource is registered.
    A stack never deployed has no outputs; one deployed before an output existed lacks it, and an
    output of an unexpected shape is ignored: each then reads as empty.
    """
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    result = pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", {"name": name})
    outputs: Mapping[str, Any] = (result.value or {}).get("outputs") or {}
    placement = outputs.get(PLACEMENT_OUTPUT)
    protected = outputs.get(PROTECTED_OUTPUT)
    addresses = outputs.get(ADDRESSES_OUTPUT)
    retired = outputs.get(RETIRED_OUTPUT)
    hosts = outputs.get(HOSTS_OUTPUT)
    return PreviousDeployment(
        placement={
            str(vm): host
            for vm, host in (placement.items() if isinstance(placement, Mapping) else [])
            if isinstance(host, str)
        },
        protected=frozenset(vm for vm in (protected if isinstance(protected, list) else []) if isinstance(vm, str)),
        addresses={
            str(vm): {str(segment): str(address) for segment, address in by_segment.items()}
            for vm, by_segment in (addresses.items() if isinstance(addresses, Mapping) else [])
            if isinstance(by_segment, Mapping)
        },
        retired=frozenset(
            str(vm) for vm, record in (retired.items() if isinstance(retired, Mapping) else []) if record
        ),
        hosts=frozenset(str(host) for host in hosts) if isinstance(hosts, list) else None,
        recorded=bool(outputs),
    )
