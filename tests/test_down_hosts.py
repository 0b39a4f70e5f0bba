"""`make down` declares only the hosts the last deployment reached (`FleetPlan.on_hosts`, the `hosts`
output), and its leftover check names a host it cannot reach instead of failing on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.libvirt import leftovers
from backends.libvirt.host_call import HostError
from backends.libvirt.snapshot_hooks import DESTROY_VARIABLE
from tests.declarations import valid
from tests.harness import run_program
from vmfleet.load import plan
from vmfleet.spec import Fleet

PROVIDER = "pulumi:providers:libvirt"
DOMAIN = "libvirt:index/domain:Domain"
ON_H1 = {"web-01": "h1", "web-02": "h1", "db-01": "h1"}


def providers(built: Any) -> list[str]:
    return sorted(registration.name for registration in built.of_type(PROVIDER))


def test_an_up_exports_every_declared_host() -> None:
    built = run_program(valid())
    assert built.exports["hosts"] == ["h1", "h2"]
    assert providers(built) == ["test-h1", "test-h2"], "every declared host gets its provider"


def test_a_destroy_declares_only_the_hosts_the_last_deployment_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DESTROY_VARIABLE, "1")
    built = run_program(valid(), previous_outputs={"placement": ON_H1, "hosts": ["h1"]})
    assert providers(built) == ["test-h1"], "h2 was declared after the last up: nothing of the stack is there"
    assert sorted(r.name for r in built.of_type(DOMAIN)) == ["test-db-01", "test-web-01", "test-web-02"]


def test_a_destroy_leaves_out_the_vms_placed_on_a_host_it_leaves_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DESTROY_VARIABLE, "1")
    built = run_program(
        valid(), previous_outputs={"placement": {"web-01": "h1", "web-02": "h2", "db-01": "h1"}, "hosts": ["h1"]}
    )
    assert providers(built) == ["test-h1"]
    assert sorted(r.name for r in built.of_type(DOMAIN)) == ["test-db-01", "test-web-01"]


def test_a_destroy_after_a_deployment_that_did_not_record_its_hosts_declares_them_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DESTROY_VARIABLE, "1")
    built = run_program(valid(), previous_outputs={"placement": ON_H1})
    assert providers(built) == ["test-h1", "test-h2"]


def test_a_destroy_of_a_stack_with_no_outputs_declares_no_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never deployed, or destroyed already: `make down` has nothing to ask any host."""
    monkeypatch.setenv(DESTROY_VARIABLE, "1")
    built = run_program(valid(), previous_outputs={})
    assert built.fleet is None and built.registrations == [], "nothing for the engine to write into the state"


def test_an_up_declares_every_host_whatever_the_last_deployment_reached() -> None:
    built = run_program(valid(), previous_outputs={"placement": ON_H1, "hosts": ["h1"]})
    assert providers(built) == ["test-h1", "test-h2"]


def test_on_hosts_drops_the_hosts_their_vms_and_a_pool_left_empty() -> None:
    raw = valid()
    raw["host_pools"].append(
        {
            **raw["host_pools"][0],
            "name": "pool-b",
            "hosts": [
                {**raw["host_pools"][0]["hosts"][0], "name": "h3", "uri": "qemu+ssh://ops@h3.example.com/system"}
            ],
        }
    )
    checked = plan(raw, source="test", previous_placement=ON_H1)
    part = checked.on_hosts({"h1"})
    assert [pool.name for pool in part.fleet.host_pools] == ["pool-a"]
    assert [host.name for host in part.fleet.host_pools[0].hosts] == ["h1"]
    assert [vm.name for vm in part.instances] == ["web-01", "web-02", "db-01"]
    assert set(part.placement.host_of.values()) == {"h1"}
    assert [load.host.name for load in part.placement.loads] == ["h1"]
    assert checked.host_names == ["h1", "h2", "h3"], "the plan itself is left as it was"


def test_the_leftover_check_names_a_host_it_cannot_reach_and_checks_the_others(tmp_path: Path) -> None:
    raw = valid()
    raw["host_pools"][0]["hosts"] = [
        {**raw["host_pools"][0]["hosts"][0], "name": "gone", "uri": f"qemu+unix:///system?socket={tmp_path}/none"}
    ]
    fleet = Fleet.model_validate(raw)
    with pytest.raises(HostError, match="look for leftovers on qemu"):
        leftovers.find(fleet, set())
    unreachable: list[str] = []
    assert leftovers.find(fleet, set(), unreachable) == []
    assert len(unreachable) == 1 and f"{tmp_path}/none" in unreachable[0]
