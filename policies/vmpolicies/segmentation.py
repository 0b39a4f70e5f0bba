"""segmentation: every VM interface is on a declared segment and behind that segment's firewall."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from vmpolicies.base import Settings, violation, vm_policy
from vmpolicies.vm import VmFacts

NAME = "segmentation"
RULE = "segmentation"

SCHEMA: dict[str, dict[str, Any]] = {
    "networks": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Host network names of the stack's segments (`<prefix>-<segment>`); empty skips the check.",
    },
}


def check(vm: VmFacts, config: Settings) -> list[str]:
    found = []
    for position, network in enumerate(vm.networks):
        if config["networks"] and network not in config["networks"]:
            found.append(
                violation(
                    vm.name,
                    RULE,
                    f"interface {position} is on {network!r}, which is not a declared segment",
                    f"attach it to one of {', '.join(config['networks'])}",
                )
            )
        elif network not in vm.filters_by_network:
            found.append(
                violation(
                    vm.name,
                    RULE,
                    f"interface {position} on {network!r} has no firewall filter",
                    "declare a firewall for the segment in the stack's vmfleet:fleet",
                )
            )
    return found


POLICY = vm_policy(
    name=NAME,
    rule=RULE,
    description="Every VM interface sits on a declared segment that has a firewall; no VM on an unfiltered network.",
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.ADVISORY,
    schema=SCHEMA,
    check=check,
    remediation="Attach VMs only to declared segments and declare a firewall for each segment.",
)
