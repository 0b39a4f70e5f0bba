"""The stack policy, and lint-style checks over the whole registry and the shipped configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, Severity, StackValidationPolicy
from vmpolicies import host_capacity
from vmpolicies.registry import POLICIES

from tests.declarations import ROOT
from tests.policies.helpers import DOMAIN, compliant_domain, policy_resource, stack_violations

POOL = {
    "hosts": [
        {
            "name": "h1",
            "uri": "qemu:///system",
            "cpu_cores": 2,
            "memory_mib": 1024,
            "vcpu_capacity": 4,
            "memory_mib_capacity": 1024,
        },
    ],
    "cpu_overcommit": 2.0,
    "memory_overcommit": 1.0,
}


def vm(name: str, vcpus: float, memory: float, uri: str = "qemu:///system") -> object:
    return policy_resource(DOMAIN, {**compliant_domain(), "name": name, "vcpu": vcpus, "memory": memory}, uri)


def test_host_within_capacity() -> None:
    resources = [policy_resource("vmfleet:fleet:HostPool", POOL), vm("a", 2, 512), vm("b", 2, 512)]
    assert stack_violations(host_capacity.POLICY, resources) == []  # type: ignore[arg-type]


def test_host_over_capacity() -> None:
    resources = [policy_resource("vmfleet:fleet:HostPool", POOL), vm("a", 2, 512), vm("b", 3, 768)]
    [message] = stack_violations(host_capacity.POLICY, resources)  # type: ignore[arg-type]
    assert message.startswith("host 'h1' breaks host capacity: 2 VMs need 5 vCPU / 1280 MiB")
    assert "allows 4 vCPU / 1024 MiB" in message


def test_vm_on_an_undeclared_host() -> None:
    resources = [policy_resource("vmfleet:fleet:HostPool", POOL), vm("stray", 1, 128, uri="qemu+ssh://x/system")]
    [message] = stack_violations(host_capacity.POLICY, resources)  # type: ignore[arg-type]
    assert "VMs stray break host capacity" in message and "qemu+ssh://x/system" in message


def test_registry_policies_are_complete() -> None:
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names)) == 11
    for policy in POLICIES:
        assert isinstance(policy, (ResourceValidationPolicy, StackValidationPolicy))
        assert policy.name == policy.name.lower() and " " not in policy.name, "kebab-case names"
        assert policy.description and policy.description.endswith("."), policy.name
        assert isinstance(policy.severity, Severity), policy.name
        assert policy.config_schema is not None, policy.name
        assert policy.enforcement_level in (EnforcementLevel.ADVISORY, EnforcementLevel.MANDATORY)
    assert {p.name for p in POLICIES if p.enforcement_level == EnforcementLevel.MANDATORY} == {
        "mandatory-tags",
        "vm-lifespan",
    }, "by default only missing tags and expired VMs block"


CONFIGS = sorted((ROOT / "policies" / "config").glob("*.json"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_fits_every_schema(path: Path) -> None:
    config = json.loads(path.read_text())
    by_name = {policy.name: policy for policy in POLICIES}
    assert set(config) <= set(by_name) | {"all"}, f"unknown policy names in {path.name}"
    assert set(by_name) <= set(config), f"{path.name} should state every policy's level"
    for name, value in config.items():
        schema = by_name[name].config_schema
        assert schema is not None
        settings = {key: v for key, v in value.items() if key != "enforcementLevel"}
        assert value["enforcementLevel"] in ("advisory", "mandatory", "disabled")
        assert set(settings) <= set(schema.properties), f"{path.name}: {name} has unknown keys"
        for key, setting in settings.items():
            expected = schema.properties[key]["type"]
            python_type = {"string": str, "integer": int, "boolean": bool, "array": list}[expected]
            assert isinstance(setting, python_type), f"{path.name}: {name}.{key} should be {expected}"


def test_prod_blocks_on_everything_but_the_notice() -> None:
    config = json.loads((ROOT / "policies" / "config" / "prod.json").read_text())
    levels = {name: value["enforcementLevel"] for name, value in config.items()}
    assert levels.pop("vm-expiry-notice") == "advisory"
    assert set(levels.values()) == {"mandatory"}


def test_dev_blocks_on_tags_and_lifespan_only() -> None:
    config = json.loads((ROOT / "policies" / "config" / "dev.json").read_text())
    mandatory = {name for name, value in config.items() if value["enforcementLevel"] == "mandatory"}
    assert mandatory == {"mandatory-tags", "vm-lifespan"}
