"""approved-templates: VMs come from approved golden images that are recently patched."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from vmfleet import rules
from vmpolicies import base
from vmpolicies.base import Settings, violation, vm_policy
from vmpolicies.vm import VmFacts

NAME = "approved-templates"
RULE = "approved templates"

SCHEMA: dict[str, dict[str, Any]] = {
    "approved": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Template names VMs may use; empty allows every template.",
    },
    "maxTemplateAgeDays": {"type": "integer", "minimum": 1, "default": 90},
}


def check(vm: VmFacts, config: Settings) -> list[str]:
    template = vm.fact("template")
    if template is None:
        return [
            violation(
                vm.name, RULE, "the VM records no template", "build it from a template of the stack's declaration"
            )
        ]
    found = []
    if config["approved"] and template not in config["approved"]:
        found.append(
            violation(
                vm.name, RULE, f"template {template!r} is not approved", f"use one of {', '.join(config['approved'])}"
            )
        )
    patched = rules.parse_iso_date(str(vm.fact("template_patched") or ""))
    oldest = base.today() - dt.timedelta(days=config["maxTemplateAgeDays"])
    if patched is None:
        found.append(violation(vm.name, RULE, f"template {template!r} has no patch date", "set patched: YYYY-MM-DD"))
    elif patched < oldest:
        found.append(
            violation(
                vm.name,
                RULE,
                f"template {template!r} was last patched {patched.isoformat()}, more than "
                f"{config['maxTemplateAgeDays']} days ago",
                "rebuild the image, bump the template's version and patched date",
            )
        )
    return found


POLICY = vm_policy(
    name=NAME,
    rule=RULE,
    description="VMs are cloned only from approved templates patched within the stack's maximum age.",
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.ADVISORY,
    schema=SCHEMA,
    check=check,
    remediation="Use an approved template; rebuild stale golden images and bump their version.",
)
