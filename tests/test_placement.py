"""Placement: deterministic, sticky under growth, within overcommit, and a readable overflow error."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.declarations import valid
from vmfleet.load import plan
from vmfleet.problems import FleetDeclarationError


def fleet_of(
    groups: list[dict[str, Any]], cores: int = 2, memory: int = 2048, cpu_overcommit: float = 2.0
) -> dict[str, Any]:
    raw = valid()
    pool = raw["host_pools"][0]
    pool["cpu_overcommit"] = cpu_overcommit
    for host in pool["hosts"]:
        host["cpu_cores"], host["memory_mib"] = cores, memory
    raw["vms"] = [{"pool": "pool-a", "template": "tiny", "segments": ["web"], **group} for group in groups]
    raw["segments"][0]["cidr"] = "10.96.0.0/16"  # an address for each VM, up to 9999 of them
    return raw


def test_same_declaration_same_placement() -> None:
    raw = fleet_of([{"name": "web", "count": 4}, {"name": "app", "count": 3, "size": "small"}])
    assert plan(raw).placement.host_of == plan(raw).placement.host_of


def test_spreads_by_headroom_with_ties_to_the_first_host() -> None:
    raw = fleet_of([{"name": "web", "count": 4}])
    assert plan(raw).placement.host_of == {"web-01": "h1", "web-02": "h2", "web-03": "h1", "web-04": "h2"}


def test_growing_a_group_never_moves_existing_vms() -> None:
    before = plan(fleet_of([{"name": "web", "count": 2}, {"name": "app", "count": 3, "size": "small"}]))
    grown = fleet_of([{"name": "web", "count": 5}, {"name": "app", "count": 3, "size": "small"}])

    fresh = plan(grown).placement.host_of
    moved_without_memory = {vm for vm, host in before.placement.host_of.items() if fresh[vm] != host}
    assert moved_without_memory, "without the previous placement, declaration-order greedy would move VMs"

    sticky = plan(grown, previous_placement=before.placement.host_of).placement.host_of
    for vm, host in before.placement.host_of.items():
        assert sticky[vm] == host, f"{vm} moved from {host} to {sticky[vm]}"
    assert {"web-03", "web-04", "web-05"} <= set(sticky)


def test_adding_a_group_in_front_never_moves_existing_vms() -> None:
    before = plan(fleet_of([{"name": "app", "count": 3}]))
    after = plan(
        fleet_of([{"name": "edge", "count": 2, "size": "small"}, {"name": "app", "count": 3}]),
        previous_placement=before.placement.host_of,
    )
    assert {vm: after.placement.host_of[vm] for vm in before.placement.host_of} == before.placement.host_of


def test_shrinking_keeps_the_remaining_vms_in_place() -> None:
    before = plan(fleet_of([{"name": "web", "count": 4}]))
    after = plan(
        fleet_of([{"name": "web", "count": 2}]),
        previous_placement=before.placement.host_of,
        previously_retired=["web-03", "web-04"],
    )
    assert after.placement.host_of == {"web-01": "h1", "web-02": "h2"}


def test_previous_host_that_left_the_pool_is_forgotten() -> None:
    after = plan(fleet_of([{"name": "web", "count": 1}]), previous_placement={"web-01": "retired-host"})
    assert after.placement.host_of == {"web-01": "h1"}


def test_pinned_vms_go_to_their_host() -> None:
    after = plan(fleet_of([{"name": "web", "count": 3, "host": "h2"}]))
    assert set(after.placement.host_of.values()) == {"h2"}


def test_cpu_overcommit_is_respected() -> None:
    # 2 cores x 1.5 = 3 vCPUs per host; big VMs take 2 vCPUs, so one per host.
    raw = fleet_of([{"name": "db", "count": 2, "size": "big"}], cores=2, memory=8192, cpu_overcommit=1.5)
    result = plan(raw)
    assert sorted(result.placement.host_of.values()) == ["h1", "h2"]
    for load in result.placement.loads:
        assert load.vcpus <= load.vcpu_capacity == 3


def test_memory_is_not_overcommitted_by_default() -> None:
    # 1024 MiB hosts, memory_overcommit 1.0: four 256 MiB VMs fit per host, the ninth does not.
    raw = fleet_of([{"name": "app", "count": 9, "size": "small"}], cores=16, memory=1024)
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw)
    [problem] = caught.value.problems
    assert problem.path == "host_pools[0] (pool-a)"
    report = problem.message
    assert report.startswith("cannot hold its VMs: demand 9 vCPU / 2304 MiB")
    assert "capacity 64 vCPU / 2048 MiB" in report
    assert "h1: 4/32 vCPU, 1024/1024 MiB, 4 VMs" in report
    assert "h2: 4/32 vCPU, 1024/1024 MiB, 4 VMs" in report
    assert "app-09 from vms[0] (app): 1 vCPU, 256 MiB" in report
    assert "Fix:" in report

    raw["host_pools"][0]["memory_overcommit"] = 1.5
    assert len(plan(raw).placement.host_of) == 9, "a higher memory overcommit makes room"


def test_pinned_overflow_names_the_pin() -> None:
    raw = fleet_of([{"name": "db", "count": 3, "size": "big", "host": "h1"}], cores=2, memory=8192, cpu_overcommit=2.0)
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw)
    assert "db-03 from vms[0] (db): 2 vCPU, 1024 MiB (pinned to h1)" in caught.value.problems[0].message


def test_utilization_summary() -> None:
    summary = plan(fleet_of([{"name": "web", "count": 3}])).placement.utilization()
    assert summary["hosts"]["h1"] == {
        "pool": "pool-a",
        "vms": 2,
        "vcpus_allocated": 2,
        "vcpus_capacity": 4,
        "physical_cores": 2,
        "memory_mib_allocated": 256,
        "memory_mib_capacity": 2048,
        "cpu_overcommit_used": 1.0,
        "memory_used_percent": 12.5,
    }
    assert summary["fleet"] == {
        "vms": 3,
        "hosts_in_use": 2,
        "hosts_total": 2,
        "vms_per_host": 1.5,
        "vcpus_per_core": 0.75,
    }


def test_groups_past_99_add_digits_and_rename_nothing() -> None:
    # 64 cores x 2.0 per host: room for 128 one-vCPU VMs of 128 MiB in 32 GiB per host.
    before = plan(fleet_of([{"name": "web", "count": 99}], cores=64, memory=32768))
    grown = plan(
        fleet_of([{"name": "web", "count": 120}], cores=64, memory=32768),
        previous_placement=before.placement.host_of,
    )
    names = [vm.name for vm in grown.instances]
    assert names[:3] == ["web-01", "web-02", "web-03"] and names[8:10] == ["web-09", "web-10"]
    assert names[98:101] == ["web-99", "web-100", "web-101"] and names[-1] == "web-120"
    assert names[:99] == [vm.name for vm in before.instances], "growing 99 -> 120 keeps the first 99 names"
    assert len(set(names)) == 120
    for vm, host in before.placement.host_of.items():
        assert grown.placement.host_of[vm] == host, f"{vm} moved from {host}"
    assert {grown.placement.host_of[f"web-{i}"] for i in range(100, 121)} == {"h1", "h2"}, "new VMs spread"


def test_the_largest_group_is_placed_quickly() -> None:
    raw = fleet_of([{"name": "web", "count": 9999}], cores=1024, memory=2_000_000, cpu_overcommit=8.0)
    started = time.perf_counter()
    names = list(plan(raw).placement.host_of)
    assert (names[0], names[99], names[-1]) == ("web-01", "web-100", "web-9999")
    assert time.perf_counter() - started < 1.5, "placement grows linearly with the fleet, not quadratically"
