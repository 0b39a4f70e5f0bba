"""The benchmark's fleet as an OpenTofu configuration, and `tofu plan` of it: the side by side.

What a user would write instead of this program: OpenTofu with terraform-provider-libvirt v0.8.1
(the classic SDKv2 provider). `configuration` turns the same placed plan our program deploys into
`main.tf.json` with the same objects our libvirt backend makes (backends/libvirt/adapter.py): one
provider alias per host with the host's URI; per host a storage pool, a base volume per template and
a network per segment that the host's VMs use; per VM a disk cloned from the base volume, a
cloud-init disk with the same user data and meta data, and the domain (vCPUs, memory, disk, an
interface per segment by network name, cloud-init, serial console, the same metadata document).

What it leaves out: firewalls. v0.8.1 has no nwfilter resource (its resources are libvirt_domain,
_volume, _network, _pool, _cloudinit_disk, _ignition and _combustion), so neither the per-host
filters nor the domain's filter references are there. Our separate tag resource per VM (it writes
the tags into the domain's libvirt metadata) has no counterpart either; the domain's `metadata`
carries the same document in both.

`Workspace` writes the configuration with a CLI configuration of its own (the provider from a local
filesystem mirror, nothing from a registry), runs `tofu init` offline and times `tofu plan
-refresh=false -lock=false`. Nothing is ever applied.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.libvirt import names
from backends.libvirt.adapter import GIB, NETWORK_MODES
from tests.declarations import ROOT
from vmfleet import cloudinit, metadata
from vmfleet.load import FleetPlan
from vmfleet.spec import Host

PROVIDER_SOURCE = "dmacvicar/libvirt"
PROVIDER_VERSION = "0.8.1"
REGISTRY = "registry.opentofu.org"
"""Where `tofu init` would look for the provider; the mirror stands in for it."""
PLAN_TIMEOUT_S = 3600


def configuration(fleet_plan: FleetPlan, prefix: str) -> dict[str, Any]:
    """`main.tf.json` for `fleet_plan`: libvirt objects named with `prefix` as our backend names them."""
    fleet, placement = fleet_plan.fleet, fleet_plan.placement
    hosts: dict[str, Host] = {}
    for pool in fleet.host_pools:
        for node in pool.hosts:
            if not isinstance(node, Host):
                raise TypeError(f"host {node.name} of pool {pool.name} is not a libvirt host ({pool.platform})")
            hosts[node.name] = node
    templates = {template.name: template for template in fleet.templates}
    segments = {segment.name: segment for segment in fleet.segments}

    # As components/fleet.py: a template's image and a segment's network only on hosts that use them.
    template_hosts, segment_hosts = fleet_plan.template_hosts(), fleet_plan.segment_hosts()

    providers: list[dict[str, Any]] = []
    pools: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    networks: dict[str, Any] = {}
    for host_name, host in hosts.items():
        provider = f"libvirt.{host_name}"
        providers.append({"alias": host_name, "uri": host.uri})
        pools[host_name] = {
            "provider": provider,
            "name": names.storage_pool(prefix),
            "type": "dir",
            "target": [{"path": host.storage_dir}],
        }
        for template_name in sorted(name for name, used_on in template_hosts.items() if host_name in used_on):
            template = templates[template_name]
            volumes[f"{host_name}_{template_name}"] = {
                "provider": provider,
                "name": names.base_volume(prefix, template.name, template.version),
                "pool": f"${{libvirt_pool.{host_name}.name}}",
                "source": template.image_source,
                "format": template.image_format,
            }
        for segment_name in sorted(name for name, used_on in segment_hosts.items() if host_name in used_on):
            segment = segments[segment_name]
            networks[f"{host_name}_{segment_name}"] = {
                "provider": provider,
                "name": names.network(prefix, segment.name),
                "mode": NETWORK_MODES[segment.mode],
                "bridge": names.bridge(prefix, segment.name),
                "addresses": [str(segment.cidr)],
                "dhcp": [{"enabled": segment.dhcp}],
                "autostart": True,
            }

    cloudinit_disks: dict[str, Any] = {}
    domains: dict[str, Any] = {}
    for vm in fleet_plan.instances:
        host_name = placement.host_of[vm.name]
        host, template = hosts[host_name], templates[vm.template]
        provider = f"libvirt.{host_name}"
        storage = f"${{libvirt_pool.{host_name}.name}}"
        volumes[f"{vm.name}_disk"] = {
            "provider": provider,
            "name": names.disk_volume(prefix, vm.name),
            "pool": storage,
            "base_volume_id": f"${{libvirt_volume.{host_name}_{vm.template}.id}}",
            "size": vm.disk_gib * GIB,
            "format": "qcow2",
        }
        # Password hashes are secrets the program derives at run time; the benchmark fleet has none.
        cloudinit_disks[vm.name] = {
            "provider": provider,
            "name": names.cloudinit_volume(prefix, vm.name),
            "pool": storage,
            "user_data": cloudinit.user_data(vm.name, vm.cloud_init, {}),
            "meta_data": cloudinit.meta_data(f"{vm.name}-{template.version}", vm.name),
        }
        domain_name = names.domain(prefix, vm.name)
        domains[vm.name] = {
            "provider": provider,
            "name": domain_name,
            # Ours probes an `auto` host for kvm; the benchmark's hosts all say `qemu`.
            "type": host.domain_type if host.domain_type != "auto" else "kvm",
            "vcpu": vm.vcpus,
            "memory": vm.memory_mib,
            "running": True,
            "autostart": vm.autostart,
            "description": names.domain_description(prefix, domain_name),
            "metadata": metadata.encode(metadata.document(vm, template, host_name)),
            "disk": [{"volume_id": f"${{libvirt_volume.{vm.name}_disk.id}}"}],
            "cloudinit": f"${{libvirt_cloudinit_disk.{vm.name}.id}}",
            "network_interface": [
                {"network_name": f"${{libvirt_network.{host_name}_{segment}.name}}", "hostname": vm.name}
                for segment in vm.segments
            ],
            "console": [{"type": "pty", "target_port": "0", "target_type": "serial"}],
        }

    return {
        "terraform": {"required_providers": {"libvirt": {"source": PROVIDER_SOURCE, "version": PROVIDER_VERSION}}},
        "provider": {"libvirt": providers},
        "resource": {
            "libvirt_pool": pools,
            "libvirt_network": networks,
            "libvirt_volume": volumes,
            "libvirt_cloudinit_disk": cloudinit_disks,
            "libvirt_domain": domains,
        },
    }


def resource_counts(config: dict[str, Any]) -> Counter[str]:
    """Resources of each type in a configuration."""
    return Counter({kind: len(blocks) for kind, blocks in config["resource"].items() if blocks})


@dataclass(frozen=True)
class Tools:
    """The tofu binary and the provider binary it plans with."""

    tofu: Path
    provider: Path

    @classmethod
    def build(cls) -> Tools:
        """Both from scripts/tools.sh: built once from the Go module proxy into the engine cache."""

        def tool(name: str) -> Path:
            ran = subprocess.run(
                [str(ROOT / "scripts" / "tools.sh"), name], capture_output=True, text=True, check=False
            )
            if ran.returncode != 0:
                raise RuntimeError(f"scripts/tools.sh {name} failed ({ran.returncode}):\n{ran.stderr[-3000:]}")
            return Path(ran.stdout.strip())

        return cls(tofu=tool("opentofu"), provider=tool("terraform-provider-libvirt"))

    def version(self) -> str:
        """`tofu version`'s first line."""
        ran = subprocess.run([str(self.tofu), "version"], capture_output=True, text=True, check=False)
        return ran.stdout.splitlines()[0] if ran.stdout else "tofu (version unknown)"


