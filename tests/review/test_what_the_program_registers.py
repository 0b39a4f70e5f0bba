"""The review knows every component and resource kind the program registers, on both platforms.

A new component, a renamed type token or a new dynamic resource must be taught to the review
(review/changes.py SECTIONS, backends/*/describe.py), or its changes would read as "Other resources".
"""

from __future__ import annotations

import importlib

import pytest

from backends import state_registry
from backends.libvirt import describe
from review.changes import COMPONENT_TYPES, kind_of
from review.events import State, Step
from tests.declarations import stack_declaration, stack_secrets
from tests.harness import run_program


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_component_type_has_a_section(stack: str) -> None:
    built = run_program(stack_declaration(stack), stack=stack, secrets=stack_secrets(stack))
    components = {r.type for r in built.registrations if r.type.startswith("vmfleet:")}
    assert components <= COMPONENT_TYPES, f"the review has no section for {components - COMPONENT_TYPES}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_has_a_kind_in_words(stack: str) -> None:
    built = run_program(stack_declaration(stack), stack=stack, secrets=stack_secrets(stack))
    for registration in built.registrations:
        if registration.type.startswith(("vmfleet:", "pulumi:providers:")):
            continue
        step = Step(
            urn=registration.urn,
            type=registration.type,
            op="create",
            old=None,
            new=State(registration.inputs, {}, registration.protect, registration.parent),
        )
        kind = kind_of(step)
        assert kind and ":" not in kind and kind != "Resource", (
            f"{registration.name} ({registration.type}) reads as {kind!r}"
        )


def test_every_libvirt_dynamic_provider_is_described() -> None:
    registered = {
        getattr(importlib.import_module(path.split(":")[0]), path.split(":")[1])
        for name, path in state_registry.PROVIDERS.items()
        if name.startswith("libvirt/")
    }
    assert registered == set(describe.DYNAMIC_PROVIDERS)
