"""Shared governance rules, the VM metadata document and cloud-init rendering."""

from __future__ import annotations

import datetime as dt

import yaml

from tests.declarations import valid
from vmfleet import cloudinit, metadata, rules
from vmfleet.load import plan
from vmfleet.plan import instance_name
from vmfleet.spec import CloudInit


def test_owner_forms() -> None:
    assert rules.is_valid_owner("alice@example.com")
    assert rules.is_valid_owner("group:platform-team")
    assert not rules.is_valid_owner("alice")
    assert not rules.is_valid_owner("group:")


def test_iso_dates() -> None:
    assert rules.parse_iso_date("2027-02-28") == dt.date(2027, 2, 28)
    assert rules.parse_iso_date("2027-02-30") is None
    assert rules.parse_iso_date("2027-2-3") is None
    assert rules.parse_iso_date("20270203") is None


def test_instance_names_are_padded_to_at_least_two_digits_and_match_the_naming_pattern() -> None:
    names = [instance_name("web", index) for index in (1, 9, 10, 99, 100, 120, rules.MAX_VM_COUNT)]
    assert names == ["web-01", "web-09", "web-10", "web-99", "web-100", "web-120", "web-9999"]
    assert all(rules.matches(rules.VM_INSTANCE_PATTERN, name) for name in names)
    assert not rules.matches(rules.VM_INSTANCE_PATTERN, "web-1")


def test_tag_problems_for_valid_tags_is_empty() -> None:
    for key, value in {"owner": "a@b.io", "cost_center": "CC-12345", "expires": "2027-01-01", "role": "web"}.items():
        assert rules.tag_problems(key, value) == []


def test_metadata_document_is_canonical_and_parses_back() -> None:
    fleet_plan = plan(valid())
    vm = fleet_plan.instances[0]
    document = metadata.document(vm, fleet_plan.fleet.templates[0], "h1")
    text = metadata.encode(document)
    assert text == metadata.encode(dict(reversed(list(document.items())))), "key order never causes a diff"
    assert metadata.parse(text) == document
    assert document["template_patched"] == "2026-11-01"


def test_metadata_parse_rejects_foreign_documents() -> None:
    assert metadata.parse(None) is None
    assert metadata.parse("") is None
    assert metadata.parse("not json") is None
    assert metadata.parse('{"tags": {"owner": "x"}}') is None


def test_user_data_is_cloud_config() -> None:
    config = CloudInit.model_validate(
        {
            "users": [{"name": "ops", "sudo": True, "ssh_authorized_keys": ["ssh-ed25519 AAA k"]}],
            "packages": ["nginx"],
            "run": ["systemctl enable --now nginx"],
        }
    )
    text = cloudinit.user_data("web-01", config, {"ops": "$6$h"})
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    assert document["hostname"] == "web-01"
    assert document["users"][1] == {
        "name": "ops",
        "shell": "/bin/sh",
        "ssh_authorized_keys": ["ssh-ed25519 AAA k"],
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "passwd": "$6$h",
        "lock_passwd": False,
    }
    assert document["packages"] == ["nginx"]
    assert document["runcmd"] == ["systemctl enable --now nginx"]
    assert yaml.safe_load(cloudinit.meta_data("web-01-1.0", "web-01")) == {
        "instance-id": "web-01-1.0",
        "local-hostname": "web-01",
    }
