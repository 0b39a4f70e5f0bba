"""Ephemeral stacks for engine tests: real pulumi, real libvirt, always destroyed afterwards.

Each stack gets its own project copy, state directory, stack name, host-side name prefix, storage
directory and address range, so tests never touch the dev stack or each other. VM networks are
isolated; nothing here sends a packet to a VM.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt
import yaml
from pulumi import automation as auto

from backends.libvirt import names
from backends.libvirt.leftovers import Leftover, managed_objects
from backends.libvirt.leftovers import find as find_leftovers
from backends.libvirt.snapshot_hooks import DESTROY_VARIABLE
from tests.declarations import ROOT
from vmfleet.load import parse
from vmfleet.spec import Fleet

IMAGE = "/var/lib/vmfleet/images/vmfleet-tiny-1.1.qcow2"
URI = "qemu:///system"
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "backends", "vmfleet", "audit", "snapshots")
PASSPHRASE = "engine-tests"


def engine_environment() -> dict[str, str]:
    """PATH, PULUMI_HOME and the offline switches from `scripts/engine.sh env` (builds if needed)."""
    script = f'eval "$({ROOT / "scripts" / "engine.sh"} env)" && env -0'
    dump = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True).stdout
    variables = dict(entry.split("=", 1) for entry in dump.split("\0") if "=" in entry)
    wanted = ("PATH", "PULUMI_HOME", "PULUMI_SKIP_UPDATE_CHECK", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION")
    return {key: variables[key] for key in wanted}


def prepare_host() -> None:
    """The local hypervisor and the tiny image the test fleets boot."""
    subprocess.run([str(ROOT / "scripts" / "hypervisor.sh"), "start"], check=True, capture_output=True)
    subprocess.run([str(ROOT / "scripts" / "image.sh"), IMAGE], check=True, capture_output=True)


def free_cidrs(count: int) -> list[str]:
    """`count` /24 networks in 10.240.0.0/12 that no libvirt network on this host uses."""
    conn = libvirt.open(URI)
    try:
        used = set()
        for network in conn.listAllNetworks():
            for address in _network_addresses(network.XMLDesc(0)):
                used.add(address)
    finally:
        conn.close()
    chosen: list[str] = []
    pool = list(ipaddress.IPv4Network("10.240.0.0/12").subnets(new_prefix=24))
    while len(chosen) < count:
        candidate = pool[secrets.randbelow(len(pool))]
        if not any(candidate.overlaps(network) for network in used) and str(candidate) not in chosen:
            chosen.append(str(candidate))
    return chosen


def _network_addresses(xml: str) -> list[ipaddress.IPv4Network]:
    from xml.etree import ElementTree as ET

    found = []
    for ip in ET.fromstring(xml).findall("ip"):
        if ip.get("family", "ipv4") == "ipv4" and ip.get("address"):
            prefix = ip.get("prefix") or str(ipaddress.IPv4Network(f"0.0.0.0/{ip.get('netmask')}").prefixlen)
            found.append(ipaddress.IPv4Network(f"{ip.get('address')}/{prefix}", strict=False))
    return found


def small_fleet(prefix: str, cidrs: list[str], storage_dir: str, expires: str) -> dict[str, Any]:
    """One host, one firewalled segment `front`, one template, one VM `web-01`."""
    return {
        "environment": "test",
        "name_prefix": prefix,
        "defaults": {
            "tags": {"owner": "qa@example.com", "project": "engine-tests", "cost_center": "CC-7777", "expires": expires}
        },
        "host_pools": [
            {
                "name": "local",
                "hosts": [
                    {
                        "name": "localhost",
                        "uri": URI,
                        "cpu_cores": 2,
                        "memory_mib": 2048,
                        "storage_dir": storage_dir,
                        "domain_type": "auto",
                    }
                ],
            }
        ],
        "sizes": [
            {"name": "nano", "vcpus": 1, "memory_mib": 128, "disk_gib": 1},
            {"name": "small", "vcpus": 1, "memory_mib": 256, "disk_gib": 1},
        ],
        "templates": [
            {
                "name": "tiny",
                "image_path": IMAGE,
                "os_family": "linux",
                "default_size": "nano",
                "version": "1.0",
                "patched": "2026-11-20",
            }
        ],
        "segments": [{"name": "front", "cidr": cidrs[0], "mode": "isolated", "dhcp": True}],
        "firewalls": [
            {"segment": "front", "ingress": [{"protocol": "tcp", "ports": ["80"], "peer": "any"}]},
        ],
        "vms": [
            {
                "name": "web",
                "count": 1,
                "pool": "local",
                "template": "tiny",
                "segments": ["front"],
                "tags": {"role": "web"},
            }
        ],
    }


REPLACEMENT_STEPS = ("replace", "create-replacement", "delete-replaced")


@dataclass
class Run:
    """What one preview or up did: step operations by resource, and policy events."""

    steps: dict[str, str] = field(default_factory=dict)
    """Resource URN -> its operation; the steps of a replacement collapse into "replace"."""
    policy: list[auto.PolicyEvent] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    refreshed: dict[str, list[str]] = field(default_factory=dict)
    """Resource name -> what a refresh found changed on the host (["(gone)"] for a deleted object)."""
    _refreshing: set[str] = field(default_factory=set)

    def on_event(self, event: auto.EngineEvent) -> None:
        # A refresh step announces itself as "refresh" and reports what it found as an update
        # (with the changed keys) or a delete (the object is gone).
        outputs = event.res_outputs_event
        if outputs is not None and outputs.metadata.urn in self._refreshing:
            name = outputs.metadata.urn.split("::")[-1]
            if outputs.metadata.op.value == "delete":
                self.refreshed[name] = ["(gone)"]
            elif outputs.metadata.op.value == "update":
                self.refreshed[name] = sorted(outputs.metadata.diffs or [])
        if event.resource_pre_event is not None and event.resource_pre_event.metadata.op.value == "refresh":
            self._refreshing.add(event.resource_pre_event.metadata.urn)
        if event.resource_pre_event is not None:
            metadata = event.resource_pre_event.metadata
            if metadata.type != "pulumi:pulumi:Stack":
                op = metadata.op.value
                if op in REPLACEMENT_STEPS:
                    op = "replace"
                self.steps[metadata.urn] = op
        if event.policy_event is not None:
            self.policy.append(event.policy_event)

    def changes(self) -> dict[str, str]:
        """Resource name -> operation, for every resource step that changes something.

        Default providers are left out: the dynamic-resource provider receives the stack's config,
        so any declaration change "updates" it, which changes nothing on a host.
        """
        return {
            urn.split("::")[-1]: op
            for urn, op in self.steps.items()
            if op != "same" and "::pulumi:providers:" not in urn
        }


class EphemeralStack:
    """A uniquely named stack of a copy of the project, with its own state.

    The state is a folder of its own, or the backend at `backend_url` when one is given (a
    `postgres://` URL, say), where the stack's unique name keeps it apart from other stacks.
    """

    def __init__(self, environment: dict[str, str], backend_url: str | None = None) -> None:
        token = secrets.token_hex(3)
        self.prefix = f"t{token}"
        self.stack_name = f"test-{token}"
        self.folder = Path(tempfile.mkdtemp(prefix=f"vmfleet-{self.prefix}-"))
        self.project = self.folder / "project"
        self.project.mkdir()
        for name in PROJECT_FILES:
            source = ROOT / name
            target = self.project / name
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        (self.project / ".venv").symlink_to(ROOT / ".venv")
        state = self.folder / "state"
        state.mkdir()
        self.storage_dir = f"/var/lib/libvirt/vmfleet/{self.prefix}"
        self.environment = {
            **environment,
            "PULUMI_BACKEND_URL": backend_url or f"file://{state}?metadata=skip",  # see scripts/stack.sh
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        }
        self.command = auto.PulumiCommand(root=_cli_root(environment), skip_version_check=True)
        self.declaration: dict[str, Any] = {}
        self.stack: auto.Stack | None = None

    def declare(self, declaration: dict[str, Any]) -> None:
        """Write this fleet declaration into the stack file (creating the stack the first time)."""
        self.declaration = copy.deepcopy(declaration)
        stack_file = self.project / f"Pulumi.{self.stack_name}.yaml"
        if self.stack is None:
            self.stack = auto.create_or_select_stack(
                self.stack_name,
                work_dir=str(self.project),
                opts=auto.LocalWorkspaceOptions(
                    env_vars=self.environment,
                    pulumi_home=self.environment["PULUMI_HOME"],
                    pulumi_command=self.command,
                    secrets_provider="passphrase",
                ),
            )
        # Keep what creating the stack wrote (its encryption salt) and other config keys (secrets
        # set with `set_config`); replace the declaration.
        document = yaml.safe_load(stack_file.read_text()) if stack_file.exists() else {}
        document = document or {}
        document["config"] = {**(document.get("config") or {}), "vmfleet:fleet": self.declaration}
        stack_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def policy_config(self, config: dict[str, Any]) -> str:
        path = self.folder / "policy-config.json"
        path.write_text(json.dumps(config))
        return str(path)

    # preview, up and destroy refresh first, as `make preview/up/down` do (scripts/stack.sh).
    def preview(self, policy_config: str | None = None) -> Run:
        run = Run()
        assert self.stack is not None
        self.stack.preview(
            refresh=True, on_event=run.on_event, on_output=run.output.append, **policy_options(policy_config)
        )
        return run

    def up(self, policy_config: str | None = None) -> Run:
        run = Run()
        assert self.stack is not None
        self.stack.up(refresh=True, on_event=run.on_event, on_output=run.output.append, **policy_options(policy_config))
        return run

    def cli(
        self, *arguments: str, timeout: float = 600, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The `pulumi` CLI on this stack, as scripts/stack.sh runs it."""
        command = ["pulumi", *arguments, "--non-interactive", "--stack", self.stack_name]
        environment = {**os.environ, **self.environment, **(extra_env or {})}
        return subprocess.run(
            command, cwd=self.project, env=environment, capture_output=True, text=True, timeout=timeout
        )

    def cli_started(self, *arguments: str) -> subprocess.Popen[str]:
        """The same CLI run started in the background (its pid is the one a stack lock records)."""
        command = ["pulumi", *arguments, "--non-interactive", "--stack", self.stack_name]
        environment = {**os.environ, **self.environment}
        return subprocess.Popen(
            command, cwd=self.project, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def cli_up(self, policy_config: str) -> subprocess.CompletedProcess[str]:
        """`pulumi up` as `make up` runs it: the CLI previews first, with the policy pack."""
        return self.cli(*up_arguments(policy_config))

    def cli_down(self, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`pulumi destroy` as `make down` runs it."""
        return self.cli(*DOWN_ARGUMENTS, timeout=timeout, extra_env={DESTROY_VARIABLE: "1"})

    def cli_up_started(self, policy_config: str) -> subprocess.Popen[str]:
        """`cli_up` started in the background."""
        return self.cli_started(*up_arguments(policy_config))

    def refresh(self) -> Run:
        run = Run()
        assert self.stack is not None
        self.stack.refresh(on_event=run.on_event, on_output=run.output.append)
        return run

    def destroy(self) -> None:
        """`make down`'s destroy: refresh first, keep deleting past a failure (then raise it), with
        the program run for its delete hooks (scripts/stack.sh)."""
        if self.stack is not None:
            workspace = self.stack.workspace
            saved = dict(workspace.env_vars)
            workspace.env_vars = {**saved, DESTROY_VARIABLE: "1"}
            try:
                self.stack.destroy(refresh=True, continue_on_error=True, run_program=True, on_output=lambda _line: None)
            finally:
                workspace.env_vars = saved

    def leftovers(self) -> list[Leftover]:
        """What `make down` reports after its destroy: the stack's objects its state does not record."""
        assert self.stack is not None
        return find_leftovers(
            fleet_of(self.declaration), managed_objects({"deployment": self.stack.export_stack().deployment})
        )

    def cleanup(self) -> None:
        """Destroy whatever exists, then remove anything a failed destroy left on the host (once)."""
        if not self.folder.exists():
            return
        try:
            self.destroy()
        finally:
            remove_leftovers(self.prefix)
            shutil.rmtree(self.folder, ignore_errors=True)


DOWN_ARGUMENTS = ("destroy", "--yes", "--refresh", "--continue-on-error", "--run-program")
"""`pulumi destroy`'s arguments as `make down` gives them (with VMFLEET_DESTROY=1)."""


def up_arguments(policy_config: str) -> list[str]:
    """`pulumi up`'s arguments as `make up` gives them."""
    return ["up", "--yes", "--refresh", "--policy-pack", str(ROOT / "policies"), "--policy-pack-config", policy_config]


def fleet_of(declaration: dict[str, Any]) -> Fleet:
    return parse(declaration, source="the test declaration")


def _cli_root(environment: dict[str, str]) -> str:
    """The folder holding bin/pulumi, as PulumiCommand wants it."""
    for folder in environment["PATH"].split(":"):
        if (Path(folder) / "pulumi").is_file():
            return str(Path(folder).parent)
    raise RuntimeError("scripts/engine.sh env put no pulumi on PATH")


def policy_options(policy_config: str | None) -> dict[str, Any]:
    if policy_config is None:
        return {}
    return {"policy_packs": [str(ROOT / "policies")], "policy_pack_configs": [policy_config]}


def host_objects(prefix: str) -> dict[str, list[str]]:
    """Every libvirt object on the host whose name starts with the stack's prefix."""
    conn = libvirt.open(URI)
    try:
        volumes = []
        for pool in conn.listAllStoragePools():
            if pool.isActive():
                volumes += [v.name() for v in pool.listAllVolumes() if v.name().startswith(prefix + "-")]
        return {
            "domains": sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(prefix + "-")),
            "networks": sorted(n.name() for n in conn.listAllNetworks() if n.name().startswith(prefix + "-")),
            "nwfilters": sorted(f.name() for f in conn.listAllNWFilters() if f.name().startswith(prefix + "-")),
            "pools": sorted(p.name() for p in conn.listAllStoragePools() if p.name().startswith(prefix + "-")),
            "volumes": sorted(volumes),
        }
    finally:
        conn.close()


NOTHING: dict[str, list[str]] = {"domains": [], "networks": [], "nwfilters": [], "pools": [], "volumes": []}
"""What `host_objects` returns when nothing of a stack is on the host."""


def domain_state(name: str) -> dict[str, Any]:
    """What libvirt holds for one domain: identity, run state, size, tags (live), NICs, disks."""
    from xml.etree import ElementTree as ET

    from backends.libvirt.tags import TAGS_NAMESPACE, parse_tags_element

    def attribute(element: ET.Element, child: str, key: str) -> str | None:
        found = element.find(child)
        return found.get(key) if found is not None else None

    conn = libvirt.open(URI)
    try:
        domain = conn.lookupByName(name)
        xml = ET.fromstring(domain.XMLDesc(0))
        tags = domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, TAGS_NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        return {
            "uuid": domain.UUIDString(),
            "run_id": domain.ID(),  # changes whenever the domain is started again
            "running": domain.isActive() == 1,
            "persistent": domain.isPersistent() == 1,
            "autostart": domain.autostart() == 1,
            "description": xml.findtext("description"),
            "memory_kib": int(xml.findtext("memory") or 0),
            "type": xml.get("type"),
            "tags": parse_tags_element(tags),
            "interfaces": [
                (attribute(nic, "source", "network"), attribute(nic, "filterref", "filter"))
                for nic in xml.findall("./devices/interface")
            ],
            "taps": [target.get("dev") for target in xml.findall("./devices/interface/target")],
            "disk_backing": [b.get("file") for b in xml.findall("./devices/disk/backingStore/source") if b.get("file")],
        }
    finally:
        conn.close()


def isolated(trace: Path, *command: str) -> list[str]:
    """`command` in a new network namespace that has only loopback, under strace (connects and sends)."""
    for tool in ("unshare", "strace", "ip"):
        assert shutil.which(tool), f"{tool} is needed (scripts/system-packages.sh installs it)"
    traced = ["strace", "-f", "-qq", "-e", "signal=none", "-e", "trace=connect,sendto,sendmsg,sendmmsg"]
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
            *traced, "-o", str(trace), *command]  # fmt: skip


