"""Anti-affinity: a group's VMs on different hosts (placement rule 3), refused when they cannot be,
and VMs that already share a host kept where they run, with a warning."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from tests.declarations import valid
from tests.harness import run_program
from vmfleet.load import plan
from vmfleet.problems import FleetDeclarationError


def uneven_pool(anti_affinity: bool, count: int = 3) -> dict[str, Any]:
    """One big host and two small ones: by headroom alone, the big one takes a group's first VMs."""
    raw = valid()
    pool = raw["host_pools"][0]
    big = {**pool["hosts"][0], "name": "big", "cpu_cores": 8, "memory_mib": 8192}
    small = [
        {**pool["hosts"][1], "name": name, "uri": f"qemu+ssh://ops@{name}.example.com/system"}
        for name in ("small-1", "small-2")
    ]
    pool["hosts"] = [big, *small]
    raw["vms"] = [
        {"name": "pg", "count": count, "pool": "pool-a", "template": "tiny", "segments": ["db"],
         "anti_affinity": anti_affinity},
    ]  # fmt: skip
    return raw


def test_headroom_alone_stacks_the_group_on_the_big_host() -> None:
    assert plan(uneven_pool(anti_affinity=False)).placement.host_of == {"pg-01": "big", "pg-02": "big", "pg-03": "big"}


def test_anti_affinity_puts_each_vm_on_a_host_of_its_own() -> None:
    checked = plan(uneven_pool(anti_affinity=True))
    assert checked.placement.host_of == {"pg-01": "big", "pg-02": "small-1", "pg-03": "small-2"}
    assert checked.placement.shared_hosts() == {}


def test_vms_that_already_share_a_host_stay_and_new_ones_go_apart() -> None:
    previous = {"pg-01": "big", "pg-02": "big"}
    checked = plan(uneven_pool(anti_affinity=True), previous_placement=previous)
    assert checked.placement.host_of == {"pg-01": "big", "pg-02": "big", "pg-03": "small-1"}
    assert checked.placement.shared_hosts() == {"pg": {"big": ["pg-01", "pg-02"]}}


def test_the_program_warns_of_vms_that_share_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
    run_program(uneven_pool(anti_affinity=True), previous_outputs={"placement": {"pg-01": "big", "pg-02": "big"}})
    assert any("anti_affinity: VMs of group pg share a host (pg-01, pg-02 on big)" in w for w in warnings), warnings


def test_a_group_larger_than_its_pool_is_refused_with_the_numbers() -> None:
    with pytest.raises(FleetDeclarationError) as refused:
        plan(uneven_pool(anti_affinity=True, count=4))
    message = str(refused.value)
    assert "vms[0] (pg).anti_affinity: found true with count 4, but pool 'pool-a' has 3 hosts" in message
    assert "lower count to 3, add hosts, or drop anti_affinity" in message


def test_a_pinned_group_cannot_keep_its_vms_apart() -> None:
    raw = uneven_pool(anti_affinity=True, count=2)
    raw["vms"][0]["host"] = "big"
    with pytest.raises(FleetDeclarationError, match=r"anti_affinity: found true, but the group's 2 VMs are pinned"):
        plan(raw)


def test_no_room_on_the_hosts_left_names_anti_affinity() -> None:
    raw = uneven_pool(anti_affinity=True)
    fill = {"name": "fill", "count": 2, "pool": "pool-a", "template": "tiny", "segments": ["db"], "host": "small-2"}
    raw["vms"].insert(0, {**fill, "resources": {"vcpus": 2, "memory_mib": 1024}})  # small-2 is full
    with pytest.raises(FleetDeclarationError) as refused:
        plan(raw)
    assert "pg-03 from vms[1] (pg): 1 vCPU, 128 MiB (anti_affinity: only on a host without a VM of group pg)" in str(
        refused.value
    )


def test_a_one_host_pool_is_named_in_the_singular() -> None:
    raw = valid()
    raw["host_pools"][0]["hosts"] = raw["host_pools"][0]["hosts"][:1]
    raw["vms"][0]["anti_affinity"] = True
    with pytest.raises(FleetDeclarationError, match=r"count 2, but pool 'pool-a' has 1 host and each VM needs"):
        plan(raw)
