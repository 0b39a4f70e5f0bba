"""backup-coverage: every VM on a cluster is in a backup tier, or says why it has no backups."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from vmfleet import rules
from vmpolicies.base import Settings, violation, vm_policy
from vmpolicies.vm import VmFacts

NAME = "backup-coverage"
RULE = "backup coverage"

SCHEMA: dict[str, dict[str, Any]] = {
    "tiers": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "The stack's backup tiers; empty accepts any tier name.",
    },
}


def check(vm: VmFacts, config: Settings) -> list[str]:
    # libvirt hosts have no backup jobs (vmfleet refuses backup tiers there): nothing to judge.
    if vm.platform != "proxmox":
        return []
    tier = vm.tags.get(rules.BACKUP_TAG)
    choices = ", ".join(config["tiers"]) or "a declared tier"
    if not tier:
        return [
            violation(
                vm.name,
                RULE,
                f"it is in no backup tier (no {rules.BACKUP_TAG!r} tag)",
                f"tag it {rules.BACKUP_TAG}: <tier> ({choices}), or {rules.BACKUP_TAG}: {rules.NO_BACKUP} with a "
                f"{rules.BACKUP_JUSTIFICATION_TAG!r} tag",
            )
        ]
    if tier == rules.NO_BACKUP:
        if not vm.tags.get(rules.BACKUP_JUSTIFICATION_TAG, "").strip():
            return [
                violation(
                    vm.name,
                    RULE,
                    f"it is tagged {rules.BACKUP_TAG}: {rules.NO_BACKUP} without a reason",
                    f"say why in a {rules.BACKUP_JUSTIFICATION_TAG!r} tag, or put it in a tier ({choices})",
                )
            ]
        return []
    if config["tiers"] and tier not in config["tiers"]:
        return [violation(vm.name, RULE, f"its backup tier {tier!r} is not one of the stack's", f"use {choices}")]
    return []


POLICY = vm_policy(
    name=NAME,
    rule=RULE,
    description="Every VM on a Proxmox VE cluster belongs to a backup tier, or carries a justification for none.",
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.ADVISORY,
    schema=SCHEMA,
    check=check,
    remediation="Tag the VM's group with backup: <tier> in the stack's vmfleet:fleet.",
)