def addresses(trace: Path) -> Counter[str]:
    """Every IP address the traced processes connected or sent to (v4-mapped v6 shown as v4)."""
    found: Counter[str] = Counter()
    for line in trace.read_text().splitlines():
        for address in re.findall(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line):
            found[(address[0] or address[1]).removeprefix("::ffff:")] += 1
    return found


def bridge_members(bridge: str) -> list[str]:
    """Interfaces attached to a host bridge (read on the host; no packet is sent)."""
    shown = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in shown.splitlines() if line.strip()]


def remove_leftovers(prefix: str) -> None:
    """Teardown's safety net: remove the prefix's objects a failed test or destroy left behind."""
    conn = libvirt.open(URI)
    try:
        for domain in conn.listAllDomains():
            if domain.name().startswith(prefix + "-"):
                if domain.isActive():
                    domain.destroy()
                domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        for pool in conn.listAllStoragePools():
            if pool.name().startswith(prefix + "-"):
                if pool.isActive():
                    for volume in pool.listAllVolumes():
                        volume.delete(0)
                    pool.destroy()
                pool.undefine()
        for network in conn.listAllNetworks():
            if network.name().startswith(prefix + "-"):
                if network.isActive():
                    network.destroy()
                network.undefine()
        for nwfilter in conn.listAllNWFilters():
            if nwfilter.name().startswith(prefix + "-"):
                nwfilter.undefine()
    finally:
        conn.close()
    shutil.rmtree(f"/var/lib/libvirt/vmfleet/{prefix}", ignore_errors=True)
    for log in Path(names.QEMU_LOG_DIR).glob(f"{prefix}-*.log"):  # QEMU's and the console's, kept by libvirt
        log.unlink(missing_ok=True)
