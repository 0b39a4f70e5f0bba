"""Generated fleet declarations for the benchmark: realistic estates of any size, on libvirt hosts.

A fleet of `vms` VMs spreads over three host pools (web, app, data) of several hosts each, six VM
groups per pool-sized tier with the sizes, tags, segments and firewalls a real estate has. Hosts are
sized so the fleet fits with room to spare. Each host's URI is whatever `host_uri` makes of its
name: the benchmark gives every host a socket of its own that leads to the local libvirt daemon, so
the provider connects per host as it would to real ones, and nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

HOSTS_PER_POOL_PER_100_VMS = 1
"""About one host per pool per 100 VMs (at least 2 per pool): a 1,000-VM fleet has 30 hosts."""

GROUPS: tuple[tuple[str, str, str, str, list[str], dict[str, str], float], ...] = (
    # name, pool, template, size, segments, tags, share of the fleet
    ("web", "web", "edge-linux", "small", ["web"], {"role": "frontend"}, 0.30),
    ("api", "app", "app-linux", "medium", ["app"], {"role": "backend"}, 0.25),
    ("worker", "app", "app-linux", "small", ["app"], {"role": "worker", "owner": "group:platform"}, 0.20),
    ("cache", "data", "app-linux", "medium", ["app", "db"], {"role": "cache"}, 0.10),
    ("db", "data", "app-linux", "large", ["db"], {"role": "database", "owner": "dba-team@example.com"}, 0.10),
    ("jump", "web", "edge-linux", "nano", ["web", "app"], {"role": "bastion", "owner": "group:sre"}, 0.05),
)


def group_counts(vms: int) -> dict[str, int]:
    """VMs per group, summing to `vms`: each group its share (at least one VM), the first group the
    rest; a fleet smaller than the group list fills groups one VM each, in order."""
    if vms < len(GROUPS):
        return {name: 1 for name, *_rest in GROUPS[:vms]}
    counts = {name: max(1, math.floor(vms * share)) for name, *_rest, share in GROUPS}
    first = GROUPS[0][0]
    counts[first] += vms - sum(counts.values())
    return counts


def declaration(
    vms: int, *, environment: str, prefix: str, image: str, expires: dt.date, host_uri: Callable[[str], str]
) -> dict[str, Any]:
    """The `vmfleet:fleet` config value of a generated fleet of `vms` VMs.

    `environment`: the stack's environment tag (the policy configuration's); `prefix`: its name
    prefix; `image`: a local qcow2 image every template uses; `expires`: the VMs' expiry date;
    `host_uri`: a host name -> its libvirt URI (each must be unique).
    """
    if vms < 1:
        raise ValueError(f"a benchmark fleet has at least 1 VM, not {vms}")
    hosts_per_pool = max(2, math.ceil(vms * HOSTS_PER_POOL_PER_100_VMS / 100))
    counts = group_counts(vms)
    pools = []
    for pool in ("web", "app", "data"):
        hosts = []
        for index in range(1, hosts_per_pool + 1):
            hosts.append(
                {
                    "name": f"{pool}-host-{index:02d}",
                    "uri": host_uri(f"{pool}-host-{index:02d}"),
                    "cpu_cores": 64,
                    "memory_mib": 512 * 1024,
                    "storage_dir": f"/var/lib/libvirt/vmfleet/{prefix}",
                    "domain_type": "qemu",
                }
            )
        pools.append({"name": pool, "cpu_overcommit": 4, "memory_overcommit": 1.5, "hosts": hosts})
    groups = []
    for name, pool, template, size, segments, tags, _share in GROUPS:
        if name not in counts:
            continue
        group: dict[str, Any] = {
            "name": name,
            "count": counts[name],
            "pool": pool,
            "template": template,
            "size": size,
            "segments": segments,
            "tags": dict(tags),
        }
        if name == "api":
            group["cloud_init"] = {
                "users": [
                    {
                        "name": "ops",
                        "sudo": True,
                        "ssh_authorized_keys": [
                            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchmarkOnlyExampleKey00000000000000 ops@example.com"
                        ],
                    }
                ],
                "packages": ["nginx"],
            }
        groups.append(group)
    return {
        "environment": environment,
        "name_prefix": prefix,
        "defaults": {
            "tags": {
                "owner": "platform-team@example.com",
                "project": "vmfleet-bench",
                "cost_center": "CC-4242",
                "expires": expires.isoformat(),
            }
        },
        "host_pools": pools,
        "sizes": [
            {"name": "nano", "vcpus": 1, "memory_mib": 512, "disk_gib": 10},
            {"name": "small", "vcpus": 1, "memory_mib": 1024, "disk_gib": 20},
            {"name": "medium", "vcpus": 2, "memory_mib": 4096, "disk_gib": 40},
            {"name": "large", "vcpus": 4, "memory_mib": 8192, "disk_gib": 100},
        ],
        "templates": [
            {
                "name": template,
                "image_path": image,
                "os_family": "linux",
                "default_size": "small",
                "version": "1.0",
                "patched": (expires - dt.timedelta(days=60)).isoformat(),
            }
            for template in ("edge-linux", "app-linux")
        ],
        "segments": [
            # Room for an address per VM at 5,000 VMs (the planning row).
            {"name": "web", "cidr": "10.90.0.0/19", "mode": "isolated", "vlan": 101},
            {"name": "app", "cidr": "10.90.32.0/19", "mode": "isolated", "vlan": 102},
            {"name": "db", "cidr": "10.90.64.0/19", "mode": "isolated", "vlan": 103},
        ],
        "firewalls": [
            {
                "segment": "web",
                "ingress": [
                    {"protocol": "tcp", "ports": ["80", "443"], "peer": "any", "description": "public HTTP(S)"},
                    {"protocol": "icmp", "peer": "app"},
                ],
            },
            {"segment": "app", "ingress": [{"protocol": "tcp", "ports": "8080", "peer": "web"}]},
            {
                "segment": "db",
                "default_egress": "drop",
                "ingress": [{"protocol": "tcp", "ports": "5432", "peer": "app"}],
            },
        ],
        "vms": groups,
    }
