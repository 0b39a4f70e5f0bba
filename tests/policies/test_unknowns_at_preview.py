"""Values unknown at preview: a policy that cannot judge a VM says so as a violation, and only that policy.

At preview the engine sends a property computed from another resource's output as one of
pulumi_policy's sentinel strings, and pulumi_policy wraps the props in `unknown_checking_proxy`,
which raises `UnknownValueError` when a sentinel is read (`pulumi_policy/proxy.py`). Left alone,
that exception becomes an advisory "can't run policy during preview" note, so a mandatory policy
would not block. These tests use the library's own sentinels and proxy (the helpers wrap every
props mapping in it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE
from vmpolicies import host_capacity
from vmpolicies.registry import POLICIES

from tests.policies.helpers import DOMAIN, compliant_domain, policy_resource, stack_violations, violations
from tests.policies.test_host_capacity_and_registry import POOL

# The engine marshals an unknown output as the string sentinel whatever the property's type
# (pulumi sdk go/common/resource/plugin/rpc.go, marshalUnknownProperty: unknown outputs carry "").
UNKNOWN = UNKNOWN_STRING_VALUE

Props = dict[str, Any]


def _set(path: str, value: Any = UNKNOWN) -> Callable[[Props], None]:
    """A change that makes the value at `path` (dots and [index]) unknown."""

    def change(props: Props) -> None:
        keys: list[str | int] = []
        for part in path.replace("[", ".").replace("]", "").split("."):
            keys.append(int(part) if part.isdigit() else part)
        target: Any = props
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def _every_network_id(props: Props) -> None:
    for interface in props["networkInterfaces"]:
        interface["networkId"] = UNKNOWN  # an output of the network resource; the name stays known


def _computed_disk_and_cloudinit(props: Props) -> None:
    props["disks"] = [{"volumeId": UNKNOWN}]
    props["cloudinit"] = UNKNOWN


UNKNOWNS: dict[str, Callable[[Props], None]] = {
    "name": _set("name"),
    "vcpu": _set("vcpu"),
    "memory": _set("memory"),
    "metadata": _set("metadata"),
    "networkInterfaces": _set("networkInterfaces"),
    "networkInterfaces[1].networkName": _set("networkInterfaces[1].networkName"),
    "networkInterfaces[].networkId": _every_network_id,
    "xml": _set("xml"),
    "xml.xslt": _set("xml.xslt"),
    "disks[0].volumeId, cloudinit": _computed_disk_and_cloudinit,
}
"""Props a Domain may have unknown at preview, each with the change that makes it so."""

JUDGES: dict[str, set[str]] = {
    "mandatory-tags": {"metadata"},
    "sizing-limits": {"vcpu", "memory", "metadata"},
    "vm-lifespan": {"metadata"},
    "vm-expiry-notice": {"metadata"},
    "approved-templates": {"metadata"},
    "segmentation": {"networkInterfaces", "networkInterfaces[1].networkName", "xml", "xml.xslt"},
    "protection": set(),
    "naming": {"name"},
    "backup-coverage": set(),  # judges Proxmox VMs only: a Domain is none of its business
}
"""Which of UNKNOWNS each resource policy needs; an unknown in any other is none of its business."""

RESOURCE_POLICIES = [policy for policy in POLICIES if isinstance(policy, ResourceValidationPolicy)]


def unknown_domain(case: str) -> Props:
    props = copy.deepcopy(compliant_domain())
    UNKNOWNS[case](props)
    return props


def test_every_resource_policy_states_what_it_judges() -> None:
    assert set(JUDGES) == {policy.name for policy in RESOURCE_POLICIES}


@pytest.mark.parametrize("case", list(UNKNOWNS))
@pytest.mark.parametrize("policy", RESOURCE_POLICIES, ids=lambda p: p.name)
def test_unknown_fact_is_a_violation_only_for_the_policy_that_judges_it(
    policy: ResourceValidationPolicy, case: str
) -> None:
    found = violations(policy, unknown_domain(case))  # raised UnknownValueError before the fix
    if case not in JUDGES[policy.name]:
        assert found == [], f"{policy.name} does not judge {case}"
        return
    [message] = found
    vm = "vm" if case == "name" else "test-db-01"  # an unknown host-side name: the Pulumi resource name
    assert message.startswith(f"VM {vm!r} breaks "), message
    assert f"cannot be judged at preview: {case} is computed" in message
    assert f"Fix: make {case} a literal value known at preview" in message


def test_interface_named_only_by_an_unknown_network_id() -> None:
    props = {**compliant_domain(), "networkInterfaces": [{"networkId": UNKNOWN}]}
    [message] = violations(next(p for p in RESOURCE_POLICIES if p.name == "segmentation"), props)
    assert "its networks cannot be judged at preview: networkInterfaces[0].networkId is computed" in message


def test_any_sentinel_kind_is_unknown() -> None:
    sizing = next(p for p in RESOURCE_POLICIES if p.name == "sizing-limits")
    [message] = violations(sizing, {**compliant_domain(), "vcpu": UNKNOWN_NUMBER_VALUE})
    assert "its vCPUs cannot be judged at preview: vcpu is computed" in message


def test_mandatory_policies_block_instead_of_the_advisory_note() -> None:
    # The same path the engine's gRPC call takes: a protobuf Struct with the sentinel, deserialized,
    # proxied and validated by pulumi_policy's analyzer servicer (private, hence the direct import).
    servicer = _PolicyAnalyzerServicer("vmfleet-governance", "0.1.0", POLICIES, EnforcementLevel.ADVISORY)
    properties = struct_pb2.Struct()
    json_format.ParseDict(unknown_domain("metadata"), properties)
    request = proto.AnalyzeRequest(type=DOMAIN, properties=properties, urn="urn:pulumi:dev::vmfleet::vm", name="vm")
    response = servicer.Analyze(request, None)  # type: ignore[no-untyped-call]
    by_policy = {d.policyName: d for d in response.diagnostics}
    assert not [d.message for d in response.diagnostics if "can't run policy" in d.message]
    for name in ("mandatory-tags", "vm-lifespan"):
        assert by_policy[name].enforcementLevel == proto.MANDATORY
        assert by_policy[name].message.count("VM 'test-db-01' breaks") == 1
        assert "Fix: make metadata a literal value known at preview" in by_policy[name].message
    assert set(by_policy) == {name for name, judged in JUDGES.items() if "metadata" in judged}


# host-capacity (stack policy) -----------------------------------------------------------------------


def _vm(vm_name: str, **unknown: Any) -> Any:
    props = {**compliant_domain(), "name": vm_name, "vcpu": 2.0, "memory": 512.0, **unknown}
    return policy_resource(DOMAIN, props, "qemu:///system")


def test_host_capacity_reports_a_vm_whose_size_is_unknown() -> None:
    resources = [
        policy_resource("vmfleet:fleet:HostPool", POOL),
        _vm("a", vcpu=UNKNOWN),
        _vm("b", memory=UNKNOWN),
        _vm("c"),
    ]
    found = stack_violations(host_capacity.POLICY, resources)
    assert len(found) == 2, found
    assert found[0].startswith("VM 'a' breaks host capacity: its vCPUs cannot be judged at preview: vcpu")
    assert found[1].startswith("VM 'b' breaks host capacity: its memory cannot be judged at preview: memory")


def test_host_capacity_ignores_unknowns_it_does_not_count() -> None:
    resources = [
        policy_resource("vmfleet:fleet:HostPool", POOL),
        _vm("a", metadata=UNKNOWN, xml=UNKNOWN, name=UNKNOWN),
        _vm("b", networkInterfaces=[{"networkName": "test-db", "networkId": UNKNOWN}]),
    ]
    assert stack_violations(host_capacity.POLICY, resources) == []


def test_host_capacity_reports_an_unknown_host_or_pool() -> None:
    pool: dict[str, Any] = copy.deepcopy(POOL)
    pool["hosts"][0]["vcpu_capacity"] = UNKNOWN
    on_unknown_host = policy_resource(DOMAIN, {**compliant_domain(), "name": "x"}, UNKNOWN)
    on_the_pool = _vm("c")  # not reported as on an undeclared host: the pool's report covers it
    resources = [policy_resource("vmfleet:fleet:HostPool", pool), on_unknown_host, on_the_pool]
    found = stack_violations(host_capacity.POLICY, resources)
    assert len(found) == 2, found
    assert "host pool 'r' breaks host capacity" in found[0] and "hosts[0].vcpu_capacity is computed" in found[0]
    assert found[1].startswith("VM 'x' breaks host capacity: its host cannot be judged at preview: the provider's uri")
