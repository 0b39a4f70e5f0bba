"""Partial failures leave nothing that blocks a retry, `down` never hides debris, and no call hangs.

- A VM whose first start fails (more memory than the host can allocate) is removed again, so the
  retry after the fix succeeds instead of failing "domain ... already exists" forever.
- A volume somebody put into the stack's pool keeps the pool: `down` removes everything else and
  fails naming that volume and the command that removes it; after that, `down` finishes.
- A storage folder that is a mount point is kept and `down` succeeds.
- A host that stops answering fails every operation within the host timeout, with an error that
  names the operation, the object and the host; when it answers again, the same command succeeds.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dill
import pytest
from pulumi import automation as auto

from backends.libvirt import names
from backends.libvirt.host_call import HostTimeout
from tests.engine.harness import NOTHING, URI, EphemeralStack, host_objects
from tests.engine.stalling_socket import StallingSocket

pytestmark = pytest.mark.engine


def test_a_vm_that_fails_to_start_is_removed_and_the_retry_succeeds(
    ephemeral: EphemeralStack, fleet: dict[str, Any]
) -> None:
    too_big = copy.deepcopy(fleet)
    too_big["host_pools"][0]["hosts"][0]["memory_mib"] = 4 * 1024 * 1024  # what the declaration claims
    too_big["sizes"].append({"name": "huge", "vcpus": 1, "memory_mib": 1024 * 1024, "disk_gib": 1})
    too_big["vms"][0]["size"] = "huge"  # 1 TiB: QEMU cannot allocate it on this machine
    ephemeral.declare(too_big)
    with pytest.raises(auto.CommandError) as failed:
        ephemeral.up()
    assert "Cannot allocate memory" in str(failed.value)
    assert f'the half-created domain "{ephemeral.prefix}-web-01" was removed' in str(failed.value)
    assert host_objects(ephemeral.prefix)["domains"] == [], "no defined, shut-off domain is left behind"

    ephemeral.declare(fleet)
    ephemeral.up()
    assert host_objects(ephemeral.prefix)["domains"] == [f"{ephemeral.prefix}-web-01"]
    ephemeral.destroy()
    assert host_objects(ephemeral.prefix) == NOTHING


def test_a_foreign_volume_keeps_the_pool_and_down_names_it(ephemeral: EphemeralStack, fleet: dict[str, Any]) -> None:
    pool = names.storage_pool(ephemeral.prefix)
    ephemeral.declare(fleet)
    ephemeral.up()
    subprocess.run(["virsh", "-c", URI, "vol-create-as", pool, "stray.qcow2", "10M"], check=True, capture_output=True)

    with pytest.raises(auto.CommandError) as failed:
        ephemeral.destroy()
    message = str(failed.value)
    assert "still holds volumes this stack did not create: stray.qcow2" in message
    assert f"virsh -c {URI} vol-delete --pool {pool} stray.qcow2" in message
    objects = host_objects(ephemeral.prefix)
    assert objects == {**NOTHING, "pools": [pool]}, "everything else was removed"
    assert [(leftover.kind, leftover.name) for leftover in ephemeral.leftovers()] == [("volume", "stray.qcow2")]

    ephemeral.up()  # the pool is still the stack's, running: a new up works
    assert host_objects(ephemeral.prefix)["domains"] == [f"{ephemeral.prefix}-web-01"]

    subprocess.run(["virsh", "-c", URI, "vol-delete", "--pool", pool, "stray.qcow2"], check=True, capture_output=True)
    ephemeral.destroy()
    assert host_objects(ephemeral.prefix) == NOTHING
    assert ephemeral.leftovers() == []


@pytest.fixture
def mounted_storage(ephemeral: EphemeralStack) -> Iterator[Path]:
    folder = Path(ephemeral.storage_dir)
    folder.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(folder)], check=True)
    (folder / "lost+found").mkdir()  # what an ext4 file system brings along
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def test_a_storage_folder_that_is_a_mount_point_is_kept(
    ephemeral: EphemeralStack, fleet: dict[str, Any], mounted_storage: Path
) -> None:
    ephemeral.declare(fleet)
    ephemeral.up()
    ephemeral.destroy()
    assert host_objects(ephemeral.prefix) == NOTHING
    assert ephemeral.leftovers() == []
    assert mounted_storage.is_mount(), "the operator's mount point is left as it was"


@pytest.fixture
def stalling(ephemeral: EphemeralStack) -> Iterator[StallingSocket]:
    relay = StallingSocket(ephemeral.folder / "libvirt.sock")
    ephemeral.environment["VMFLEET_HOST_TIMEOUT"] = "5"
    try:
        yield relay
    finally:
        relay.resume()
        ephemeral.cleanup()  # while the relay still answers
        relay.close()


def test_a_host_that_stops_answering_fails_every_operation_in_bounded_time(
    ephemeral: EphemeralStack, fleet: dict[str, Any], stalling: StallingSocket
) -> None:
    through_relay = copy.deepcopy(fleet)
    through_relay["host_pools"][0]["hosts"][0]["uri"] = stalling.uri
    ephemeral.declare(through_relay)

    stalling.stall()
    started = time.monotonic()
    with pytest.raises(auto.CommandError) as failed:
        ephemeral.preview()
    assert time.monotonic() - started < 90
    assert f"connect on {stalling.uri}: no answer from the host within 5s" in str(failed.value)

    stalling.resume()
    ephemeral.up()
    assert host_objects(ephemeral.prefix)["domains"] == [f"{ephemeral.prefix}-web-01"]

    stalling.stall()
    started = time.monotonic()
    with pytest.raises(auto.CommandError) as failed:
        ephemeral.up()  # refreshes first: every read meets the silent host
    assert time.monotonic() - started < 90
    # The refresh needs the Domain provider's connection first, and that is what fails, naming it.
    assert f"connect on {stalling.uri}: no answer from the host within 5s" in str(failed.value)

    stalling.resume()
    ephemeral.up()
    assert ephemeral.preview().changes() == {}


def test_every_dynamic_provider_call_gives_up_on_a_silent_host(
    ephemeral: EphemeralStack, fleet: dict[str, Any], stalling: StallingSocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calls the engine test above cannot reach (the Domain provider fails first), one by one."""
    monkeypatch.setenv("VMFLEET_HOST_TIMEOUT", "5")
    through_relay = copy.deepcopy(fleet)
    through_relay["host_pools"][0]["hosts"][0]["uri"] = stalling.uri
    ephemeral.declare(through_relay)
    ephemeral.up()
    exported = json.loads(ephemeral.cli("stack", "export", "--show-secrets").stdout)
    recorded = {
        resource["urn"].split("::")[-1]: resource
        for resource in exported["deployment"]["resources"]
        if resource["type"] == "pulumi-python:dynamic:Resource"
    }
    stalling.stall()
    for name, resource in sorted(recorded.items()):
        provider = _provider_of(resource["outputs"])
        started = time.monotonic()
        with pytest.raises(HostTimeout) as failed:
            provider.read(resource["id"], resource["outputs"])
        assert time.monotonic() - started < 15, name
        assert f"on {stalling.uri}: no answer from the host within 5 s" in str(failed.value), name
        outputs = resource["outputs"]
        named = outputs.get("name") or outputs.get("domain") or outputs["ip"]  # an address reservation: its address
        assert named in str(failed.value), name
    stalling.resume()


