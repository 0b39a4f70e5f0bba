"""`scripts/hypervisor.sh` against the real daemons: a dead virtlogd is found and brought back.

libvirtd alone answering is not enough: QEMU domains log through virtlogd, so with it dead every VM
start fails with "Failed to connect socket to '/var/run/libvirt/virtlogd-sock'". These tests kill
virtlogd (never libvirtd, which other work on the machine may be using) and always leave it running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.declarations import ROOT

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(os.geteuid() != 0, reason="starting and killing libvirt's daemons needs root"),
]

SCRIPT = str(ROOT / "scripts" / "hypervisor.sh")
URI = "qemu:///system"
VIRTLOGD_SOCKET = "/run/libvirt/virtlogd-sock"


def socket_answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(2)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def running(name: str) -> list[int]:
    """Pids of live processes called `name` (a killed daemon may linger as a zombie here)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            comm = (entry / "comm").read_text().strip()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if comm == name and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_for(condition: str, check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {condition}"
        time.sleep(0.1)


def kill_virtlogd() -> None:
    subprocess.run(["pkill", "-x", "virtlogd"], check=True)
    wait_for("virtlogd has exited", lambda: not running("virtlogd") and not socket_answers(VIRTLOGD_SOCKET))


def script(*args: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"VMFLEET_HYPERVISOR_STATE": str(state)} if state else {})}
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def hypervisor() -> Iterator[None]:
    """Every daemon up before the test; virtlogd running again after it, whatever the test did."""
    started = script("start")
    assert started.returncode == 0, started.stdout + started.stderr
    yield
    if not socket_answers(VIRTLOGD_SOCKET):
        script("start")  # recorded in the machine's record, like any virtlogd the script starts
    if not socket_answers(VIRTLOGD_SOCKET):
        subprocess.run(["virtlogd", "-d"], check=True)
        wait_for("the restored virtlogd answers", lambda: socket_answers(VIRTLOGD_SOCKET))


def start_transient_domain(name: str) -> subprocess.CompletedProcess[str]:
    """A diskless 32 MiB software-emulated domain; starting one opens its log through virtlogd."""
    xml = (
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><on_poweroff>destroy</on_poweroff></domain>"
    )
    return subprocess.run(["virsh", "-c", URI, "create", "/dev/stdin"], input=xml, capture_output=True, text=True)


def test_start_brings_back_a_dead_virtlogd_while_libvirtd_answers(hypervisor: None) -> None:
    kill_virtlogd()
    assert subprocess.run(["virsh", "-c", URI, "version"], capture_output=True).returncode == 0, "libvirtd answers"

    status = script("status")
    assert status.returncode == 1
    assert "virtlogd: DOES NOT ANSWER at /run/libvirt/virtlogd-sock" in status.stdout

    started = script("start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "==> starting virtlogd" in started.stdout
    assert running("virtlogd"), "virtlogd runs again"
    assert socket_answers(VIRTLOGD_SOCKET), "and its socket answers"

    name = f"vmfleet-hypervisor-test-{os.getpid()}"
    created = start_transient_domain(name)
    try:
        assert created.returncode == 0, created.stderr
    finally:
        if created.returncode == 0:
            subprocess.run(["virsh", "-c", URI, "destroy", name], capture_output=True, check=True)

    status = script("status")
    assert status.returncode == 0, status.stdout
    assert "virtlogd: answers at /run/libvirt/virtlogd-sock" in status.stdout
    assert f"libvirtd: answers at {URI}" in status.stdout


def test_stop_stops_only_what_start_started(hypervisor: None, tmp_path: Path) -> None:
    # A record of its own, so the machine's record (which may hold libvirtd) is never read here.
    libvirtd = running("libvirtd")
    kill_virtlogd()
    started = script("start", state=tmp_path)
    assert started.returncode == 0, started.stdout + started.stderr
    [virtlogd] = running("virtlogd")
    recorded = (tmp_path / "started").read_text().splitlines()
    assert f"virtlogd {virtlogd}" in recorded
    assert all(line.startswith("prometheus-libvirt-exporter ") for line in recorded if not line.startswith("virtlogd "))
    status = script("status", state=tmp_path)
    [libvirtd_line] = [line for line in status.stdout.splitlines() if line.startswith("libvirtd:")]
    assert "not started by this script" in libvirtd_line, "the test's own record is the one read"

    stopped = script("stop", state=tmp_path)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"==> stopped virtlogd (pid {virtlogd})" in stopped.stdout
    assert not running("virtlogd")
    assert running("libvirtd") == libvirtd, "libvirtd was not started by this run, so it keeps running"
    assert not (tmp_path / "started").exists()
