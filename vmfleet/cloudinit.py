"""cloud-init documents for a VM: user-data (accounts, keys, packages) and meta-data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from vmfleet.spec import CloudInit


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
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False)


def meta_data(instance_id: str, hostname: str) -> str:
    """NoCloud meta-data; a new instance id makes cloud-init run again."""
    return yaml.safe_dump({"instance-id": instance_id, "local-hostname": hostname}, sort_keys=False)
