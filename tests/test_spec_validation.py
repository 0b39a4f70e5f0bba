"""The declaration is checked completely before anything is deployed; each rule has a failing case."""

from __future__ import annotations

from typing import Any

import pytest

from tests.declarations import valid
from vmfleet.load import plan
from vmfleet.problems import FleetDeclarationError


def problems_of(raw: Any, **kwargs: Any) -> dict[str, str]:
    """Config path -> message for every problem reported; fails the test if none is."""
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw, **kwargs)
    return {problem.path: problem.message for problem in caught.value.problems}


def test_valid_declaration_plans_every_vm() -> None:
    result = plan(valid())
    assert [vm.name for vm in result.instances] == ["web-01", "web-02", "db-01"]
    db = result.instances[2]
    assert (db.size, db.vcpus, db.memory_mib, db.disk_gib) == ("small", 1, 256, 2)
    assert db.tags["environment"] == "test", "the environment tag defaults to the fleet's environment"
    assert result.instances[0].tags["role"] == "frontend"
    assert result.instances[0].size == "nano", "a group without size uses its template's default size"


def test_declaration_that_is_not_a_mapping() -> None:
    assert "(top level)" in problems_of(["not", "a", "mapping"])


def test_unknown_key_is_a_typo_error_with_its_path() -> None:
    raw = valid()
    raw["vms"][1]["segmnts"] = ["web"]
    found = problems_of(raw)
    assert "unknown key" in found["vms[1] (db).segmnts"]


def test_wrong_type_names_path_value_and_expectation() -> None:
    raw = valid()
    raw["host_pools"][0]["hosts"][1]["cpu_cores"] = "many"
    message = problems_of(raw)["host_pools[0] (pool-a).hosts[1] (h2).cpu_cores"]
    assert "'many'" in message and "integer" in message


def test_missing_required_key() -> None:
    raw = valid()
    del raw["templates"][0]["os_family"]
    assert problems_of(raw)["templates[0] (tiny).os_family"] == "required key is missing"


def test_invalid_enumeration_and_range() -> None:
    raw = valid()
    raw["segments"][0]["mode"] = "bridged"
    raw["vms"][0]["count"] = 10000
    found = problems_of(raw)
    assert "'bridged'" in found["segments[0] (web).mode"] and "isolated" in found["segments[0] (web).mode"]
    assert found["vms[0] (web).count"] == "found 10000; input should be less than or equal to 9999"


def test_all_shape_errors_are_reported_at_once() -> None:
    raw = valid()
    raw["sizes"][0]["vcpus"] = 0
    raw["segments"][1]["cidr"] = "10.99.300.0/24"
    raw["vms"][0]["name"] = "Web_Servers"
    found = problems_of(raw)
    assert {"sizes[0] (nano).vcpus", "segments[1] (db).cidr", "vms[0] (Web_Servers).name"} <= set(found)


@pytest.mark.parametrize(
    ("section", "key", "value", "path", "what"),
    [
        ("vms", "template", "golden", "vms[0] (web).template", "template"),
        ("vms", "size", "huge", "vms[0] (web).size", "size"),
        ("vms", "pool", "pool-z", "vms[0] (web).pool", "host pool"),
        ("vms", "host", "h9", "vms[0] (web).host", "host of pool"),
        ("vms", "segments", ["web", "dmz"], "vms[0] (web).segments[1]", "segment"),
    ],
)
def test_dangling_references_name_the_declared_choices(
    section: str, key: str, value: Any, path: str, what: str
) -> None:
    raw = valid()
    raw[section][0][key] = value
    message = problems_of(raw)[path]
    assert f"is not a declared {what}" in message
    assert "declared:" in message


def test_dangling_template_default_size_and_firewall_segment() -> None:
    raw = valid()
    raw["templates"][0]["default_size"] = "jumbo"
    raw["firewalls"][0]["segment"] = "dmz"
    found = problems_of(raw)
    assert "jumbo" in found["templates[0] (tiny).default_size"]
    assert "dmz" in found["firewalls[0] (dmz).segment"]


def test_firewall_peer_must_be_any_cidr_or_segment() -> None:
    raw = valid()
    raw["firewalls"][1]["ingress"][0]["peer"] = "frontend"
    message = problems_of(raw)["firewalls[1] (db).ingress[0].peer"]
    assert "'frontend'" in message and "db, web" in message


def test_firewall_ports_are_checked() -> None:
    raw = valid()
    raw["firewalls"][0]["ingress"][0]["ports"] = ["80", "9000-80"]
    raw["firewalls"][1]["ingress"].append({"protocol": "icmp", "ports": "8"})
    found = problems_of(raw)
    assert "9000-80" in found["firewalls[0] (web).ingress[0]"]
    assert "only apply to tcp and udp" in found["firewalls[1] (db).ingress[1]"]


@pytest.mark.parametrize("section", ["host_pools", "sizes", "templates", "segments", "vms"])
def test_duplicate_names(section: str) -> None:
    raw = valid()
    duplicate = dict(raw[section][0])
    if section == "segments":
        duplicate["cidr"] = "10.98.0.0/24"
    raw[section].append(duplicate)
    last, name = len(raw[section]) - 1, duplicate["name"]
    message = problems_of(raw)[f"{section}[{last}] ({name}).name"]
    assert f"already used by {section}[0] ({name});" in message