def _provider_of(outputs: dict[str, Any]) -> Any:
    """The provider a resource's state records, loaded as the engine loads it."""

    recorded = outputs["__provider"]
    if isinstance(recorded, dict):
        recorded = json.loads(recorded["plaintext"])
    return dill.loads(base64.b64decode(recorded))


def test_a_run_killed_mid_create_is_retried(ephemeral: EphemeralStack, fleet: dict[str, Any]) -> None:
    """What a killed run leaves: objects on the host that the state never recorded. The retry takes
    over what it would have made, replaces uploads and the VM, and ends with one of everything."""
    prefix = ephemeral.prefix
    ephemeral.declare(fleet)
    ephemeral.up()
    before = host_objects(prefix)
    exported = json.loads(ephemeral.cli("stack", "export").stdout)
    forget = [
        resource["urn"]
        for resource in exported["deployment"]["resources"]
        if resource["type"] == "pulumi-python:dynamic:Resource"
        and resource["urn"].endswith(("-storage", "-front", "-front-nwfilter"))
    ]
    assert len(forget) == 3
    for urn in forget:  # the pool takes every volume, VM and tag resource with it
        result = ephemeral.cli("state", "delete", urn, "--target-dependents", "--yes")
        assert result.returncode == 0, result.stderr
    ephemeral.up()
    assert host_objects(prefix) == before
    assert domain_running(f"{prefix}-web-01")
    assert ephemeral.preview().changes() == {}
    assert ephemeral.leftovers() == []


def domain_running(name: str) -> bool:
    import libvirt

    conn = libvirt.open(URI)
    try:
        return bool(conn.lookupByName(name).isActive())
    finally:
        conn.close()
