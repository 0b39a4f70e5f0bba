"""mandatory-tags: every VM carries owner, project, environment, cost_center and expires, well formed."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from vmfleet import rules
from vmpolicies.base import Settings, violation, vm_policy
from vmpolicies.vm import VmFacts

NAME = "mandatory-tags"
RULE = "mandatory tags"

SCHEMA: dict[str, dict[str, Any]] = {
    "environment": {"type": "string", "default": "", "description": "The stack's environment; the tag must equal it."},
    "environments": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["dev", "test", "staging", "prod"],
        "description": "Environments a VM may be tagged with.",
    },
    "ownerGroups": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Teams that may own VMs as `group:<name>`; people own VMs by e-mail address.",
    },
    "costCenterPattern": {"type": "string", "default": rules.DEFAULT_COST_CENTER_PATTERN},
    "extraRequiredTags": {"type": "array", "items": {"type": "string"}, "default": []},
}


def check(vm: VmFacts, config: Settings) -> list[str]:
    if vm.document is None:
        return [
            violation(
                vm.name,
                RULE,
                "the VM carries no tags at all (no vmfleet metadata document)",
                f"declare it in the stack's vmfleet:fleet with tags {', '.join(rules.REQUIRED_TAGS)}",
            )
        ]
    tags = vm.tags
    found: list[str] = []
    for key in (*rules.REQUIRED_TAGS, *config["extraRequiredTags"]):
        if not tags.get(key, "").strip():
            found.append(
                violation(vm.name, RULE, f"tag {key!r} is missing", f"add tags.{key} to the VM or to defaults.tags")
            )
    owner = tags.get("owner", "")
    if owner and not _owner_ok(owner, config["ownerGroups"]):
        groups = ", ".join(f"group:{g}" for g in config["ownerGroups"]) or "none configured"
        found.append(
            violation(
                vm.name,
                RULE,
                f"owner {owner!r} is neither an e-mail address nor an allowed team",
                f"use a person's e-mail address or one of: {groups}",
            )
        )
    environment = tags.get("environment", "")
    if environment and environment not in config["environments"]:
        found.append(
            violation(
                vm.name,
                RULE,
                f"environment {environment!r} is not a known environment",
                f"use one of {', '.join(config['environments'])}",
            )
        )
    elif environment and config["environment"] and environment != config["environment"]:
        found.append(
            violation(
                vm.name,
                RULE,
                f"environment {environment!r} differs from this stack's {config['environment']!r}",
                f"tag the VM environment: {config['environment']}",
            )
        )
    cost_center = tags.get("cost_center", "")
    if cost_center and re.fullmatch(config["costCenterPattern"], cost_center) is None:
        found.append(
            violation(
                vm.name,
                RULE,
                f"cost_center {cost_center!r} does not match {config['costCenterPattern']}",
                "use the finance code, e.g. CC-1234",
            )
        )
    expires = tags.get("expires", "")
    if expires and rules.parse_iso_date(expires) is None:
        found.append(violation(vm.name, RULE, f"expires {expires!r} is not an ISO date", "write it as YYYY-MM-DD"))
    for key in tags:
        if not rules.matches(rules.TAG_KEY_PATTERN, key):
            found.append(
                violation(vm.name, RULE, f"tag key {key!r} is malformed", "use lower-case letters, digits and '_'")
            )
    return found


def _owner_ok(owner: str, groups: list[str]) -> bool:
    if rules.matches(rules.EMAIL_PATTERN, owner):
        return True
    return rules.matches(rules.OWNER_GROUP_PATTERN, owner) and owner.removeprefix("group:") in groups


POLICY = vm_policy(
    name=NAME,
    rule=RULE,
    description="Every VM carries owner, project, environment, cost_center and expires tags, each well formed.",
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    schema=SCHEMA,
    check=check,
    remediation="Set the tags on the VM group or in defaults.tags of the stack's vmfleet:fleet declaration.",
)
