"""host-capacity (stack policy): no host holds more vCPUs or memory than its pool's overcommit allows.

Capacity comes from the HostPool components' outputs (cores and memory times the pool's ratios);
load is every VM resource in the stack, matched to a host by its provider's libvirt URI, so VMs made
outside vmfleet count too. A stack policy runs after resources register; the program's own placement
check is what stops an over-capacity fleet before anything is deployed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from vmpolicies.vm import vm_facts

NAME = "host-capacity"
HOST_POOL_TYPE = "vmfleet:fleet:HostPool"


@dataclass
class HostUsage:
    name: str
    vcpu_capacity: int
    memory_mib_capacity: int
    vcpus: int = 0
    memory_mib: int = 0
    vms: int = 0


def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    hosts: dict[str, HostUsage] = {}
    for resource in args.resources:
        if resource.resource_type == HOST_POOL_TYPE:
            for host in resource.props.get("hosts") or []:
                hosts[host["uri"]] = HostUsage(
                    host["name"], int(host["vcpu_capacity"]), int(host["memory_mib_capacity"])
                )
    unknown: dict[str, list[str]] = defaultdict(list)
    for resource in args.resources:
        facts = vm_facts(resource.resource_type, resource.props, resource.name, None)
        if facts is None:
            continue
        uri = _uri(resource)
        usage = hosts.get(uri)
        if usage is None:
            unknown[uri].append(facts.name)
            continue
        usage.vcpus += facts.vcpus or 0
        usage.memory_mib += facts.memory_mib or 0
        usage.vms += 1
    for usage in hosts.values():
        if usage.vcpus > usage.vcpu_capacity or usage.memory_mib > usage.memory_mib_capacity:
            report_violation(
                f"host {usage.name!r} breaks host capacity: {usage.vms} VMs need {usage.vcpus} vCPU / "
                f"{usage.memory_mib} MiB but the pool's overcommit allows {usage.vcpu_capacity} vCPU / "
                f"{usage.memory_mib_capacity} MiB. Fix: move or shrink VMs, or add hosts to the pool.",
                None,
            )
    for uri, names in unknown.items():
        report_violation(
            f"VMs {', '.join(sorted(names))} break host capacity: their host {uri!r} belongs to no declared host "
            "pool, so its capacity is unknown. Fix: declare the host in a host pool of the stack.",
            None,
        )


def _uri(resource: Any) -> str:
    provider = getattr(resource, "provider", None)
    props = getattr(provider, "props", None) or {}
    return str(props.get("uri") or "(default provider)")


POLICY = StackValidationPolicy(
    name=NAME,
    description="No host carries more vCPUs or memory than its pool's overcommit ratios allow.",
    validate=validate,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(properties={}),
    severity=Severity.HIGH,
    remediation_steps="Spread VMs over more hosts, shrink them, or raise the pool's overcommit after review.",
)
