"""The benchmark's generated fleets and its table (the timed runs are tests/engine/test_bench.py)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from bench.fleet import GROUPS, declaration, group_counts
from bench.run import Result, fleet_sizes, main, table
from vmfleet.load import plan


@pytest.mark.parametrize("vms", [*range(1, 40), 99, 100, 101, 300, 1000, 5000, 9999])
def test_groups_hold_exactly_the_fleet(vms: int) -> None:
    counts = group_counts(vms)
    assert sum(counts.values()) == vms and min(counts.values()) >= 1
    assert len(counts) == min(vms, len(GROUPS))


@pytest.mark.parametrize("vms", [1, 7, 100, 1000])
def test_a_generated_fleet_is_a_valid_declaration_spread_over_every_pool(vms: int) -> None:
    fleet = declaration(
        vms,
        environment="dev",
        prefix="bench",
        image="/var/lib/vmfleet/images/vmfleet-tiny-1.1.qcow2",
        expires=dt.date.today() + dt.timedelta(days=60),
        host_uri=lambda host: f"qemu+unix:///system?socket=/tmp/{host}.sock",
    )
    planned = plan(fleet, is_secret=lambda _key: False)
    assert len(planned.instances) == vms
    hosts = Counter(planned.placement.host_of.values())
    if vms >= len(GROUPS):
        assert {vm.pool for vm in planned.instances} == {"web", "app", "data"}
    if vms >= 100:
        assert len(hosts) == 3 * max(2, vms // 100), "every host carries VMs"


def test_the_table_shows_each_size_and_the_growth_from_100_to_1000() -> None:
    results = [
        Result(vms=100, planning_s=0.006, resources=551, preview_s={"policy pack": 4.6, "no pack": 3.2}),
        Result(vms=1000, planning_s=0.014, resources=5203, preview_s={"policy pack": 32.9, "no pack": 21.5}),
        Result(vms=5000, planning_s=0.132),
    ]
    text = table(results, markdown=True)
    lines = text.splitlines()
    assert lines[0].startswith("| VMs ") and "preview+pack s" in lines[0]
    cells = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[2:5]]
    assert cells[0] == ["100", "0.006", "551", "5.5", "4.6", "46", "3.2", "32"]
    assert cells[2] == ["5000", "0.132", "", "", "", "", "", ""], "planning only"
    assert text.endswith("Growth time(1000)/time(100) (10.0 is linear): policy pack 7.2x, no pack 6.7x")


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--sizes", "abc"], "'abc' is not a fleet size: give VM counts from 1 to 9999"),
        (["--sizes", "10,0"], "'0' is not a fleet size"),
        (["--repeat", "0"], "'0' is not a number of runs: give 1 to 99"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(
    arguments: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(arguments)
    assert exit_status.value.code == 2 and said in capsys.readouterr().err


def test_sizes_are_read_as_comma_separated_counts() -> None:
    assert fleet_sizes("10, 100,,1000") == [10, 100, 1000] and fleet_sizes("") == []
