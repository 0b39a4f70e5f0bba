"""sizing-limits: vCPUs, memory and disk within the stack's limits; optionally catalog sizes only."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from vmpolicies.base import Settings, violation, vm_policy
from vmpolicies.vm import VmFacts

NAME = "sizing-limits"
RULE = "sizing limits"

SCHEMA: dict[str, dict[str, Any]] = {
    "maxVcpus": {"type": "integer", "minimum": 1, "default": 16},
    "maxMemoryMib": {"type": "integer", "minimum": 64, "default": 65536},
    "maxDiskGib": {"type": "integer", "minimum": 1, "default": 500},
    "catalogOnly": {"type": "boolean", "default": False, "description": "Only sizes named in `catalog`."},
    "catalog": {"type": "array", "items": {"type": "string"}, "default": []},
}


def check(vm: VmFacts, config: Settings) -> list[str]:
    found = []
    limits = (
        ("vCPUs", vm.vcpus, config["maxVcpus"], ""),
        ("memory", vm.memory_mib, config["maxMemoryMib"], " MiB"),
        ("disk", vm.fact("disk_gib"), config["maxDiskGib"], " GiB"),
    )
    for what, value, limit, unit in limits:
        if value is None:
            found.append(
                violation(
                    vm.name,
                    RULE,
                    f"its {what} cannot be judged (not recorded on the VM)",
                    "create the VM through a vmfleet declaration, which records its size",
                )
            )
        elif int(value) > limit:
            found.append(
                violation(
                    vm.name,
                    RULE,
                    f"{what} {int(value)}{unit} exceeds the limit of {limit}{unit}",
                    f"choose a smaller size or raise {NAME} in the stack's policy config",
                )
            )
    size = vm.fact("size")
    if config["catalogOnly"] and size not in config["catalog"]:
        found.append(
            violation(
                vm.name,
                RULE,
                f"size {size!r} is not from the catalog",
                f"use a catalog size: one of {', '.join(config['catalog']) or '(none configured)'}",
            )
        )
    return found


POLICY = vm_policy(
    name=NAME,
    rule=RULE,
    description="A VM's vCPUs, memory and disk stay within the stack's limits, and optionally come from the catalog.",
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.ADVISORY,
    schema=SCHEMA,
    check=check,
    remediation="Pick a smaller catalog size, or have the platform team raise the limit in "
    "policies/config/<stack>.json.",
)
