"""One audit of a stack: read its declaration, its state and every host of its pools, then judge.

Hosts are read in parallel, each within the host timeout (`VMFLEET_HOST_TIMEOUT`); a host that
cannot be read is reported by name and the others are still audited. CPU use is sampled twice on
every host that was read, `idle_window_s` apart, with the hosts sampled together.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from audit.findings import Estate, Report, cpu_percent, judge
from audit.inventory import CpuSample, Inventory, RecordedVm, Unreachable
from audit.settings import NOT_RUN, Thresholds
from backends.libvirt.inventory import LibvirtInventory
from vmfleet import validate
from vmfleet.each_host import on_each
from vmfleet.plan import expand
from vmfleet.problems import FleetDeclarationError
from vmfleet.spec import Fleet, Host, HostPool, Node

INVENTORIES: dict[str, Callable[[], Inventory]] = {"libvirt": LibvirtInventory}
"""Each host pool platform the audit reads, with how to make its inventory."""


@dataclass(frozen=True)
class _Target:
    pool: HostPool
    host: Node
    inventory: Inventory


def audit(
    stack: str,
    fleet: Fleet,
    export: Mapping[str, Any],
    thresholds: Thresholds,
    *,
    now: dt.datetime | None = None,
) -> Report:
    """The report on `stack`: `fleet` is its declaration, `export` its `pulumi stack export` ({} for none).

    Raises FleetDeclarationError when the declaration does not validate (the audit judges against it).
    """
    problems = validate.problems(fleet)
    if problems:
        raise FleetDeclarationError(problems, f"Pulumi.{stack}.yaml (vmfleet:fleet)", NOT_RUN)
    targets: list[_Target] = []
    not_audited: list[str] = []
    recorded: dict[str, RecordedVm] = {}
    inventories: dict[str, Inventory] = {}
    for pool in fleet.host_pools:
        make = INVENTORIES.get(pool.platform)
        if make is None:
            not_audited.append(
                f"host pool {pool.name}: the audit cannot read {pool.platform} hosts yet, so its "
                f"{len(pool.hosts)} host(s) were not audited"
            )
            continue
        inventory = inventories.setdefault(pool.platform, make())
        targets += [_Target(pool, host, inventory) for host in pool.hosts]
    for inventory in inventories.values():
        recorded.update(inventory.recorded(export))

    hosts, unreachable = _each(targets, lambda target: target.inventory.collect(target.pool, target.host))
    reached = [target for target in targets if any(h.host == target.host.name for h in hosts)]
    cpu: dict[tuple[str, str], float] = {}
    sampled = thresholds.idle_window_s > 0
    if sampled and reached:
        cpu, failed = _sample(reached, thresholds.idle_window_s)
        unreachable += failed
    estate = Estate(
        stack=stack,
        fleet=fleet,
        declared=expand(fleet),
        recorded=recorded,
        hosts=hosts,
        cpu=cpu,
        unreachable=unreachable,
        not_audited=not_audited,
        idle_sampled=sampled,
    )
    return judge(estate, thresholds, now or dt.datetime.now(dt.UTC))


def _sample(targets: Sequence[_Target], window_s: float) -> tuple[dict[tuple[str, str], float], list[Unreachable]]:
    def sample(target: _Target) -> CpuSample:
        return target.inventory.sample_cpu(target.pool, target.host)

    first, failed = _each(targets, sample)
    time.sleep(window_s)
    sampled = [target for target in targets if any(s.host == target.host.name for s in first)]
    second, failed_again = _each(sampled, sample)
    use: dict[tuple[str, str], float] = {}
    for later in second:
        earlier = next(s for s in first if s.host == later.host)
        use.update({(later.host, name): percent for name, percent in cpu_percent(earlier, later).items()})
    return use, [_sampling(item) for item in failed + failed_again]


def _sampling(item: Unreachable) -> Unreachable:
    return Unreachable(item.pool, item.host, item.address, f"CPU sampling failed: {item.reason}")


def _each(targets: Sequence[_Target], work: Callable[[_Target], Any]) -> tuple[list[Any], list[Unreachable]]:
    """`work` on every target in parallel; the results, and each target that raised as Unreachable."""
    results: list[Any] = []
    failed: list[Unreachable] = []
    for outcome in on_each(targets, work):
        target = outcome.item
        if outcome.error is None:
            results.append(outcome.value)
        else:  # the host is reported by name; the others go on
            failed.append(Unreachable(target.pool.name, target.host.name, _address(target.host), _words(outcome.error)))
    return results, failed


def _address(host: Node) -> str:
    return host.uri if isinstance(host, Host) else host.name


def _words(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
