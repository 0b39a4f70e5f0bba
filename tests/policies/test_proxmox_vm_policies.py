"""The pack judges Proxmox VE VMs (`VmLegacy`) with the same rules as libvirt Domains, plus what a
cluster makes possible: backup coverage and high availability for critical VMs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import PolicyProviderResource, PolicyResource, ResourceValidationPolicy
from pulumi_policy.proxy import unknown_checking_proxy
from vmpolicies import backup_coverage, high_availability, host_capacity, mandatory_tags, segmentation, sizing_limits
from vmpolicies.registry import POLICIES

from tests.policies.helpers import compliant_domain, options, stack_violations, violations

VM = "proxmoxve:index/vmLegacy:VmLegacy"
HA = "proxmoxve:index/haresource:Haresource"
ENDPOINT = "https://pve-01.example.com:8006/"


def compliant_vm(**document_changes: Any) -> dict[str, Any]:
    """VmLegacy props as the Proxmox backend writes them (camelCase, numbers as floats)."""
    document = json.loads(compliant_domain()["metadata"])
    document["tags"]["backup"] = "gold"
    document.update(document_changes)
    return {
        "name": "test-db-01",
        "nodeName": "pve-01",
        "description": json.dumps(document, sort_keys=True, separators=(",", ":")),
        "tags": ["backup.gold", "environment.test"],
        "cpu": {"cores": 1.0, "sockets": 1.0},
        "memory": {"dedicated": 256.0},
        "networkDevices": [
            {"bridge": "vmbr0", "vlanId": 12.0, "firewall": True},
            {"bridge": "vmbr0", "firewall": True},
        ],
    }


def judged(policy_name: str, props: dict[str, Any], config: dict[str, Any] | None = None) -> list[str]:
    policy = next(p for p in POLICIES if p.name == policy_name)
    assert isinstance(policy, ResourceValidationPolicy)
    return violations(policy, props, config, resource_type=VM)


@pytest.mark.parametrize("policy", [p for p in POLICIES if isinstance(p, ResourceValidationPolicy)], ids=str)
def test_a_compliant_proxmox_vm_passes(policy: ResourceValidationPolicy) -> None:
    assert violations(policy, compliant_vm(), resource_type=VM) == []


def test_a_template_vm_is_not_judged_as_a_vm() -> None:
    template = {"name": "test-cloud-2026.11", "nodeName": "pve-01", "template": True, "started": False}
    for policy in POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            assert violations(policy, template, resource_type=VM) == [], policy.name


def test_a_raw_proxmox_vm_with_no_tags_breaks_mandatory_tags() -> None:
    raw = {"name": "handmade-01", "nodeName": "pve-01", "cpu": {"cores": 2.0}}
    [message] = judged(mandatory_tags.NAME, raw)
    assert "VM 'handmade-01' breaks mandatory tags" in message


def test_tags_are_read_from_the_description_document() -> None:
    document = json.loads(compliant_vm()["description"])
    del document["tags"]["owner"]
    props = {**compliant_vm(), "description": json.dumps(document)}
    assert any("owner" in message for message in judged(mandatory_tags.NAME, props))


def test_vcpus_are_cores_times_sockets() -> None:
    props = {**compliant_vm(), "cpu": {"cores": 4.0, "sockets": 2.0}}
    [message] = judged(sizing_limits.NAME, props, {"maxVcpus": 4})
    assert "vCPUs 8 exceeds the limit of 4" in message


def test_nics_are_judged_by_bridge_vlan_and_firewall_flag() -> None:
    config = {"networks": ["vmbr0.12", "vmbr0"]}
    assert judged(segmentation.NAME, compliant_vm(), config) == []
    off_vlan = {**compliant_vm(), "networkDevices": [{"bridge": "vmbr0", "vlanId": 99.0, "firewall": True}]}
    [message] = judged(segmentation.NAME, off_vlan, config)
    assert "'vmbr0.99', which is not a declared segment" in message
    unfiltered = {**compliant_vm(), "networkDevices": [{"bridge": "vmbr0", "vlanId": 12.0, "firewall": False}]}
    [message] = judged(segmentation.NAME, unfiltered, config)
    assert "interface 0 on 'vmbr0.12' has no firewall filter" in message


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"backup": None}, "it is in no backup tier"),
        ({"backup": "none"}, "without a reason"),
        ({"backup": "platinum"}, "its backup tier 'platinum' is not one of the stack's"),
    ],
)
def test_backup_coverage(tags: dict[str, str | None], expected: str) -> None:
    document = json.loads(compliant_vm()["description"])
    for key, value in tags.items():
        if value is None:
            document["tags"].pop(key)
        else:
            document["tags"][key] = value
    props = {**compliant_vm(), "description": json.dumps(document)}
    [message] = judged(backup_coverage.NAME, props, {"tiers": ["gold", "silver"]})
    assert expected in message and "VM 'test-db-01' breaks backup coverage" in message


def test_no_backups_with_a_justification_pass() -> None:
    document = json.loads(compliant_vm()["description"])
    document["tags"] |= {"backup": "none", "backup_justification": "scratch data, rebuilt nightly"}
    assert judged(backup_coverage.NAME, {**compliant_vm(), "description": json.dumps(document)}) == []


def test_backup_coverage_leaves_libvirt_domains_alone() -> None:
    policy = next(p for p in POLICIES if p.name == backup_coverage.NAME)
    assert isinstance(policy, ResourceValidationPolicy)
    assert violations(policy, compliant_domain()) == []


def resource(resource_type: str, props: dict[str, Any], urn: str, dependencies: list[PolicyResource]) -> PolicyResource:
    provider = PolicyProviderResource(
        "pulumi:providers:proxmoxve", unknown_checking_proxy({"endpoint": ENDPOINT}), "urn:provider", "p"
    )
    return PolicyResource(
        resource_type, unknown_checking_proxy(props), urn, urn, options(), provider, None, dependencies, {}
    )


def test_critical_vms_need_an_ha_resource() -> None:
    critical = resource(VM, compliant_vm(critical=True), "urn:vm", [])
    assert len(stack_violations(high_availability.POLICY, [critical])) == 1
    ha = resource(HA, {"resourceId": "vm:100"}, "urn:ha", [critical])
    assert stack_violations(high_availability.POLICY, [critical, ha]) == []
    ordinary = resource(VM, compliant_vm(critical=False), "urn:vm", [])
    assert stack_violations(high_availability.POLICY, [ordinary]) == []


def test_host_capacity_finds_a_proxmox_vm_on_its_node() -> None:
    pool = resource(
        "vmfleet:fleet:HostPool",
        {
            "hosts": [
                {
                    "name": "pve-01",
                    "uri": f"{ENDPOINT.rstrip('/')}/nodes/pve-01",
                    "vcpu_capacity": 1.0,
                    "memory_mib_capacity": 4096.0,
                }
            ]
        },
        "urn:pool",
        [],
    )
    one = resource(VM, compliant_vm(), "urn:one", [])
    two = resource(VM, {**compliant_vm(), "name": "test-db-02"}, "urn:two", [])
    assert stack_violations(host_capacity.POLICY, [pool, one]) == []
    [message] = stack_violations(host_capacity.POLICY, [pool, one, two])
    assert "host 'pve-01' breaks host capacity: 2 VMs need 2 vCPU" in message
