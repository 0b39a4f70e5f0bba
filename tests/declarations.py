"""Fleet declarations for tests: a small valid one to mutate, and the real stack files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from vmfleet.load import CONFIG_KEY

ROOT = Path(__file__).resolve().parent.parent

_VALID: dict[str, Any] = {
    "environment": "test",
    "defaults": {
        "tags": {
            "owner": "owner@example.com",
            "project": "tests",
            "cost_center": "CC-1234",
            "expires": "2027-01-31",
        }
    },
    "host_pools": [
        {
            "name": "pool-a",
            "cpu_overcommit": 2.0,
            "memory_overcommit": 1.0,
            "hosts": [
                {
                    "name": "h1",
                    "uri": "qemu:///system",
                    "cpu_cores": 2,
                    "memory_mib": 2048,
                    "storage_dir": "/var/lib/vmfleet-test",
                    "domain_type": "qemu",
                },
                {
                    "name": "h2",
                    "uri": "qemu+ssh://ops@h2.example.com/system",
                    "cpu_cores": 2,
                    "memory_mib": 2048,
                    "storage_dir": "/var/lib/vmfleet-test",
                    "domain_type": "kvm",
                },
            ],
        }
    ],
    "sizes": [
        {"name": "nano", "vcpus": 1, "memory_mib": 128, "disk_gib": 1},
        {"name": "small", "vcpus": 1, "memory_mib": 256, "disk_gib": 2},
        {"name": "big", "vcpus": 2, "memory_mib": 1024, "disk_gib": 4},
    ],
    "templates": [
        {
            "name": "tiny",
            "image_path": "/images/tiny.qcow2",
            "os_family": "linux",
            "default_size": "nano",
            "version": "1.0",
            "patched": "2026-11-01",
        },
    ],
    "segments": [
        {"name": "web", "cidr": "10.99.1.0/24", "mode": "isolated"},
        {"name": "db", "cidr": "10.99.2.0/24", "mode": "nat", "vlan": 12},
    ],
    "firewalls": [
        {"segment": "web", "ingress": [{"protocol": "tcp", "ports": ["80", "443"], "peer": "any"}]},
        {"segment": "db", "ingress": [{"protocol": "tcp", "ports": "5432", "peer": "web"}]},
    ],
    "vms": [
        {
            "name": "web",
            "count": 2,
            "pool": "pool-a",
            "template": "tiny",
            "segments": ["web"],
            "tags": {"role": "frontend"},
        },
        {"name": "db", "count": 1, "pool": "pool-a", "template": "tiny", "size": "small", "segments": ["db", "web"]},
    ],
}


def valid() -> dict[str, Any]:
    """A fresh copy of a small valid declaration: two hosts, two segments, three VMs."""
    return copy.deepcopy(_VALID)


def stack_declaration(stack: str) -> dict[str, Any]:
    """The declaration in the repository's `Pulumi.<stack>.yaml`."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    declaration: dict[str, Any] = document["config"][f"vmfleet:{CONFIG_KEY}"]
    return declaration


def stack_secrets(stack: str) -> dict[str, str]:
    """The stack file's secret config keys (`secure:` values), each with a stand-in value: the mocks
    need to know which keys are secrets, not what they hold (which only the stack's passphrase opens)."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return {
        key.split(":", 1)[1]: f"<{key} of Pulumi.{stack}.yaml>"
        for key, value in (document.get("config") or {}).items()
        if isinstance(value, dict) and "secure" in value
    }
