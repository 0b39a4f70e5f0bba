"""protection: in stacks that require it, VMs carry Pulumi's `protect` option."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from vmpolicies.base import Settings, violation, vm_policy
from vmpolicies.vm import VmFacts

NAME = "protection"
RULE = "protection"

SCHEMA: dict[str, dict[str, Any]] = {"requireProtect": {"type": "boolean", "default": False}}


def check(vm: VmFacts, config: Settings) -> list[str]:
    if config["requireProtect"] and not vm.protect:
        return [
            violation(
                vm.name,
                RULE,
                "the VM is not protected against deletion",
                "set defaults.protect: true (or protect: true on the group) in the stack's vmfleet:fleet",
            )
        ]
    return []


POLICY = vm_policy(
    name=NAME,
    rule=RULE,
    description="In stacks that require it, every VM is protected from accidental deletion.",
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.ADVISORY,
    schema=SCHEMA,
    check=check,
    remediation="Set protect: true for the stack's VMs.",
)
