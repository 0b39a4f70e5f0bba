"""A fleet of any size registers without deep dependency chains, on one host or many.

Each host's uploads used to depend on the one before, a chain as long as the host's VMs that the
Python SDK walks recursively: at about 980 VMs on one host the program died with `RecursionError:
maximum recursion depth exceeded` (issue 10). Every resource now depends only on what it uses.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from tests.declarations import valid
from tests.harness import Built, build_fleet

VMS_ON_ONE_HOST = 1200


def one_big_host(vms: int) -> dict[str, Any]:
    raw = valid()
    host = raw["host_pools"][0]["hosts"][0]
    host.update(cpu_cores=1024, memory_mib=vms * 256)
    raw["host_pools"][0]["hosts"] = [host]
    raw["vms"] = [{**raw["vms"][0], "count": vms}]
    raw["segments"][0]["cidr"] = "10.96.0.0/16"  # an address for each VM
    return raw


def longest_dependency_path(built: Built) -> int:
    """Resources on the longest path of dependencies among the registrations (parents aside)."""
    by_urn = {registration.urn: registration for registration in built.registrations}

    @functools.cache
    def depth(urn: str) -> int:
        registration = by_urn.get(urn)
        if registration is None:
            return 0
        return 1 + max((depth(dependency) for dependency in registration.dependencies), default=0)

    deepest = 0
    for registration in built.registrations:  # shallow first, so the cache never recurses deeply
        deepest = max(deepest, depth(registration.urn))
    return deepest


@pytest.fixture(scope="module")
def big_fleet() -> Built:
    return build_fleet(one_big_host(VMS_ON_ONE_HOST))


def test_1200_vms_on_one_host_register(big_fleet: Built) -> None:
    domains = big_fleet.of_type("libvirt:index/domain:Domain")
    assert len(domains) == VMS_ON_ONE_HOST


def test_no_resource_waits_on_a_chain_that_grows_with_the_fleet(big_fleet: Built) -> None:
    # storage pool -> base image -> disk -> domain -> tags, and a segment's network and filter.
    assert longest_dependency_path(big_fleet) <= 6
    assert longest_dependency_path(build_fleet(one_big_host(3))) == longest_dependency_path(big_fleet)
