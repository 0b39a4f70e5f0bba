"""vm-lifespan: a VM is not expired and does not outlive the stack's maximum lifespan.

The documented exemption: tags `lifespan: permanent` plus `lifespan_justification: <why>` lift the
maximum lifespan, only where the stack's config sets `allowPermanent`. An expired VM is never exempt:
its `expires` date is also its review date. A VM being decommissioned (its group's `retire`, in its
tag document) is not judged: retiring it is the way out.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from vmfleet import rules
from vmpolicies import base
from vmpolicies.base import Settings, violation, vm_policy
from vmpolicies.vm import VmFacts

NAME = "vm-lifespan"
RULE = "lifespan"

SCHEMA: dict[str, dict[str, Any]] = {
    "maxLifespanDays": {"type": "integer", "minimum": 1, "default": rules.DEFAULT_MAX_LIFESPAN_DAYS},
    "allowPermanent": {"type": "boolean", "default": False},
}


def check(vm: VmFacts, config: Settings) -> list[str]:
    if rules.is_retired(vm.document):
        return []  # being decommissioned: retiring is how an expired VM goes
    expires_text = vm.tags.get("expires", "")
    expires = rules.parse_iso_date(expires_text)
    if expires is None:
        return [
            violation(
                vm.name,
                RULE,
                f"expires is {expires_text!r}, so the lifespan cannot be judged",
                "tag the VM with expires: YYYY-MM-DD",
            )
        ]
    today = base.today()
    found = []
    if expires < today:
        found.append(
            violation(
                vm.name,
                RULE,
                f"it expired on {expires.isoformat()} ({(today - expires).days} days ago)",
                "retire its group (retire: {reason: ...}; README: Decommission), or extend expires after review",
            )
        )
    limit = rules.latest_expiry(today, config["maxLifespanDays"])
    permanent = vm.tags.get(rules.LIFESPAN_TAG) == rules.PERMANENT_LIFESPAN
    if permanent:
        if not config["allowPermanent"]:
            found.append(
                violation(
                    vm.name,
                    RULE,
                    "lifespan: permanent is not allowed in this stack",
                    f"remove the tag and set expires within {config['maxLifespanDays']} days",
                )
            )
        elif not vm.tags.get(rules.LIFESPAN_JUSTIFICATION_TAG, "").strip():
            found.append(
                violation(
                    vm.name,
                    RULE,
                    "lifespan: permanent has no justification",
                    f"add a {rules.LIFESPAN_JUSTIFICATION_TAG} tag saying why the VM must stay",
                )
            )
    elif expires > limit:
        found.append(
            violation(
                vm.name,
                RULE,
                f"expires {expires.isoformat()} is beyond the maximum lifespan of {config['maxLifespanDays']} days "
                f"({limit.isoformat()})",
                f"set expires on or before {limit.isoformat()}",
            )
        )
    return found


POLICY = vm_policy(
    name=NAME,
    rule=RULE,
    description="A VM is not past its expires date and does not outlive the stack's maximum lifespan.",
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    schema=SCHEMA,
    check=check,
    remediation="Delete expired VMs or extend expires after review; long-lived VMs need the permanent exemption.",
)