def test_duplicate_hosts_across_pools_and_uris() -> None:
    raw = valid()
    raw["host_pools"].append({"name": "pool-b", "hosts": [dict(raw["host_pools"][0]["hosts"][0])]})
    found = problems_of(raw)
    assert "already used by host_pools[0] (pool-a).hosts[0] (h1);" in found["host_pools[1] (pool-b).hosts[0] (h1).name"]
    assert "already used by host_pools[0] (pool-a).hosts[0] (h1);" in found["host_pools[1] (pool-b).hosts[0] (h1).uri"]


def test_one_firewall_per_segment() -> None:
    raw = valid()
    raw["firewalls"].append({"segment": "web"})
    assert "already used" in problems_of(raw)["firewalls[2] (web).segment"]


def test_overlapping_cidrs() -> None:
    raw = valid()
    raw["segments"][1]["cidr"] = "10.99.0.0/16"
    message = problems_of(raw)["segments[1] (db).cidr"]
    assert "found 10.99.0.0/16, which overlaps segments[0] (web) (10.99.1.0/24)" in message


def test_tiny_segment_is_refused() -> None:
    raw = valid()
    raw["segments"][0]["cidr"] = "10.99.1.0/30"
    assert "/29" in problems_of(raw)["segments[0] (web)"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("expires", "2027-13-45", "YYYY-MM-DD"),
        ("expires", "next year", "YYYY-MM-DD"),
        ("owner", "alice", "e-mail"),
        ("cost_center", "marketing", "CC-1234"),
        ("environment", "prod", "must equal the fleet's environment 'test'"),
        ("Bad-Key", "x", "tag key 'Bad-Key' is not accepted"),
        ("note", "", "is empty"),
    ],
)
def test_malformed_tags(key: str, value: str, expected: str) -> None:
    raw = valid()
    raw["vms"][1]["tags"] = {key: value}
    message = problems_of(raw)[f"vms[1] (db).tags.{key}"]
    assert expected in message
    assert repr(value) in message, "the message shows the value found"


def test_malformed_default_tag_is_reported_at_defaults() -> None:
    raw = valid()
    raw["defaults"]["tags"]["expires"] = "soon"
    assert "YYYY-MM-DD" in problems_of(raw)["defaults.tags.expires"]


def test_required_tags_missing_without_defaults() -> None:
    raw = valid()
    del raw["defaults"]["tags"]["owner"]
    del raw["defaults"]["tags"]["expires"]
    raw["vms"][0]["tags"]["owner"] = "web-team@example.com"
    found = problems_of(raw)
    assert "required tag is missing" in found["vms[0] (web).tags.expires"]
    assert "vms[0] (web).tags.owner" not in found, "a group's own tag fills the gap"
    assert "required tag is missing" in found["vms[1] (db).tags.owner"]


def test_owner_group_and_date_objects_are_accepted() -> None:
    import datetime as dt

    raw = valid()
    raw["vms"][0]["tags"] = {"owner": "group:sre", "expires": dt.date(2027, 3, 1)}
    result = plan(raw)
    assert result.instances[0].tags["owner"] == "group:sre"
    assert result.instances[0].tags["expires"] == "2027-03-01"


def test_resource_override_within_catalog_limits() -> None:
    raw = valid()
    raw["vms"][0]["resources"] = {"memory_mib": 512}
    result = plan(raw)
    assert (result.instances[0].size, result.instances[0].memory_mib, result.instances[0].vcpus) == ("custom", 512, 1)

    raw["vms"][0]["resources"] = {"vcpus": 8, "memory_mib": 64}
    found = problems_of(raw)
    assert "catalog's range 1-2" in found["vms[0] (web).resources.vcpus"]
    assert "catalog's range 128-1024" in found["vms[0] (web).resources.memory_mib"]


def test_disk_smaller_than_template_image() -> None:
    raw = valid()
    raw["templates"][0]["min_disk_gib"] = 2
    found = problems_of(raw)
    assert "smaller than template 'tiny'" in found["vms[0] (web).size"]
    assert "vms[1] (db).size" not in found, "the small size's 2 GiB disk fits"


def test_template_needs_exactly_one_image_source() -> None:
    raw = valid()
    raw["templates"][0]["image_url"] = "https://images.example.com/tiny.qcow2"
    assert "exactly one of image_path" in problems_of(raw)["templates[0] (tiny)"]


def test_password_must_come_from_a_secret_config_key() -> None:
    raw = valid()
    raw["vms"][0]["cloud_init"] = {"users": [{"name": "ops", "password_secret": "ops-password"}]}
    found = problems_of(raw, is_secret=lambda key: False)
    assert "pulumi config set --secret ops-password" in found["vms[0] (web).cloud_init.users[0] (ops).password_secret"]
    assert plan(raw, is_secret=lambda key: key == "ops-password").instances


def test_semantic_errors_are_all_reported_at_once() -> None:
    raw = valid()
    raw["vms"][0]["template"] = "golden"
    raw["vms"][1]["tags"] = {"expires": "tomorrow"}
    raw["segments"][1]["cidr"] = "10.99.1.128/25"
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw, source="Pulumi.test.yaml")
    text = str(caught.value)
    assert text.startswith("Pulumi.test.yaml has 3 problems; nothing was deployed:")
    for path in ("vms[0] (web).template", "vms[1] (db).tags.expires", "segments[1] (db).cidr"):
        assert f"  - {path}: " in text
    assert "Traceback" not in text
