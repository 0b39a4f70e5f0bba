"""Calling policies directly, without the engine: compliant VMs to start from, violations collected.

Props reach the policies wrapped in pulumi_policy's `unknown_checking_proxy`, as the engine hands
them over, so reading a value that is unknown at preview raises here exactly as it does there.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy
from vmpolicies import base

from backends.libvirt.domain_xslt import domain_stylesheet
from tests.declarations import valid
from vmfleet import metadata
from vmfleet.load import plan

DOMAIN = "libvirt:index/domain:Domain"
TODAY = dt.date(2026, 11, 26)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    monkeypatch.setattr(base, "today", lambda: TODAY)
    return TODAY


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def compliant_domain(**tag_overrides: str | None) -> dict[str, Any]:
    """Domain props as the vmfleet program produces them (camelCase, numbers as floats)."""
    fleet_plan = plan(valid())
    vm = fleet_plan.instances[2]  # db-01: segments db and web, size small
    document = metadata.document(vm, fleet_plan.fleet.templates[0], "h1")
    document["tags"]["expires"] = (TODAY + dt.timedelta(days=60)).isoformat()
    for key, value in tag_overrides.items():
        if value is None:
            document["tags"].pop(key, None)
        else:
            document["tags"][key] = value
    return {
        "name": "test-db-01",
        "vcpu": 1.0,
        "memory": 256.0,
        "type": "qemu",
        "metadata": metadata.encode(document),
        "networkInterfaces": [{"networkName": "test-db"}, {"networkName": "test-web"}],
        "xml": {
            "xslt": domain_stylesheet(
                {"test-db": "test-db-fw", "test-web": "test-web-fw"}, "/var/log/libvirt/qemu/test-db-01-console.log"
            )
        },
    }


def with_document(props: dict[str, Any], **changes: Any) -> dict[str, Any]:
    document = json.loads(props["metadata"])
    document.update(changes)
    return {**props, "metadata": metadata.encode(document)}


def violations(
    policy: ResourceValidationPolicy,
    props: dict[str, Any],
    config: dict[str, Any] | None = None,
    protect: bool = False,
    resource_type: str = DOMAIN,
) -> list[str]:
    found: list[str] = []
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(props),
        f"urn:pulumi:test::vmfleet::{resource_type}::vm",
        "vm",
        options(protect),
        None,
        config or {},
    )
    policy.validate(args, lambda message, urn=None: found.append(message))  # type: ignore[misc]
    return found


def stack_violations(
    policy: StackValidationPolicy, resources: list[PolicyResource], config: dict[str, Any] | None = None
) -> list[str]:
    found: list[str] = []
    policy.validate(StackValidationArgs(resources, config or {}), lambda message, urn=None: found.append(message))  # type: ignore[misc]
    return found


def policy_resource(resource_type: str, props: dict[str, Any], uri: str | None = None) -> PolicyResource:
    provider_props = unknown_checking_proxy({"uri": uri})
    provider = PolicyProviderResource("pulumi:providers:libvirt", provider_props, "urn:provider", "p") if uri else None
    return PolicyResource(
        resource_type,
        unknown_checking_proxy(props),
        f"urn:{props.get('name', 'r')}",
        str(props.get("name", "r")),
        options(),
        provider,
        None,
        [],
        {},
    )
