"""What the previous deployment of this stack left in its outputs."""

from __future__ import annotations

import pulumi
import pulumi.runtime

PLACEMENT_OUTPUT = "placement"
"""Stack output mapping each VM name to its host, read back to keep VMs where they are."""


def previous_placement() -> dict[str, str]:
    """VM -> host from the stack's last deployment; empty on the first one (no outputs yet).

    Reads the stack's own outputs through the engine's built-in `readStackOutputs` function, which
    is what StackReference uses, but synchronously, so placement is known before any resource is
    registered.
    """
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    result = pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", {"name": name})
    outputs = (result.value or {}).get("outputs") or {}
    placement = outputs.get(PLACEMENT_OUTPUT) or {}
    return {str(vm): str(host) for vm, host in placement.items() if isinstance(host, str)}
