"""The machine-readable description every VM carries, for policies, audits and people.

The libvirt backend stores it in the Domain's `metadata` argument: kept in Pulumi state, updated in
place, and visible to CrossGuard as plain values at preview. Its keys are part of the contract with
the policy pack (`policies/`), which parses it with `parse`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vmfleet import rules

if TYPE_CHECKING:  # the policy pack imports this module without the program's dependencies
    from vmfleet.plan import VmInstance
    from vmfleet.spec import Template


def document(vm: VmInstance, template: Template, host: str) -> dict[str, Any]:
    """Everything a policy judges about one VM, as plain JSON-ready values."""
    return {
        "schema": rules.METADATA_SCHEMA,
        "vm": vm.name,
        "group": vm.group,
        "pool": vm.pool,
        "host": host,
        "size": vm.size,
        "vcpus": vm.vcpus,
        "memory_mib": vm.memory_mib,
        "disk_gib": vm.disk_gib,
        "template": template.name,
        "template_version": template.version,
        "template_patched": template.patched.isoformat(),
        "segments": list(vm.segments),
        "critical": vm.critical,
        "tags": dict(sorted(vm.tags.items())),
        **({rules.RETIRED_KEY: vm.retire.reason} if vm.retire is not None else {}),
    }


def encode(doc: Mapping[str, Any]) -> str:
    """Canonical JSON: the same document always gives the same text, so no spurious diffs."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def parse(text: object) -> dict[str, Any] | None:
    """The document from a Domain's `metadata`, or None when it is absent or not ours."""
    if not isinstance(text, str) or not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("schema") != rules.METADATA_SCHEMA:
        return None
    return doc
