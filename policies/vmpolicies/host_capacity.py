"""host-capacity (stack policy): no host holds more vCPUs or memory than its pool's overcommit allows.

Capacity comes from the HostPool components' outputs (cores and memory times the pool's ratios);
load is every VM resource in the stack, matched to a host by where it runs (its provider's libvirt
URI; a Proxmox VM's node under its provider's endpoint), so VMs made outside vmfleet count too. A
stack policy runs after resources register; the program's own placement check is what stops an
over-capacity fleet before anything is deployed.

At preview the policy sees planned outputs: a VM whose size or host is unknown, or a pool whose
capacity is, is reported (load that cannot be counted is not assumed to fit).
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
from pulumi_policy.proxy import UnknownValueError

from vmpolicies.base import unknown_violation
from vmpolicies.vm import UnknownFact, property_path, vm_facts

NAME = "host-capacity"
RULE = "host capacity"
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
    pool_unknown = False
    for resource in args.resources:
        if resource.resource_type == HOST_POOL_TYPE:
            try:
                hosts |= _pool_hosts(resource.props)
            except UnknownValueError as unknown:
                pool_unknown = True
                report_violation(
                    f"host pool {resource.name!r} breaks {RULE}: its capacity cannot be judged at preview: "
                    f"{property_path(unknown.props)} is computed from another resource's output. Fix: give the "
                    "pool's hosts values known at preview.",
                    resource.urn,
                )
    unknown_hosts: dict[str, list[str]] = defaultdict(list)
    for resource in args.resources:
        provider = getattr(resource, "provider", None)
        provider_props = getattr(provider, "props", None) or {}
        facts = vm_facts(resource.resource_type, resource.props, resource.name, None, provider_props)
        if facts is None:
            continue
        try:
            uri = facts.host_address
            vcpus, memory_mib = facts.vcpus or 0, facts.memory_mib or 0
        except UnknownFact as unknown:
            report_violation(unknown_violation(facts.name, RULE, unknown), resource.urn)
            continue
        usage = hosts.get(uri)
        if usage is None:
            unknown_hosts[uri].append(facts.name)
            continue
        usage.vcpus += vcpus
        usage.memory_mib += memory_mib
        usage.vms += 1
    for usage in hosts.values():
        if usage.vcpus > usage.vcpu_capacity or usage.memory_mib > usage.memory_mib_capacity:
            report_violation(
                f"host {usage.name!r} breaks {RULE}: {usage.vms} VMs need {usage.vcpus} vCPU / "
                f"{usage.memory_mib} MiB but the pool's overcommit allows {usage.vcpu_capacity} vCPU / "
                f"{usage.memory_mib_capacity} MiB. Fix: move or shrink VMs, or add hosts to the pool.",
                None,
            )
    # A host of a pool whose capacity is unknown is not undeclared: that pool's report covers it.
    for uri, names in ({} if pool_unknown else unknown_hosts).items():
        report_violation(
            f"VMs {', '.join(sorted(names))} break {RULE}: their host {uri!r} belongs to no declared host "
            "pool, so its capacity is unknown. Fix: declare the host in a host pool of the stack.",
            None,
        )


def _pool_hosts(props: Any) -> dict[str, HostUsage]:
    """Capacity by host address (a libvirt URI, a Proxmox node's API path), from a HostPool's outputs."""
    return {
        host["uri"]: HostUsage(host["name"], int(host["vcpu_capacity"]), int(host["memory_mib_capacity"]))
        for host in props.get("hosts") or []
    }


POLICY = StackValidationPolicy(
    name=NAME,
    description="No host carries more vCPUs or memory than its pool's overcommit ratios allow.",
    validate=validate,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(properties={}),
    severity=Severity.HIGH,
    remediation_steps="Spread VMs over more hosts, shrink them, or raise the pool's overcommit after review.",
)
