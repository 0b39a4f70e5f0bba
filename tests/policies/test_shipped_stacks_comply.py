"""The repository's own stacks pass their own policy configs (judged as of the fixed test date)."""

from __future__ import annotations

import json

import pytest
from pulumi_policy import ResourceValidationPolicy
from vmpolicies.registry import POLICIES

from tests.declarations import ROOT, stack_declaration
from tests.harness import run_program
from tests.policies.helpers import DOMAIN, violations


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_complies_with_its_policy_config(stack: str) -> None:
    config = json.loads((ROOT / "policies" / "config" / f"{stack}.json").read_text())
    built = run_program(stack_declaration(stack), stack=stack)
    domains = built.of_type(DOMAIN)
    assert domains
    found = []
    for policy in POLICIES:
        if not isinstance(policy, ResourceValidationPolicy):
            continue
        for domain in domains:
            found += violations(policy, domain.inputs, config.get(policy.name, {}), protect=domain.protect)
    assert found == []
