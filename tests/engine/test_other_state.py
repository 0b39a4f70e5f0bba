"""`make up` refuses to let a state that records nothing take over what the hosts hold of the stack.

A teammate whose shell lacks the team backend's PULUMI_BACKEND_URL gets a fresh `.state/` and a
new, empty stack; before this check, their `make up` took over the team's networks and pool and
restarted its VMs under a second state (seen in a newcomer's run of the team backend).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.engine.harness import NOTHING, EphemeralStack, host_objects

pytestmark = pytest.mark.engine

EMPTY_STATE: dict[str, Any] = {"version": 3, "deployment": {"manifest": {}, "resources": None}}


def before_up(stack: EphemeralStack, export: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """What scripts/stack.sh runs before `up`, against the stack file of `stack`."""
    state = tmp_path / "state.json"
    state.write_text(json.dumps(export))
    command = [
        sys.executable,
        "-m",
        "backends.libvirt.leftovers",
        stack.stack_name,
        "--state",
        str(state),
        "--before-up",
    ]
    return subprocess.run(command, cwd=stack.project, capture_output=True, text=True, timeout=120)


def test_an_empty_state_may_not_take_over_a_deployed_stack(
    ephemeral: EphemeralStack, fleet: dict[str, Any], tmp_path: Path
) -> None:
    ephemeral.declare(fleet)
    ephemeral.up()
    assert ephemeral.stack is not None
    deployed = {"version": 3, "deployment": ephemeral.stack.export_stack().deployment}

    assert before_up(ephemeral, deployed, tmp_path).returncode == 0, "the stack's own state goes on"

    refused = before_up(ephemeral, EMPTY_STATE, tmp_path)
    assert refused.returncode == 1
    message = refused.stderr
    assert f"the state of stack {ephemeral.stack_name} records nothing, but its hosts already hold" in message
    assert f"domain {ephemeral.prefix}-web-01 on qemu:///system" in message
    assert f"network {ephemeral.prefix}-front on qemu:///system" in message
    assert "is PULUMI_BACKEND_URL set in this shell?" in message and "ADOPT=1" in message

    ephemeral.destroy()
    assert host_objects(ephemeral.prefix) == NOTHING
    assert before_up(ephemeral, EMPTY_STATE, tmp_path).returncode == 0, "a first up on clean hosts goes on"