class Workspace:
    """A root module of one fleet's configuration, initialised offline, ready to plan; `cleanup` removes it."""

    def __init__(self, tools: Tools, fleet_plan: FleetPlan, prefix: str) -> None:
        self.tools = tools
        self.folder = Path(tempfile.mkdtemp(prefix=f"vmfleet-{prefix}-opentofu-"))
        self.config = configuration(fleet_plan, prefix)
        (self.folder / "main.tf.json").write_text(json.dumps(self.config, indent=1))
        mirror = self.folder / "mirror"
        package = mirror / REGISTRY / PROVIDER_SOURCE / PROVIDER_VERSION / "linux_amd64"
        package.mkdir(parents=True)
        (package / f"terraform-provider-libvirt_v{PROVIDER_VERSION}").symlink_to(tools.provider)
        cli_config = self.folder / "tofu.tfrc"
        cli_config.write_text(
            "provider_installation {\n"
            f"  filesystem_mirror {{\n    path = {json.dumps(str(mirror))}\n"
            f'    include = ["{REGISTRY}/{PROVIDER_SOURCE}"]\n  }}\n'
            "}\n"
        )
        # The machine's TF_CLI_CONFIG_FILE (and any TF_* setting) must not reach this tofu.
        self.environment = {key: value for key, value in os.environ.items() if not key.startswith("TF_")}
        self.environment.update(
            TF_CLI_CONFIG_FILE=str(cli_config),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
        )
        self.tofu("init", "-backend=false", "-input=false", "-no-color")

    def tofu(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """Runs tofu in the workspace; raises with its output when it fails."""
        ran = subprocess.run(
            [str(self.tools.tofu), *arguments],
            cwd=self.folder,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=PLAN_TIMEOUT_S,
            check=False,
        )
        if ran.returncode != 0:
            raise RuntimeError(f"tofu {arguments[0]} failed ({ran.returncode}):\n{(ran.stderr or ran.stdout)[-5000:]}")
        return ran

    def time_plan(self) -> float:
        """Wall seconds of one `tofu plan -refresh=false -lock=false`, its plan saved for `planned`."""
        start = time.perf_counter()
        self.tofu("plan", "-refresh=false", "-lock=false", "-input=false", "-no-color", "-out=tfplan")
        return time.perf_counter() - start

    def planned(self) -> Counter[str]:
        """Resources the last saved plan would create, by type (from `tofu show -json`)."""
        shown = json.loads(self.tofu("show", "-json", "tfplan").stdout)
        return Counter(
            change["type"] for change in shown.get("resource_changes", []) if "create" in change["change"]["actions"]
        )

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def time_plans(workspace: Workspace, repeat: int) -> tuple[float, int]:
    """The median wall seconds of `repeat` plans, and how many resources they plan."""
    runs = [workspace.time_plan() for _ in range(repeat)]
    return statistics.median(runs), sum(workspace.planned().values())
