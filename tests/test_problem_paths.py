"""Every problem names the item it is about by position and by name: `vms[0] (web).tags.owner`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.declarations import valid
from vmfleet.load import parse, plan
from vmfleet.problems import FleetDeclarationError, config_path


def paths_of(raw: Any) -> list[str]:
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw)
    return [problem.path for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (("vms", 0, "tags", "cost_center"), "vms[0] (web).tags.cost_center"),
        (("host_pools", 0, "hosts", 1, "uri"), "host_pools[0] (pool-a).hosts[1] (h2).uri"),
        (("sizes", 2), "sizes[2] (big)"),
        (("templates", 0, "image_path"), "templates[0] (tiny).image_path"),
        (("segments", 1, "cidr"), "segments[1] (db).cidr"),
        (("firewalls", 1, "ingress", 0, "peer"), "firewalls[1] (db).ingress[0].peer"),
        (("vms", 1, "segments", 0), "vms[1] (db).segments[0]"),
        (("defaults", "tags", "owner"), "defaults.tags.owner"),
        ((), "(top level)"),
    ],
)
def test_paths_name_items_in_the_raw_and_the_parsed_declaration(location: tuple[Any, ...], expected: str) -> None:
    raw = valid()
    assert config_path(location, raw) == expected
    assert config_path(location, parse(raw, "test")) == expected, "the parsed Fleet gives the same path"


def test_users_are_named_too() -> None:
    raw = valid()
    raw["vms"][0]["cloud_init"] = {"users": [{"name": "ops"}]}
    assert (
        config_path(("vms", 0, "cloud_init", "users", 0, "sudo"), raw) == "vms[0] (web).cloud_init.users[0] (ops).sudo"
    )


@pytest.mark.parametrize("name", [5, None, "", "   ", "two words", "x" * 64, ["web"], {"a": 1}, "web(1)", "tab\there"])
def test_items_without_a_usable_name_keep_their_index_only(name: Any) -> None:
    raw = valid()
    raw["vms"][0]["name"] = name
    assert config_path(("vms", 0, "count"), raw) == "vms[0].count"


@pytest.mark.parametrize(
    "declaration", [None, [], "text", {"vms": "not a list"}, {"vms": [1, 2]}, {"vms": [{"name": "web"}]}]
)
def test_any_shape_gives_a_path_and_never_raises(declaration: Any) -> None:
    path = config_path(("vms", 1, "tags", "owner"), declaration)
    assert path == "vms[1].tags.owner"


def test_shape_errors_name_their_group_from_the_raw_declaration() -> None:
    raw = valid()
    raw["vms"][0]["tags"]["cost_center"] = 12.5  # a number: fine for a tag, then checked as a cost center
    raw["vms"][1]["count"] = "three"
    raw["vms"][1]["colour"] = "blue"
    raw["host_pools"][0]["hosts"][1]["cpu_cores"] = 0
    assert set(paths_of(raw)) == {
        "vms[1] (db).count",
        "vms[1] (db).colour",
        "host_pools[0] (pool-a).hosts[1] (h2).cpu_cores",
    }


def test_a_stripped_name_is_shown_stripped() -> None:
    raw = valid()
    raw["vms"][1]["name"] = "  db  "
    raw["vms"][1]["count"] = -1
    assert paths_of(raw) == ["vms[1] (db).count"]


def test_cross_check_errors_name_their_group() -> None:
    raw = valid()
    raw["vms"][0]["tags"]["cost_center"] = "marketing"
    raw["vms"][1]["segments"] = ["db", "dmz"]
    raw["firewalls"][1]["egress"] = [{"peer": "nowhere"}]
    assert paths_of(raw) == [
        "firewalls[1] (db).egress[0].peer",
        "vms[0] (web).tags.cost_center",
        "vms[1] (db).segments[1]",
    ]


def test_overflow_is_reported_per_pool_at_the_pool() -> None:
    raw = valid()
    raw["host_pools"].append(
        {
            "name": "pool-b",
            "hosts": [
                {"name": "h3", "uri": "qemu+ssh://h3/system", "cpu_cores": 1, "memory_mib": 256, "storage_dir": "/x"}
            ],
        }
    )
    raw["vms"][0]["count"] = 9  # pool-a holds 8 one-vCPU VMs (2 hosts x 2 cores x 2.0)
    raw["vms"].append({**raw["vms"][1], "name": "cache", "pool": "pool-b", "count": 3})
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw)
    problems = {problem.path: problem.message for problem in caught.value.problems}
    assert set(problems) == {"host_pools[0] (pool-a)", "host_pools[1] (pool-b)"}
    assert "web-09 from vms[0] (web): 1 vCPU" in problems["host_pools[0] (pool-a)"]
    assert "cache-02 from vms[2] (cache): 1 vCPU" in problems["host_pools[1] (pool-b)"]
    assert "Fix:" in problems["host_pools[1] (pool-b)"]
