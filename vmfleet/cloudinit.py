"""cloud-init documents for a VM: user-data (accounts, keys, packages), meta-data and network-config.

The documents are block-style YAML with one scalar per line (no folding of long SSH keys): what
cloud-init reads, and what the dev image's small reader (`scripts/tiny-image/yaml-paths.awk`) reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from vmfleet.addressing import NicAddress, default_route
from vmfleet.spec import CloudInit


def _dump(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, width=float("inf"))


def user_data(hostname: str, config: CloudInit, password_hashes: Mapping[str, str]) -> str:
    """The `#cloud-config` user-data. `password_hashes` maps user names to their (secret) hashes."""
    users: list[Any] = ["default"]
    for user in config.users:
        entry: dict[str, Any] = {"name": user.name, "shell": "/bin/sh"}
        if user.ssh_authorized_keys:
            entry["ssh_authorized_keys"] = list(user.ssh_authorized_keys)
        if user.sudo:
            entry["sudo"] = "ALL=(ALL) NOPASSWD:ALL"
        if user.name in password_hashes:
            entry["passwd"] = password_hashes[user.name]
            entry["lock_passwd"] = False
        users.append(entry)
    document: dict[str, Any] = {
        "hostname": hostname,
        "preserve_hostname": False,
        "users": users,
    }
    if config.packages:
        document["packages"] = list(config.packages)
    if config.run:
        document["runcmd"] = list(config.run)
    return "#cloud-config\n" + _dump(document)


def meta_data(instance_id: str, hostname: str) -> str:
    """NoCloud meta-data; a new instance id makes cloud-init run again."""
    return _dump({"instance-id": instance_id, "local-hostname": hostname})


def network_config(interfaces: Sequence[tuple[str, NicAddress]]) -> str:
    """NoCloud network-config, version 2.

    Format: https://cloudinit.readthedocs.io/en/latest/reference/network-config-format-v2.html

    `interfaces`: (MAC, address) per NIC, in the VM's segment order. Each NIC is matched by its MAC and
    keyed by its segment. A DHCP segment's NIC asks DHCP (which hands out the reserved
    address); any other is configured with its address, the segment's gateway as DNS server and
    the segment's domain to search; the default route is `addressing.default_route`'s (the first
    NIC's gateway when that NIC is static).
    """
    ethernets: dict[str, Any] = {}
    routed = default_route([nic for _mac, nic in interfaces])
    for mac, nic in interfaces:
        entry: dict[str, Any] = {"match": {"macaddress": mac}}
        if nic.dhcp:
            entry["dhcp4"] = True
        else:
            entry["dhcp4"] = False
            entry["addresses"] = [f"{nic.address}/{nic.prefix_length}"]
            if nic is routed:
                entry["routes"] = [{"to": "default", "via": nic.gateway}]
            entry["nameservers"] = {"addresses": [nic.gateway], "search": [nic.domain]}
        ethernets[nic.segment] = entry
    return _dump({"version": 2, "ethernets": ethernets})
