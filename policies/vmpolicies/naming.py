"""naming: VM names follow the stack's naming convention."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from vmfleet import rules
from vmpolicies.base import Settings, violation, vm_policy
from vmpolicies.vm import VmFacts

NAME = "naming"
RULE = "naming convention"

SCHEMA: dict[str, dict[str, Any]] = {
    "pattern": {
        "type": "string",
        "default": rules.VM_INSTANCE_PATTERN,
        "description": "Regular expression the whole host-side VM name must match.",
    }
}


def check(vm: VmFacts, config: Settings) -> list[str]:
    if re.fullmatch(config["pattern"], vm.host_name) is None:
        return [
            violation(
                vm.name,
                RULE,
                f"the name does not match {config['pattern']}",
                "name VM groups with lower-case words; vmfleet adds the prefix and an index of two or more digits",
            )
        ]
    return []


POLICY = vm_policy(
    name=NAME,
    rule=RULE,
    description="VM names follow the stack's naming convention (prefix, group, index of two or more digits).",
    severity=Severity.LOW,
    enforcement_level=EnforcementLevel.ADVISORY,
    schema=SCHEMA,
    check=check,
    remediation="Rename the VM group; names are <prefix>-<group>-NN (NNN... past 99).",
)
