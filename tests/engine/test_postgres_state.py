"""Team state on PostgreSQL: a stack's life, two `up`s of it at once, and rolling back a bad state.

Debian's PostgreSQL is started by `scripts/state-server.sh` (what `make state-server` runs) in a
temporary folder on a free loopback port, and stopped and removed afterwards. The stacks reach it
through a `postgres://` PULUMI_BACKEND_URL, as a team's stacks would.
"""

from __future__ import annotations

import copy
import datetime as dt
import getpass
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backends.libvirt.leftovers import managed_objects
from tests.declarations import ROOT
from tests.engine.harness import NOTHING, EphemeralStack, domain_state, free_cidrs, host_objects, small_fleet
from tests.engine.test_guards import dev_policy_config

pytestmark = pytest.mark.engine

LOCKED = "the stack is currently locked by 1 lock(s)"

# The README's rollback from the database's own history: the state each update left, newest first.
HISTORY_CHECKPOINT = (
    "SELECT convert_from(decode(data->>'data', 'base64'), 'UTF8') FROM pulumi_state"
    " WHERE key LIKE '%/.pulumi/history/vmfleet/{stack}/{stack}-%.checkpoint.json' ORDER BY key DESC LIMIT 1"
)


@dataclass
class StateServer:
    url: str
    password: str

    def sql(self, query: str) -> str:
        """One query on the state database through psql, its rows unaligned."""
        result = subprocess.run(
            ["psql", self.url, "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", query],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def locks(self, stack: str) -> list[dict[str, Any]]:
        """The stack's lock blobs (the engine keeps each as base64 JSON in a row of its own)."""
        rows = self.sql(
            "SELECT convert_from(decode(data->>'data', 'base64'), 'UTF8') FROM pulumi_state"
            f" WHERE key LIKE '%/.pulumi/locks/%/{stack}/%.json'"
        )
        return [json.loads(row) for row in rows.splitlines() if row]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def state_server() -> Iterator[StateServer]:
    folder = Path(tempfile.mkdtemp(prefix="vmfleet-postgres-"))
    folder.chmod(0o711)  # as root the server runs as the postgres user, which must reach its folder
    environment = {**os.environ, "VMFLEET_STATE_DIR": str(folder / "server"), "VMFLEET_STATE_PORT": str(free_port())}

    def script(action: str) -> subprocess.CompletedProcess[str]:
        command = [str(ROOT / "scripts" / "state-server.sh"), action]
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)

    try:
        started = script("start")
        assert started.returncode == 0, started.stdout + started.stderr
        url = script("url").stdout.strip()
        assert f"export PULUMI_BACKEND_URL='{url}'" in started.stdout.splitlines()
        assert "export PULUMI_DIY_BACKEND_PARALLEL=1" in started.stdout.splitlines()
        again = script("start")
        assert again.returncode == 0 and "already running" in again.stdout, again.stdout + again.stderr
        status = script("status")
        password = (folder / "server" / "password").read_text()
        assert status.returncode == 0 and "vmfleet:***@127.0.0.1" in status.stdout and password not in status.stdout
        yield StateServer(url, password)
    finally:
        script("stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def team_stack(engine_env: dict[str, str], state_server: StateServer) -> Iterator[EphemeralStack]:
    stack = EphemeralStack(engine_env, backend_url=state_server.url)
    try:
        yield stack
    finally:
        stack.cleanup()


def declaration(stack: EphemeralStack) -> dict[str, Any]:
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    return small_fleet(stack.prefix, free_cidrs(1), stack.storage_dir, expires)


def retagged(fleet: dict[str, Any], role: str) -> dict[str, Any]:
    changed = copy.deepcopy(fleet)
    changed["vms"][0]["tags"]["role"] = role
    return changed


def assert_state_matches_host(stack: EphemeralStack) -> dict[str, Any]:
    """`pulumi stack export` parses, and what it records is what libvirt has of the stack."""
    exported = stack.cli("stack", "export")
    assert exported.returncode == 0, exported.stderr
    document: dict[str, Any] = json.loads(exported.stdout)
    recorded = managed_objects(document)
    on_host = host_objects(stack.prefix)
    kinds = {"domain": "domains", "network": "networks", "nwfilter": "nwfilters", "storage pool": "pools"}
    for kind, key in kinds.items():
        assert sorted(name for found, name in recorded if found == kind) == on_host[key], kind
    assert sorted(name for found, name in recorded if found == "volume") == on_host["volumes"]
    return document


def wait_for_lock(server: StateServer, stack: EphemeralStack, run: subprocess.Popen[str]) -> dict[str, Any]:
    """The lock `run` takes on the stack, once it is in the database."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        locks = server.locks(stack.stack_name)
        if locks:
            return locks[0]
        assert run.poll() is None, f"the run ended before it locked the stack: {run.communicate()}"
        time.sleep(0.05)
    raise AssertionError("the first up never locked the stack")


def stack_sh_explains(refusal: str, stack: str) -> str:
    """What scripts/stack.sh says after a refused lock: its `locked` function, run with `pulumi`
    standing in for the engine and printing the refusal the real engine printed."""
    script = (ROOT / "scripts" / "stack.sh").read_text()
    found = re.search(r"^locked\(\) \{\n.*?^\}\n", script, re.M | re.S)
    assert found, "scripts/stack.sh defines locked()"
    assert "\nset -euo pipefail\n" in script
    program = f'set -euo pipefail\nSTACK={stack}\npulumi() {{ printf "%s" "$REFUSAL" >&2; return 255; }}\n'
    program += f"{found.group(0)}locked up"
    result = subprocess.run(
        ["bash", "-c", program], env={**os.environ, "REFUSAL": refusal}, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 255, "the engine's exit status is kept"
    assert refusal.strip() in result.stderr, "the engine's own message is shown"
    return result.stderr


def test_state_server_listens_on_loopback_only(state_server: StateServer) -> None:
    assert state_server.sql("SHOW listen_addresses") == "127.0.0.1"
    assert state_server.url.startswith("postgres://vmfleet:") and "@127.0.0.1:" in state_server.url


def test_stack_ls_needs_one_listing_at_a_time(
    engine_env: dict[str, str], state_server: StateServer, tmp_path: Path
) -> None:
    # One CPU: a pool of 2 connections, and 4 stacks listed 10 at a time (README: `stack ls` hangs).
    (tmp_path / "Pulumi.yaml").write_text("name: listing\nruntime: yaml\n")
    environment = {
        **os.environ,
        **engine_env,
        "PULUMI_BACKEND_URL": f"{state_server.url}&table=listing",
        "PULUMI_CONFIG_PASSPHRASE": "listing",
        "GOMAXPROCS": "1",
    }
    names = [f"team-{number}" for number in range(4)]
    for name in names:
        init = subprocess.run(
            ["pulumi", "stack", "init", name, "--non-interactive"], cwd=tmp_path, env=environment, capture_output=True
        )
        assert init.returncode == 0, init.stderr

    def stack_ls(parallel: str | None) -> subprocess.CompletedProcess[str]:
        chosen = {**environment, **({"PULUMI_DIY_BACKEND_PARALLEL": parallel} if parallel else {})}
        command = ["pulumi", "stack", "ls", "--json", "--non-interactive"]
        return subprocess.run(command, cwd=tmp_path, env=chosen, capture_output=True, text=True, timeout=10)

    with pytest.raises(subprocess.TimeoutExpired):
        stack_ls(None)  # if this engine no longer hangs, the setting and the README's note can go
    listed = stack_ls("1")  # what scripts/stack.sh and `scripts/state-server.sh env` set
    assert listed.returncode == 0, listed.stderr
    assert sorted(stack["name"] for stack in json.loads(listed.stdout)) == names


def test_two_ups_at_once_one_is_refused_naming_the_holder_and_state_stays_intact(
    team_stack: EphemeralStack, state_server: StateServer
) -> None:
    stack, prefix = team_stack, team_stack.prefix
    fleet = declaration(stack)
    policy = stack.policy_config(dev_policy_config(prefix))

    # up and preview through postgres://: the state is rows of the database.
    stack.declare(fleet)
    first = stack.cli_up(policy)
    assert first.returncode == 0, first.stderr
    assert (
        state_server.sql(
            f"SELECT count(*) FROM pulumi_state WHERE key LIKE '%/.pulumi/stacks/vmfleet/{stack.stack_name}.json'"
        )
        == "1"
    )
    assert host_objects(prefix)["domains"] == [f"{prefix}-web-01"]
    assert stack.preview().changes() == {}, "a second preview finds nothing to do"

    # Two ups of one change, as two people's `make up`: the second starts while the first holds the lock.
    stack.declare(retagged(fleet, "frontend"))
    holder = stack.cli_up_started(policy)
    lock = wait_for_lock(state_server, stack, holder)
    assert lock["pid"] == holder.pid
    second = stack.cli_up(policy)
    first_still_running = holder.poll() is None
    holder_stdout, holder_stderr = holder.communicate(timeout=600)
    assert holder.returncode == 0, holder_stdout + holder_stderr
    assert second.returncode != 0
    assert first_still_running, "the second up was refused at once; it did not wait for the first"
    assert LOCKED in second.stderr, second.stderr
    holder_named = f"created by {getpass.getuser()}@{socket.gethostname()} (pid {holder.pid}) at "
    assert holder_named in second.stderr, second.stderr
    assert "pulumi cancel" in second.stderr
    assert state_server.password not in second.stderr + second.stdout, "the engine masks the URL's password"
    assert "Resources:" not in second.stdout, "the refused up planned nothing"
    explained = stack_sh_explains(second.stderr, stack.stack_name)
    assert f"pid {holder.pid}, since " in explained and f"`ps -p {holder.pid}`" in explained
    assert f"`pulumi cancel --yes --stack {stack.stack_name}`" in explained

    # Intact: no lock left, the state is what libvirt has, the change applied once, nothing to do.
    assert state_server.locks(stack.stack_name) == []
    assert_state_matches_host(stack)
    assert domain_state(f"{prefix}-web-01")["tags"]["role"] == "frontend"
    history = json.loads(stack.cli("stack", "history", "--output", "json").stdout)
    assert [(update["kind"], update["result"]) for update in history] == [("update", "succeeded")] * 2
    assert stack.preview().changes() == {}

    stack.destroy()
    assert host_objects(prefix) == NOTHING
    assert stack.leftovers() == []


def test_history_and_rolling_back_a_bad_state(team_stack: EphemeralStack, state_server: StateServer) -> None:
    stack, prefix = team_stack, team_stack.prefix
    fleet = declaration(stack)
    stack.declare(fleet)
    stack.up()
    stack.declare(retagged(fleet, "frontend"))
    stack.up()

    history = json.loads(stack.cli("stack", "history", "--output", "json").stdout)
    assert [update["result"] for update in history] == ["succeeded", "succeeded"]
    assert "frontend" in json.dumps(history[0]["config"]) and "frontend" not in json.dumps(history[1]["config"])
    refused = stack.cli("stack", "export", "--version", "1")
    assert refused.returncode != 0
    assert "does not provide the ability to export previous deployments" in refused.stderr

    saved = stack.folder / "saved.json"
    exported = stack.cli("stack", "export", "--file", str(saved))
    assert exported.returncode == 0, exported.stderr
    good = json.loads(saved.read_text())

    def break_state() -> None:
        """A bad state: an export that has lost every resource, imported by mistake."""
        bad = copy.deepcopy(good)
        bad["deployment"]["resources"] = [
            resource for resource in bad["deployment"]["resources"] if resource["type"] == "pulumi:pulumi:Stack"
        ]
        (stack.folder / "bad.json").write_text(json.dumps(bad))
        imported = stack.cli("stack", "import", "--file", str(stack.folder / "bad.json"))
        assert imported.returncode == 0, imported.stderr
        assert stack.preview().changes().get(f"{prefix}-web-01") == "create", "the state forgot the VM"

    # Rolled back from a saved export.
    break_state()
    imported = stack.cli("stack", "import", "--file", str(saved))
    assert imported.returncode == 0, imported.stderr
    assert stack.preview().changes() == {}
    assert_state_matches_host(stack)

    # Rolled back from the database's history alone: the state the last update left.
    break_state()
    checkpoint = json.loads(state_server.sql(HISTORY_CHECKPOINT.format(stack=stack.stack_name)))
    rollback = stack.folder / "rollback.json"
    deployment = {"version": checkpoint["version"], "deployment": checkpoint["checkpoint"]["latest"]}
    rollback.write_text(json.dumps(deployment))
    imported = stack.cli("stack", "import", "--file", str(rollback))
    assert imported.returncode == 0, imported.stderr
    assert stack.preview().changes() == {}
    restored = assert_state_matches_host(stack)
    assert len(restored["deployment"]["resources"]) == len(good["deployment"]["resources"])

    stack.destroy()
    assert host_objects(prefix) == NOTHING
