"""The production stack on Proxmox VE, previewed through the real engine, provider plugin and policy
pack, with no cluster: what `make preview STACK=prod` shows, what a violation does, and that the
API token never lands in plain text.

Everything runs in a network namespace that has only loopback, under strace: the preview cannot
reach any cluster (the endpoint is a placeholder in `.example.com` anyway), and the trace proves
nothing tried.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.declarations import ROOT, stack_declaration
from tests.engine.harness import EphemeralStack, addresses, isolated

pytestmark = pytest.mark.engine

TOKEN = "vmfleet@pve!ci=5f1d0c00-0000-4000-8000-00000000b0b0"
LOOPBACK = {"127.0.0.1", "::1"}


@pytest.fixture
def prod(ephemeral: EphemeralStack) -> EphemeralStack:
    ephemeral.declare(stack_declaration("prod"))
    assert ephemeral.stack is not None
    ephemeral.stack.set_config("vmfleet:pve-token", auto.ConfigValue(value=TOKEN, secret=True))
    return ephemeral


def preview(stack: EphemeralStack, trace: Path, policy_config: str, *options: str) -> subprocess.CompletedProcess[str]:
    """`pulumi preview` with the prod policy pack, in the isolated namespace."""
    command = isolated(
        trace,
        "pulumi", "preview", *options, "--non-interactive", "--stack", stack.stack_name,
        "--policy-pack", str(ROOT / "policies"), "--policy-pack-config", policy_config,
    )  # fmt: skip
    return subprocess.run(
        command, cwd=stack.project, env={**os.environ, **stack.environment}, capture_output=True, text=True
    )


def prod_policy_config(stack: EphemeralStack) -> str:
    return stack.policy_config(json.loads((ROOT / "policies" / "config" / "prod.json").read_text()))


def test_prod_previews_its_fleet_with_policies_and_no_cluster(prod: EphemeralStack, tmp_path: Path) -> None:
    result = preview(prod, tmp_path / "trace", prod_policy_config(prod), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    creates = Counter(step["urn"].split("::")[2].split("$")[-1] for step in plan["steps"] if step["op"] == "create")
    assert creates["proxmoxve:index/vmLegacy:VmLegacy"] == 25 + 10, "25 VMs, a template VM per node and image"
    assert creates["proxmoxve:download/file:File"] == 10
    assert creates["proxmoxve:backup/job:Job"] == 2
    assert creates["proxmoxve:index/haresource:Haresource"] == 5
    assert creates["proxmoxve:index/roleLegacy:RoleLegacy"] == 4
    assert creates["proxmoxve:cluster/firewall/security/groupLegacy:GroupLegacy"] == 4
    assert creates["pulumi:providers:proxmoxve"] == 1
    assert not plan.get("diagnostics") or all(d.get("severity") != "error" for d in plan["diagnostics"])
    assert set(addresses(tmp_path / "trace")) <= LOOPBACK, "the preview tried to reach a cluster"
    # The provider checked each VM's cloud-init network: static segments (dmz, db) get their planned
    # address, the first NIC's static segment the default route; DHCP segments (web, app) ask DHCP.
    checked = {
        step["urn"].split("::")[-1]: [
            {key: value for key, value in config["ipv4"].items() if key != "__defaults"}  # the engine's bookkeeping
            for config in step["newState"]["inputs"]["initialization"]["ipConfigs"]
        ]
        for step in plan["steps"]
        if step["op"] == "create"
        and step["urn"].split("::")[-1] in {"prod-lb-01", "prod-pg-01", "prod-pg-03", "prod-web-01"}
    }
    assert checked == {
        "prod-lb-01": [{"address": "10.20.0.2/24", "gateway": "10.20.0.1"}, {"address": "dhcp"}],
        "prod-pg-01": [{"address": "10.20.4.2/24", "gateway": "10.20.4.1"}],
        "prod-pg-03": [{"address": "10.20.4.4/24", "gateway": "10.20.4.1"}],
        "prod-web-01": [{"address": "dhcp"}],
    }


def test_prod_on_pve_9_ha_rules_previews_a_rule_per_critical_vm_and_per_group_kept_apart(
    ephemeral: EphemeralStack, tmp_path: Path
) -> None:
    declaration = copy.deepcopy(stack_declaration("prod"))
    declaration["host_pools"][0]["proxmox"]["ha"] = "rules"
    ephemeral.declare(declaration)
    assert ephemeral.stack is not None
    ephemeral.stack.set_config("vmfleet:pve-token", auto.ConfigValue(value=TOKEN, secret=True))
    result = preview(ephemeral, tmp_path / "trace", prod_policy_config(ephemeral), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    rules = {
        step["urn"].split("::")[-1]: step["newState"]["inputs"]
        for step in plan["steps"]
        if step["op"] == "create" and step["urn"].split("::")[2].endswith("harule:Harule")
    }
    assert sorted(rules) == sorted(
        [f"prod-{vm}-ha-rule" for vm in ("lb-01", "lb-02", "pg-01", "pg-02", "pg-03")]
        + ["prod-lb-ha-apart", "prod-pg-ha-apart"]
    )
    assert (
        rules["prod-pg-ha-apart"]["type"] == "resource-affinity" and rules["prod-pg-ha-apart"]["affinity"] == "negative"
    )
    assert rules["prod-pg-01-ha-rule"]["type"] == "node-affinity" and rules["prod-pg-01-ha-rule"]["strict"] is False
    creates = Counter(step["urn"].split("::")[2].split("$")[-1] for step in plan["steps"] if step["op"] == "create")
    assert creates["proxmoxve:index/hagroup:Hagroup"] == 0
    assert set(addresses(tmp_path / "trace")) <= LOOPBACK


def test_a_violating_prod_declaration_is_blocked_at_preview(ephemeral: EphemeralStack, tmp_path: Path) -> None:
    declaration = copy.deepcopy(stack_declaration("prod"))
    # A tier the declaration has but prod's policy config does not approve: the program accepts it,
    # the pack's mandatory backup-coverage does not.
    cache = next(group for group in declaration["vms"] if group["name"] == "cache")
    del cache["tags"]["backup_justification"]
    cache["tags"]["backup"] = "bronze"
    declaration["backup_tiers"].append({**declaration["backup_tiers"][1], "name": "bronze"})
    ephemeral.declare(declaration)
    assert ephemeral.stack is not None
    ephemeral.stack.set_config("vmfleet:pve-token", auto.ConfigValue(value=TOKEN, secret=True))
    result = preview(ephemeral, tmp_path / "trace", prod_policy_config(ephemeral))
    assert result.returncode != 0
    assert "[mandatory]" in result.stdout and "backup-coverage" in result.stdout
    assert "VM 'prod-cache-01' breaks backup coverage: its backup tier 'bronze' is not one of the stack's" in (
        result.stdout
    )


def test_the_token_is_never_in_plain_text(prod: EphemeralStack, tmp_path: Path) -> None:
    previewed = preview(prod, tmp_path / "trace", prod_policy_config(prod))
    assert previewed.returncode == 0, previewed.stderr
    # A preview records nothing; storing the provider (which a real up does first) records its inputs.
    stack_urn = f"urn:pulumi:{prod.stack_name}::vmfleet"
    fleet = f"{stack_urn}::vmfleet:fleet:Fleet::fleet"
    pool = f"{stack_urn}::vmfleet:fleet:Fleet$vmfleet:fleet:HostPool::fleet-dc1"
    provider = f"{stack_urn}::vmfleet:fleet:Fleet$vmfleet:fleet:HostPool$pulumi:providers:proxmoxve::prod-dc1"
    targets = [argument for urn in (fleet, pool, provider) for argument in ("--target", urn)]
    stored = isolated(
        tmp_path / "trace-up",
        "pulumi", "up", "--yes", "--non-interactive", "--stack", prod.stack_name, *targets,
    )  # fmt: skip
    up = subprocess.run(
        stored, cwd=prod.project, env={**os.environ, **prod.environment}, capture_output=True, text=True
    )
    assert up.returncode == 0, "\n".join(line for line in up.stdout.splitlines() if "rror" in line)
    exported = prod.cli("stack", "export").stdout
    assert TOKEN not in exported and TOKEN not in up.stdout + up.stderr + previewed.stdout + previewed.stderr
    provider_state = next(r for r in json.loads(exported)["deployment"]["resources"] if r["urn"] == provider)
    assert "ciphertext" in json.dumps(provider_state["inputs"]["apiToken"])
    backend = Path(prod.environment["PULUMI_BACKEND_URL"].removeprefix("file://").split("?")[0])
    state_files = [path for path in backend.rglob("*") if path.is_file()]
    assert state_files and not any(TOKEN in path.read_text(errors="replace") for path in state_files)
    assert TOKEN not in (prod.project / f"Pulumi.{prod.stack_name}.yaml").read_text()
    assert set(addresses(tmp_path / "trace-up")) <= LOOPBACK
