"""The opt-in for bulk deploys, `PULUMI_SKIP_CHECKPOINTS=true make up`, and what it costs.

Without checkpoints the engine writes the state once, when the run ends (pulumi
pkg/backend/snapshot.go, `unsafeServiceLoop`). A run killed outright in between leaves objects on
the host that the state does not record; the next `up`, with checkpoints, takes them over or makes
them again, and ends with state and host in agreement (README, "Performance and scale").
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from backends.libvirt.leftovers import managed_objects
from tests.engine.harness import EphemeralStack, host_objects
from tests.engine.test_guards import dev_policy_config
from tests.engine.test_postgres_state import assert_state_matches_host

pytestmark = pytest.mark.engine


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the language host, the program, the plugins), deepest last."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def kill_outright(run: subprocess.Popen[str]) -> None:
    """`kill -9` of the CLI and everything it started, as a lost machine would end them."""
    for pid in [run.pid, *descendants(run.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run.wait(timeout=30)


def test_an_up_without_checkpoints_killed_halfway_is_completed_by_the_next_up(
    ephemeral: EphemeralStack, fleet: dict[str, Any]
) -> None:
    prefix = ephemeral.prefix
    fleet["vms"][0]["count"] = 3
    ephemeral.declare(fleet)
    policy = ephemeral.policy_config(dev_policy_config(prefix))

    ephemeral.environment["PULUMI_SKIP_CHECKPOINTS"] = "true"
    run = ephemeral.cli_up_started(policy)
    deadline = time.monotonic() + 600
    while not host_objects(prefix)["domains"]:
        assert run.poll() is None, f"the up ended before any VM existed: {run.communicate()}"
        assert time.monotonic() < deadline, "no VM after 10 minutes"
        time.sleep(0.2)
    kill_outright(run)
    del ephemeral.environment["PULUMI_SKIP_CHECKPOINTS"]

    made = host_objects(prefix)
    exported = ephemeral.cli("stack", "export")
    assert exported.returncode == 0, exported.stderr
    assert managed_objects(json.loads(exported.stdout)) == set(), "the cost: the state records none of it"
    assert made["domains"] and made["pools"] and made["volumes"], made

    # The lock the killed run left; `make up` lifts it itself when its process is gone (stack.sh).
    assert ephemeral.cli("cancel", "--yes").returncode == 0
    again = ephemeral.cli_up(policy)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert host_objects(prefix)["domains"] == [f"{prefix}-web-{index:02d}" for index in (1, 2, 3)]
    assert_state_matches_host(ephemeral)
    assert ephemeral.preview(policy).changes() == {}
