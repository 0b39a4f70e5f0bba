"""The guest side of the addresses and cloud-init: the network-config vmfleet writes into each VM's
NoCloud seed, the seed itself, and the dev image's reader of those documents
(scripts/tiny-image/yaml-paths.awk), run under busybox awk as the image runs it."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pycdlib
import pytest
import yaml

from backends.libvirt import cloudinit_iso
from tests.declarations import ROOT, valid
from tests.harness import build_fleet
from vmfleet import cloudinit
from vmfleet.addressing import NicAddress
from vmfleet.spec import CloudInit

READER = ROOT / "scripts" / "tiny-image" / "yaml-paths.awk"
LONG_KEY = "ssh-ed25519 " + "A" * 300 + " ops@example.com"


def paths(document: str, tmp_path: Path) -> list[tuple[str, str]]:
    """The reader's "path<TAB>value" lines for `document`, under busybox awk (the image's awk)."""
    source = tmp_path / "document.yaml"
    source.write_text(document)
    result = subprocess.run(
        ["busybox", "awk", "-f", str(READER), str(source)], check=True, capture_output=True, text=True, timeout=30
    )
    return [tuple(line.split("\t", 1)) for line in result.stdout.splitlines()]  # type: ignore[misc]


def nic(segment: str, address: str, dhcp: bool) -> NicAddress:
    network = address.rsplit(".", 1)[0]
    return NicAddress(
        segment=segment,
        address=address,
        prefix_length=24,
        gateway=f"{network}.1",
        fqdn=f"web-01.{segment}.dev.vmfleet.internal",
        domain=f"{segment}.dev.vmfleet.internal",
        dhcp=dhcp,
    )


def test_network_config_matches_each_nic_by_mac_dhcp_or_static_with_one_default_route() -> None:
    document = cloudinit.network_config(
        [
            ("52:54:0a:4d:03:05", nic("db", "10.77.3.5", dhcp=False)),
            ("52:54:0a:4d:01:02", nic("web", "10.77.1.2", dhcp=True)),
            ("52:54:0a:4d:02:09", nic("app", "10.77.2.9", dhcp=False)),
        ]
    )
    assert yaml.safe_load(document) == {
        "version": 2,
        "ethernets": {
            "db": {
                "match": {"macaddress": "52:54:0a:4d:03:05"},
                "dhcp4": False,
                "addresses": ["10.77.3.5/24"],
                "routes": [{"to": "default", "via": "10.77.3.1"}],
                "nameservers": {"addresses": ["10.77.3.1"], "search": ["db.dev.vmfleet.internal"]},
            },
            "web": {"match": {"macaddress": "52:54:0a:4d:01:02"}, "dhcp4": True},
            "app": {
                "match": {"macaddress": "52:54:0a:4d:02:09"},
                "dhcp4": False,
                "addresses": ["10.77.2.9/24"],
                "nameservers": {"addresses": ["10.77.2.1"], "search": ["app.dev.vmfleet.internal"]},
            },
        },
    }


def test_each_vm_seed_carries_the_network_config_of_its_nics() -> None:
    raw = valid()
    raw["segments"][1]["dhcp"] = False
    built = build_fleet(raw)
    seed = next(r for r in built.registrations if r.name == "test-db-01-cloudinit")
    config = yaml.safe_load(seed.inputs["network_config"])
    assert config["ethernets"] == {
        "db": {
            "match": {"macaddress": "52:54:0a:63:02:02"},
            "dhcp4": False,
            "addresses": ["10.99.2.2/24"],
            "routes": [{"to": "default", "via": "10.99.2.1"}],
            "nameservers": {"addresses": ["10.99.2.1"], "search": ["db.test.vmfleet.internal"]},
        },
        "web": {"match": {"macaddress": "52:54:0a:63:01:04"}, "dhcp4": True},
    }
    domain = next(r for r in built.registrations if r.name == "test-db-01" and "Domain" in r.type)
    macs = [interface["mac"] for interface in domain.inputs["networkInterfaces"]]
    assert macs == [entry["match"]["macaddress"] for entry in config["ethernets"].values()]


def test_the_seed_iso_holds_the_three_documents_under_their_nocloud_names() -> None:
    image = cloudinit_iso.build("#cloud-config\n", "instance-id: x\n", "version: 2\n")
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    try:
        found = {}
        for name in ("user-data", "meta-data", "network-config"):
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            found[name] = out.getvalue().decode()
        assert iso.pvd.volume_identifier.decode().strip() == cloudinit_iso.VOLUME_LABEL
    finally:
        iso.close()
    assert found == {"user-data": "#cloud-config\n", "meta-data": "instance-id: x\n", "network-config": "version: 2\n"}
    assert b"network-config" not in cloudinit_iso.build("#cloud-config\n", "instance-id: x\n")


def test_the_image_reads_users_keys_and_hostname_from_the_user_data_vmfleet_writes(tmp_path: Path) -> None:
    config = CloudInit.model_validate(
        {
            "users": [
                {"name": "ops", "ssh_authorized_keys": [LONG_KEY, "ssh-rsa AAAAB3: quoted #not-comment"], "sudo": True},
                {"name": "audit"},
            ],
            "packages": ["htop"],
            "run": ["echo 'one\n\ntwo'", "line one\nline two", "touch /done"],
        }
    )
    document = cloudinit.user_data("web-01", config, {"ops": "$6$salt$hash"})
    assert max(len(line) for line in document.splitlines()) > 300, "long keys are not folded"
    flat = paths(document, tmp_path)
    assert flat == [
        ("hostname", "web-01"),
        ("preserve_hostname", "false"),
        ("users.0", "default"),
        ("users.1.name", "ops"),
        ("users.1.shell", "/bin/sh"),
        ("users.1.ssh_authorized_keys.0", LONG_KEY),
        ("users.1.ssh_authorized_keys.1", "ssh-rsa AAAAB3: quoted #not-comment"),
        ("users.1.sudo", "ALL=(ALL) NOPASSWD:ALL"),
        ("users.1.passwd", "$6$salt$hash"),
        ("users.1.lock_passwd", "false"),
        ("users.2.name", "audit"),
        ("users.2.shell", "/bin/sh"),
        ("packages.0", "htop"),
        ("runcmd.2", "touch /done"),
    ], "multi-line commands are skipped whole, without derailing what follows"
    assert paths(cloudinit.meta_data("web-01-1.1", "web-01"), tmp_path) == [
        ("instance-id", "web-01-1.1"),
        ("local-hostname", "web-01"),
    ]


def test_the_image_reads_the_network_config_vmfleet_writes(tmp_path: Path) -> None:
    document = cloudinit.network_config(
        [
            ("52:54:0a:4d:03:05", nic("db", "10.77.3.5", dhcp=False)),
            ("52:54:0a:4d:01:02", nic("web", "10.77.1.2", dhcp=True)),
        ]
    )
    assert paths(document, tmp_path) == [
        ("version", "2"),
        ("ethernets.db.match.macaddress", "52:54:0a:4d:03:05"),
        ("ethernets.db.dhcp4", "false"),
        ("ethernets.db.addresses.0", "10.77.3.5/24"),
        ("ethernets.db.routes.0.to", "default"),
        ("ethernets.db.routes.0.via", "10.77.3.1"),
        ("ethernets.db.nameservers.addresses.0", "10.77.3.1"),
        ("ethernets.db.nameservers.search.0", "db.dev.vmfleet.internal"),
        ("ethernets.web.match.macaddress", "52:54:0a:4d:01:02"),
        ("ethernets.web.dhcp4", "true"),
    ]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("a: 'it''s'\nb: \"say \\\"hi\\\"\"\n", [("a", "it's"), ("b", 'say "hi"')]),
        ("a: 1 # note\n# whole line\nb:\n  c: x\n", [("a", "1"), ("b.c", "x")]),
        ("a: |\n  one\n  b: not a key\nc: 2\n", [("c", "2")]),
        ("a: []\nb:\n- - x\n", [("b.0.0", "x")]),
    ],
)
def test_the_reader_edges(document: str, expected: list[tuple[str, str]], tmp_path: Path) -> None:
    assert paths(document, tmp_path) == expected


def test_the_image_script_refuses_to_build_another_version_under_its_name(tmp_path: Path) -> None:
    target = tmp_path / "vmfleet-tiny-0.9.qcow2"
    result = subprocess.run(
        [str(ROOT / "scripts" / "image.sh"), str(target)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and not target.exists()
    version = _script_version()
    assert f"builds vmfleet-tiny {version}, not vmfleet-tiny-0.9.qcow2" in result.stderr
    assert f"{tmp_path}/vmfleet-tiny-{version}.qcow2" in result.stderr


def test_the_dev_stack_boots_the_image_this_script_builds() -> None:
    stack: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    version = _script_version()
    for template in stack["config"]["vmfleet:fleet"]["templates"]:
        assert template["image_path"] == f"/var/lib/vmfleet/images/vmfleet-tiny-{version}.qcow2"
        assert template["version"] == version


def _script_version() -> str:
    for line in (ROOT / "scripts" / "image.sh").read_text().splitlines():
        if line.startswith("VERSION="):
            return line.split("=", 1)[1]
    raise AssertionError("scripts/image.sh sets no VERSION")
