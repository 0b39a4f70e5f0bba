"""The shape every vmfleet VM policy shares: facts in, violation messages out.

A policy that meets an unknown fact (a property computed from another resource's output, unknown
at preview) reports a violation saying which property and how to make it known, so a mandatory
policy blocks the preview instead of being skipped with an advisory note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from vmpolicies.vm import UnknownFact, VmFacts, vm_facts

Settings = Mapping[str, Any]
Check = Callable[[VmFacts, Settings], list[str]]


def today() -> dt.date:
    """The date lifespans are judged against (UTC); tests replace it."""
    return dt.datetime.now(dt.UTC).date()


def violation(vm: str, rule: str, found: str, fix: str) -> str:
    """Every message names the VM, the rule, the value found and how to fix it."""
    return f"VM {vm!r} breaks {rule}: {found}. Fix: {fix}"


def unknown_violation(vm: str, rule: str, unknown: UnknownFact) -> str:
    """The message for a rule that cannot judge a VM at preview because a fact it needs is computed."""
    return violation(
        vm,
        rule,
        f"{unknown.fact} cannot be judged at preview: {unknown.prop} is computed from another resource's "
        "output, so its value is unknown until the update runs",
        f"make {unknown.prop} a literal value known at preview (not derived from another resource's output)",
    )


def settings(config: Mapping[str, Any], schema: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The policy's config with each schema default filled in (the engine does the same)."""
    merged = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
    merged.update({key: value for key, value in config.items() if key != "enforcementLevel"})
    for key, spec in schema.items():
        if spec.get("type") == "integer" and isinstance(merged.get(key), float):
            merged[key] = int(merged[key])  # the engine hands JSON numbers over as floats
    return merged


def vm_policy(
    *,
    name: str,
    rule: str,
    description: str,
    severity: Severity,
    enforcement_level: EnforcementLevel,
    schema: dict[str, dict[str, Any]],
    check: Check,
    remediation: str,
) -> ResourceValidationPolicy:
    """A resource policy that judges VMs (and ignores every other resource type).

    `rule` is the policy's name in messages ("mandatory tags"). `check` reads only the facts it
    judges; when one of them is unknown (preview), the policy reports that instead of its findings.
    """

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        facts = vm_facts(args.resource_type, args.props, args.name, args.opts.protect if args.opts else None)
        if facts is None:
            return
        try:
            messages = check(facts, settings(args.get_config(), schema))
        except UnknownFact as unknown:
            messages = [unknown_violation(facts.name, rule, unknown)]
        for message in messages:
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=PolicyConfigSchema(properties=schema),
        severity=severity,
        remediation_steps=remediation,
    )
