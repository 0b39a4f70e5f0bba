"""The Proxmox VE provider plugin that scripts/engine.sh builds: registered at the Python SDK's version,
serving every token the SDK uses, and previewing creates with no cluster to talk to.

No Proxmox VE host is needed or contacted. The preview runs in a network namespace of its own that
has only a loopback interface, under strace, so a connection attempt to any other address would
both fail and show in the trace. The endpoint is in the reserved `.example` domain and the API
token is a well-formed placeholder, stored as a passphrase-encrypted stack secret.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scripts.sdk_tokens import missing, schema_tokens, sdk_tokens
from tests.engine.harness import addresses, engine_environment, isolated

pytestmark = pytest.mark.engine

PLUGIN = "proxmoxve"
ENDPOINT = "https://pve.invalid.example:8006/"
API_TOKEN = "vmfleet@pve!preview=00000000-0000-4000-8000-00000000c0de"
SSH_PASSWORD = "ssh-placeholder-0000c0de"
PROJECT = "pve-preview"
STACK = "test"
PROVIDER_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:{PLUGIN}::pve"

# What vmfleet's Proxmox backend will use: the SDK class -> the type token it registers.
VMFLEET_RESOURCES = {
    "VmLegacy": "proxmoxve:index/vmLegacy:VmLegacy",
    "cloned.Vm": "proxmoxve:cloned/vm:Vm",
    "download.File": "proxmoxve:download/file:File",
    "FileLegacy": "proxmoxve:index/fileLegacy:FileLegacy",
    "PoolLegacy": "proxmoxve:index/poolLegacy:PoolLegacy",
    "pool.Membership": "proxmoxve:pool/membership:Membership",
    "cluster.FirewallLegacy": "proxmoxve:cluster/firewallLegacy:FirewallLegacy",
    "cluster.firewall.security.GroupLegacy": "proxmoxve:cluster/firewall/security/groupLegacy:GroupLegacy",
    "firewall.IpsetLegacy": "proxmoxve:firewall/ipsetLegacy:IpsetLegacy",
    "firewall.AliasLegacy": "proxmoxve:firewall/aliasLegacy:AliasLegacy",
    "firewall.OptionsLegacy": "proxmoxve:firewall/optionsLegacy:OptionsLegacy",
    "firewall.RulesLegacy": "proxmoxve:firewall/rulesLegacy:RulesLegacy",
    "network.linux.Bridge": "proxmoxve:network/linux/bridge:Bridge",
    "network.linux.Vlan": "proxmoxve:network/linux/vlan:Vlan",
    "sdn.zone.Simple": "proxmoxve:sdn/zone/simple:Simple",
    "sdn.zone.Vlan": "proxmoxve:sdn/zone/vlan:Vlan",
    "sdn.Vnet": "proxmoxve:sdn/vnet:Vnet",
    "sdn.Subnet": "proxmoxve:sdn/subnet:Subnet",
    "sdn.Applier": "proxmoxve:sdn/applier:Applier",
    "RoleLegacy": "proxmoxve:index/roleLegacy:RoleLegacy",
    "UserLegacy": "proxmoxve:index/userLegacy:UserLegacy",
    "GroupLegacy": "proxmoxve:index/groupLegacy:GroupLegacy",
    "Acl": "proxmoxve:index/acl:Acl",
    "user.Token": "proxmoxve:user/token:Token",
    "backup.Job": "proxmoxve:backup/job:Job",
    "Haresource": "proxmoxve:index/haresource:Haresource",
}
VMFLEET_FUNCTIONS = {"get_node_legacy": "proxmoxve:index/getNodeLegacy:getNodeLegacy"}
VMFLEET_CONFIG = {"endpoint", "apiToken", "insecure", "ssh", "username", "password", "minTls", "tmpDir"}

PROGRAM = f'''
import pulumi
import pulumi_proxmoxve as proxmoxve

config = pulumi.Config()
provider = proxmoxve.Provider(
    "pve",
    endpoint="{ENDPOINT}",
    api_token=config.require_secret("apiToken"),
    insecure=True,
    ssh=pulumi.Output.secret(
        proxmoxve.ProviderSshArgs(username="root", password=config.require_secret("sshPassword"))
    ),
)
on_pve = pulumi.ResourceOptions(provider=provider)
image = proxmoxve.download.File(
    "image",
    node_name="pve1",
    datastore_id="local",
    content_type="import",
    url="https://images.invalid.example/tiny-1.0.qcow2",
    file_name="tiny-1.0.qcow2",
    opts=on_pve,
)
vm = proxmoxve.VmLegacy(
    "web-01",
    node_name="pve1",
    name="web-01",
    clone=proxmoxve.VmLegacyCloneArgs(vm_id=9000, full=True),
    cpu=proxmoxve.VmLegacyCpuArgs(cores=1),
    memory=proxmoxve.VmLegacyMemoryArgs(dedicated=512),
    network_devices=[proxmoxve.VmLegacyNetworkDeviceArgs(bridge="vmbr0", vlan_id=20, firewall=True)],
    tags=["vmfleet"],
    opts=on_pve,
)
job = proxmoxve.backup.Job(
    "nightly",
    resource_id="vmfleet-nightly",
    schedule="*-*-* 02:00",
    storage="local",
    vmids=["100"],
    opts=on_pve,
)
pulumi.export("vm_name", vm.name)
'''


def sdk_folder() -> Path:
    """The pulumi_proxmoxve package of the virtualenv running the tests (found, not imported)."""
    spec = importlib.util.find_spec("pulumi_proxmoxve")
    assert spec is not None and spec.submodule_search_locations, "pulumi_proxmoxve is not installed: run make setup"
    return Path(next(iter(spec.submodule_search_locations)))


def sdk_plugin_version() -> str:
    return str(json.loads((sdk_folder() / "pulumi-plugin.json").read_text())["version"])


@pytest.fixture(scope="module")
def environment() -> dict[str, str]:
    return {**os.environ, **engine_environment()}


def pulumi(environment: dict[str, str], *arguments: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["pulumi", *arguments, "--non-interactive"],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"pulumi {' '.join(arguments)} failed ({done.returncode}):\n{done.stderr}{done.stdout}"
    return done.stdout


def test_plugin_is_registered_at_the_version_of_the_installed_sdk(environment: dict[str, str]) -> None:
    plugins = json.loads(pulumi(environment, "plugin", "ls", "--json"))
    registered = sorted(p["version"] for p in plugins if p["name"] == PLUGIN and p["kind"] == "resource")
    assert sdk_plugin_version() in registered, (
        f"the installed pulumi-proxmoxve SDK asks for plugin {PLUGIN} {sdk_plugin_version()}; "
        f"registered: {registered or 'none'} (requirements.txt and scripts/engine.sh must pin the same version)"
    )


def test_plugin_serves_every_token_the_sdk_uses(environment: dict[str, str]) -> None:
    # get-schema starts the registered plugin and asks it for its schema.
    served = json.loads(pulumi(environment, "package", "get-schema", f"{PLUGIN}@{sdk_plugin_version()}"))
    schema, sdk = schema_tokens(served), sdk_tokens(sdk_folder())
    assert schema.version == sdk.version
    assert missing(sdk, schema) == []
    for python_name, token in VMFLEET_RESOURCES.items():
        assert sdk.resources.get(token) == f"pulumi_proxmoxve.{python_name}", f"SDK: {token}"
        assert token in schema.resources, f"schema: {token}"
    for function in VMFLEET_FUNCTIONS.values():
        assert function in sdk.functions and function in schema.functions
    assert VMFLEET_CONFIG.issubset(sdk.config & schema.config)
    # The id field these resources carry is renamed, as in the SDK (resource_id).
    for token in ("proxmoxve:backup/job:Job", "proxmoxve:cloned/vm:Vm", "proxmoxve:sdn/zone/simple:Simple"):
        assert "resourceId" in served["resources"][token]["inputProperties"], token


def test_preview_of_creates_needs_no_cluster_and_keeps_the_token_secret(
    environment: dict[str, str], tmp_path: Path
) -> None:
    project, state = tmp_path / "project", tmp_path / "state"
    project.mkdir()
    state.mkdir()
    (project / "Pulumi.yaml").write_text(
        f"name: {PROJECT}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {sys.prefix}\n"
    )
    (project / "__main__.py").write_text(PROGRAM)
    environment = {
        **environment,
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": "proxmox-provider-test",
    }
    pulumi(environment, "stack", "init", STACK, "--secrets-provider", "passphrase", cwd=project)
    pulumi(environment, "config", "set", "--secret", "apiToken", API_TOKEN, cwd=project)
    pulumi(environment, "config", "set", "--secret", "sshPassword", SSH_PASSWORD, cwd=project)

    trace = tmp_path / "preview.trace"
    preview = subprocess.run(
        isolated(trace, "pulumi", "preview", "--json", "--non-interactive"),
        cwd=project, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert preview.returncode == 0, f"preview failed:\n{preview.stderr}{preview.stdout}"
    steps = Counter((step["op"], step["urn"].split("::")[2]) for step in json.loads(preview.stdout)["steps"])
    assert steps == {
        ("create", "pulumi:pulumi:Stack"): 1,
        ("create", "pulumi:providers:proxmoxve"): 1,
        ("create", "proxmoxve:download/file:File"): 1,
        ("create", "proxmoxve:index/vmLegacy:VmLegacy"): 1,
        ("create", "proxmoxve:backup/job:Job"): 1,
    }
    seen = addresses(trace)
    assert seen, "strace saw no connection at all, so it did not trace the engine's own gRPC calls"
    assert set(seen) <= {"127.0.0.1", "::1"}, f"connections beyond loopback: {seen}"

    # A preview records no resource; putting the provider itself in the state (its Configure makes no
    # API call either) shows how its credentials are stored.
    up = subprocess.run(
        isolated(tmp_path / "up.trace", "pulumi", "up", "--yes", "--non-interactive", "--target", PROVIDER_URN),
        cwd=project, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert up.returncode == 0, f"up --target the provider failed:\n{up.stderr}{up.stdout}"
    assert set(addresses(tmp_path / "up.trace")) <= {"127.0.0.1", "::1"}

    exported = pulumi(environment, "stack", "export", cwd=project)
    provider: dict[str, Any] = next(
        r for r in json.loads(exported)["deployment"]["resources"] if r["urn"] == PROVIDER_URN
    )
    assert provider["inputs"]["endpoint"] == ENDPOINT
    for key in ("apiToken", "ssh"):
        assert "ciphertext" in provider["inputs"][key], f"{key} is not stored as a secret"
    everything = [exported, preview.stdout, preview.stderr, up.stdout, up.stderr]
    for folder in (state, project):  # the backend's files, and the stack's config file
        everything += [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()]
    for secret in (API_TOKEN, SSH_PASSWORD):
        assert not any(secret in text for text in everything), "a secret is in plain text in the state or output"
