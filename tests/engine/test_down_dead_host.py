"""`make down` when a declared host does not answer: the destroy deletes what it can reach, keeps the
rest in the state, and says which host it could not check, instead of failing or hanging for it.

The dead hosts are a socket nobody listens on (refused at once) and a relay in front of the local
libvirt daemon that stops relaying (a hung daemon: connections open, nothing answered).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.engine.harness import NOTHING, EphemeralStack, host_objects
from tests.engine.stalling_socket import StallingSocket

pytestmark = pytest.mark.engine

HOST_TIMEOUT_S = "3"


def leftovers(stack: EphemeralStack, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`make down`'s leftover check after its destroy, on the stack's copy of the project."""
    export = stack.cli("stack", "export")
    assert export.returncode == 0, export.stderr
    state = tmp_path / "export.json"
    state.write_text(export.stdout)
    return subprocess.run(
        [sys.executable, "-m", "backends.libvirt.leftovers", stack.stack_name, "--state", str(state)],
        cwd=stack.project,
        env={**os.environ, **stack.environment, "VMFLEET_HOST_TIMEOUT": HOST_TIMEOUT_S},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_host_declared_since_the_last_up_is_left_out_of_make_down(
    ephemeral: EphemeralStack, fleet: dict[str, Any], tmp_path: Path
) -> None:
    ephemeral.declare(fleet)
    ephemeral.up()
    stalled = StallingSocket(tmp_path / "stalled.sock")
    stalled.stall()
    try:
        hosts = fleet["host_pools"][0]["hosts"]
        hosts.append({**hosts[0], "name": "gone", "uri": f"qemu+unix:///system?socket={tmp_path}/nobody.sock"})
        hosts.append({**hosts[0], "name": "hung", "uri": stalled.uri})
        ephemeral.declare(fleet)
        started = time.monotonic()
        down = ephemeral.cli_down(timeout=600)
        elapsed = time.monotonic() - started
        after = leftovers(ephemeral, tmp_path)
    finally:
        stalled.close()
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    assert "not deployed to, so left out of the destroy: host gone, hung" in down.stdout
    assert "panic" not in down.stdout + down.stderr
    assert elapsed < 120, f"make down waited {elapsed:.0f} s for hosts that hold nothing of the stack"
    assert host_objects(ephemeral.prefix) == NOTHING
    # The leftover check cannot look at the two hosts: it says so, checks the local one, and fails.
    assert after.returncode == 1
    assert after.stderr.count("not checked for leftovers:") == 2, after.stderr
    assert "2 host(s) could not be checked" in after.stderr
    assert "outside its state" not in after.stderr, "nothing was left on the host that answered"
    # A second `make down` has nothing to do: it declares nothing, so the state keeps no resource of
    # ours (it used to write the fleet's components into it, and the next `down` deleted them again).
    again = ephemeral.cli_down(timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "it was never deployed, or is destroyed already" in again.stdout
    export = ephemeral.cli("stack", "export")
    kept = {resource["type"] for resource in json.loads(export.stdout)["deployment"].get("resources") or []}
    assert kept <= {"pulumi:pulumi:Stack", "pulumi:providers:pulumi"}, "only the engine's own records"


def test_a_host_that_stops_answering_keeps_its_objects_in_the_state_until_it_answers(
    ephemeral: EphemeralStack, fleet: dict[str, Any], tmp_path: Path
) -> None:
    relay = StallingSocket(tmp_path / "relay.sock")
    try:
        host = fleet["host_pools"][0]["hosts"][0]
        host.update({"name": "relayed", "uri": relay.uri, "domain_type": "qemu"})
        ephemeral.declare(fleet)
        ephemeral.up()
        relay.stall()
        started = time.monotonic()
        down = ephemeral.cli(
            "destroy", "--yes", "--refresh", "--continue-on-error", "--run-program",
            timeout=900, extra_env={"VMFLEET_DESTROY": "1", "VMFLEET_HOST_TIMEOUT": HOST_TIMEOUT_S},
        )  # fmt: skip
        elapsed = time.monotonic() - started
        # It stops before deleting anything, naming the host and what to check.
        assert down.returncode != 0
        assert f"connect on {relay.uri}: no answer from the host within {HOST_TIMEOUT_S}s" in down.stderr
        assert "panic" not in down.stdout + down.stderr
        assert elapsed < 120, f"it took {elapsed:.0f} s to give up on the host"
        export = ephemeral.cli("stack", "export")
        assert export.returncode == 0, export.stderr
        kept = [r["urn"].split("::")[-1] for r in json.loads(export.stdout)["deployment"].get("resources", [])]
        assert f"{ephemeral.prefix}-web-01" in kept, "the VM it could not delete stays in the state"
        assert host_objects(ephemeral.prefix)["domains"] == [f"{ephemeral.prefix}-web-01"]
        relay.resume()
        again = ephemeral.cli_down(timeout=600)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert host_objects(ephemeral.prefix) == NOTHING
    finally:
        relay.close()
