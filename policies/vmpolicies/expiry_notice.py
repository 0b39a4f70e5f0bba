"""vm-expiry-notice: an advisory warning while a VM's expiry date approaches (grace period)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from vmfleet import rules
from vmpolicies import base
from vmpolicies.base import Settings, violation, vm_policy
from vmpolicies.vm import VmFacts

NAME = "vm-expiry-notice"
RULE = "expiry notice"

SCHEMA: dict[str, dict[str, Any]] = {"warnDays": {"type": "integer", "minimum": 0, "default": 14}}


def check(vm: VmFacts, config: Settings) -> list[str]:
    if rules.is_retired(vm.document):
        return []  # being decommissioned: the notice has done its job
    expires = rules.parse_iso_date(vm.tags.get("expires", ""))
    if expires is None:
        return []  # vm-lifespan reports a missing or malformed date
    days_left = (expires - base.today()).days
    if 0 <= days_left <= config["warnDays"]:
        return [
            violation(
                vm.name,
                RULE,
                f"it expires on {expires.isoformat()}, in {days_left} days",
                "extend expires if the VM is still needed; otherwise retire its group (retire: {reason: ...})",
            )
        ]
    return []


POLICY = vm_policy(
    name=NAME,
    rule=RULE,
    description="Warns while a VM is within the notice period before its expires date.",
    severity=Severity.LOW,
    enforcement_level=EnforcementLevel.ADVISORY,
    schema=SCHEMA,
    check=check,
    remediation="Extend expires after review, or remove the VM before it expires.",
)
