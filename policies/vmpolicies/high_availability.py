"""high-availability (stack policy): every VM marked critical is managed by the cluster's HA.

A VM's document says `critical: true` (vmfleet writes it for groups declared critical); an HA
resource (`proxmoxve:index/haresource:Haresource`) that depends on the VM is what makes the cluster
restart it elsewhere. Dependencies are known at preview, when the VM's id is not.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from vmpolicies.base import unknown_violation, violation
from vmpolicies.vm import UnknownFact, vm_facts

NAME = "high-availability"
RULE = "high availability"
HA_RESOURCE = "proxmoxve:index/haresource:Haresource"


def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    managed = {
        dependency.urn
        for resource in args.resources
        if resource.resource_type == HA_RESOURCE
        for dependency in resource.dependencies or []
    }
    for resource in args.resources:
        facts = vm_facts(resource.resource_type, resource.props, resource.name, None)
        if facts is None or facts.platform != "proxmox":
            continue
        try:
            critical = bool(facts.fact("critical"))
        except UnknownFact as unknown:
            report_violation(unknown_violation(facts.name, RULE, unknown), resource.urn)
            continue
        if critical and resource.urn not in managed:
            report_violation(
                violation(
                    facts.name,
                    RULE,
                    "it is critical but no HA resource manages it",
                    "let vmfleet build it (critical: true on its group), or add an HA resource for the VM",
                ),
                resource.urn,
            )


POLICY = StackValidationPolicy(
    name=NAME,
    description="Every VM marked critical is managed by the cluster's high availability.",
    validate=validate,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(properties={}),
    severity=Severity.HIGH,
    remediation_steps="Mark the group critical in the stack's vmfleet:fleet, which adds the HA resource.",
)
