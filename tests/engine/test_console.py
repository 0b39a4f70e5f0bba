"""The dev image proves the chain on the real libvirt: each VM's serial console, kept in a log file
on the host, shows it booted with its declared hostname, its reserved (DHCP) or configured (static)
address on every segment, its users' SSH keys in place, and a login prompt.

Checked from the host only (the console log libvirt writes); no packet goes to a VM's address."""

from __future__ import annotations

import copy
import hashlib
import re
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import libvirt
import pytest

from backends.libvirt import names
from tests.engine.harness import URI, EphemeralStack, free_cidrs

pytestmark = pytest.mark.engine

READY = re.compile(r"^vmfleet-tiny: ready hostname=(\S+) addresses=(\S+) ssh_keys=(\S+)\s*$", re.MULTILINE)
BOOT_SECONDS = 300  # two VMs booting at once under software emulation on 2 cores take ~30-60 s
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJtYQ4f9k0aWvVGQ0u3cVv1o2m0Hq4q8bQbO5gYkK7xJ ops@example.com"


def console_text(log: Path) -> str:
    return log.read_text(errors="replace").replace("\r", "") if log.exists() else ""


def wait_for_ready(log: Path, domain_name: str) -> tuple[re.Match[str], str]:
    """The first `ready` line in the console log, and the text after it.

    Once in a full CI run (2026-12-02), an emulated guest went silent for 300 s right after
    "cloud-init seed on /dev/sr0" while its twin booted in seconds; the same test alone passes in
    19 s. So a guest with no ready line in time is reset once (the log shows both boots), and the
    second boot must give the line.
    """
    for boot in (1, 2):
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            text = console_text(log)
            found = READY.search(text)
            if found is not None:
                return found, text[found.end() :]
            time.sleep(2)
        if boot == 1:
            print(f"{domain_name}: no ready line within {BOOT_SECONDS} s; resetting it once")
            conn = libvirt.open(URI)
            try:
                conn.lookupByName(domain_name).reset(0)
            finally:
                conn.close()
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log file)"
    raise AssertionError(f"no ready line in {log} within {BOOT_SECONDS} s, twice (reset between); it ends:\n{tail}")


def serial_log_file(domain_name: str) -> str | None:
    conn = libvirt.open(URI)
    try:
        root = ET.fromstring(conn.lookupByName(domain_name).XMLDesc(0))
    finally:
        conn.close()
    log = root.find("devices/serial/log")
    return log.get("file") if log is not None else None


def test_console_log_shows_declared_hostname_reserved_addresses_keys_and_a_login_prompt(
    ephemeral: EphemeralStack, fleet: dict[str, Any]
) -> None:
    prefix = ephemeral.prefix
    declaration = copy.deepcopy(fleet)
    declaration["segments"].append({"name": "back", "cidr": free_cidrs(1)[0], "mode": "isolated", "dhcp": False})
    group = declaration["vms"][0]
    group["count"] = 2
    group["segments"] = ["front", "back"]
    group["cloud_init"] = {"users": [{"name": "ops", "ssh_authorized_keys": [KEY]}]}
    ephemeral.declare(declaration)
    ephemeral.up()
    assert ephemeral.stack is not None
    addresses = ephemeral.stack.outputs()["addresses"].value
    prefix_lengths = {segment["name"]: segment["cidr"].split("/")[1] for segment in declaration["segments"]}
    key_digest = hashlib.sha256((KEY + "\n").encode()).hexdigest()[:16]

    for vm in ("web-01", "web-02"):
        domain_name = names.domain(prefix, vm)
        log = Path(names.console_log(domain_name))
        assert serial_log_file(domain_name) == str(log), "the serial console is logged on the host"
        ready, after = wait_for_ready(log, domain_name)
        hostname, shown, keys = ready.groups()
        assert hostname == vm
        # NICs are in segment order: eth0 on front (its DHCP reservation), eth1 on back (static).
        assert shown == ",".join(
            f"{addresses[vm][segment]}/{prefix_lengths[segment]}@eth{index}"
            for index, segment in enumerate(group["segments"])
        )
        assert keys == f"ops:1:{key_digest}", "the user's authorized_keys holds exactly the declared key"
        deadline = time.monotonic() + 60
        while f"{vm} login:" not in after and time.monotonic() < deadline:
            time.sleep(1)
            after = console_text(log)[ready.end() :]
        assert f"{vm} login:" in after, "a login prompt on the serial console"
        assert "Linux version" in console_text(log), "the kernel's boot shows on the console"
