"""The repository's own stacks pass their own policy configs (judged as of the fixed test date)."""

from __future__ import annotations

import json

import pytest
from pulumi_policy import ResourceValidationPolicy
from vmpolicies.registry import POLICIES

from tests.declarations import ROOT, stack_declaration, stack_secrets
from tests.harness import PROXMOX_VM, is_secret, run_program
from tests.policies.helpers import DOMAIN, violations


@pytest.mark.parametrize(("stack", "vm_type"), [("dev", DOMAIN), ("prod", PROXMOX_VM)])
def test_stack_complies_with_its_policy_config(stack: str, vm_type: str) -> None:
    config = json.loads((ROOT / "policies" / "config" / f"{stack}.json").read_text())
    built = run_program(stack_declaration(stack), stack=stack, secrets=stack_secrets(stack))
    machines = [vm for vm in built.of_type(vm_type) if not vm.inputs.get("template")]
    assert machines
    found = []
    for policy in POLICIES:
        if not isinstance(policy, ResourceValidationPolicy):
            continue
        for vm in machines:
            inputs = {key: _plain(value) for key, value in vm.inputs.items()}
            found += violations(policy, inputs, config.get(policy.name, {}), vm.protect, resource_type=vm_type)
    assert found == []


def _plain(value: object) -> object:
    """A secret as the policy sees it: its value (pulumi_policy hands secrets over unwrapped)."""
    return value["value"] if is_secret(value) else value  # type: ignore[index]
