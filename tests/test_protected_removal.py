"""Protected VMs are removed in two runs, and the program says so before it registers anything.

Pulumi keeps a resource's `protect` flag as its state recorded it once the resource is no longer
declared, so `count: 0` with `protect: false` in one edit would fail in the engine, VM by VM. The
program exports the names of the VMs it deployed with protect (`protected`) and reads them back.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from tests.declarations import valid
from tests.harness import last_registrations, run_program
from vmfleet.load import plan
from vmfleet.problems import FleetDeclarationError

DEPLOYED = {"placement": {"web-01": "h1", "web-02": "h2", "db-01": "h1"}}
RETIRED = {"retired": {vm: f"/var/lib/vmfleet/archive/test/{vm}/record.json" for vm in ("web-01", "web-02", "db-01")}}
"""The retire gate (tests/test_decommission.py) lets only retired VMs go: these were."""


def protected_fleet() -> dict[str, Any]:
    raw = valid()
    raw["defaults"]["protect"] = True
    raw["vms"][1]["protect"] = False
    return raw


def test_the_program_exports_which_vms_are_protected() -> None:
    built = run_program(protected_fleet())
    assert built.exports["protected"] == ["web-01", "web-02"]
    assert built.exports["placement"] == {"web-01": "h1", "web-02": "h2", "db-01": "h1"}
    assert run_program(valid()).exports["protected"] == []


def test_removing_protected_vms_with_protect_false_is_refused_with_the_two_steps() -> None:
    raw = valid()
    raw["vms"][0]["count"] = 0  # protect is false now (the default), count 0: the one-edit mistake
    with pytest.raises(pulumi.RunError) as caught:
        run_program(raw, previous_outputs={**DEPLOYED, **RETIRED, "protected": ["web-01", "web-02"]})
    text = str(caught.value)
    assert last_registrations() == [], "refused before any resource is registered"
    assert "Traceback" not in text
    assert text == (
        "Pulumi.test.yaml (vmfleet:fleet) has 1 problem; nothing was deployed:\n"
        "  - vms[0] (web).count: found 0, but web-01, web-02 of group 'web' were deployed with protect: true, "
        "and Pulumi refuses to delete a protected VM (its protect flag stays in the stack's state until an "
        "update clears it). Remove them in two runs:\n"
        "    1. keep them (count: 2) with protect: false on the group (or in defaults), and run `make up`;\n"
        "    2. then lower count to 0, and run `make up` again."
    )


def test_step_one_then_step_two_succeed() -> None:
    step_one = valid()  # same VMs, protect false
    built = run_program(step_one, previous_outputs={**DEPLOYED, "protected": ["web-01", "web-02"]})
    assert not built.named("test-web-01").protect
    assert built.exports["protected"] == []

    step_two = valid()
    step_two["vms"][0]["count"] = 0
    built = run_program(step_two, previous_outputs={**DEPLOYED, **RETIRED, "protected": built.exports["protected"]})
    assert built.fleet is not None and list(built.fleet.inventory) == ["db-01"]


def test_unprotected_vms_can_be_removed() -> None:
    raw = protected_fleet()
    raw["vms"][1]["count"] = 0  # db is not protected
    built = run_program(raw, previous_outputs={**DEPLOYED, **RETIRED, "protected": ["web-01", "web-02"]})
    assert built.fleet is not None and list(built.fleet.inventory) == ["web-01", "web-02"]
    assert built.named("test-web-01").protect


def test_a_removed_group_names_its_vms_and_the_steps() -> None:
    raw = valid()
    del raw["vms"][0]
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw, previously_protected=["web-01", "web-02", "db-01"])
    [problem] = caught.value.problems
    assert problem.path == "vms"
    assert problem.message.startswith("found no group 'web', but its VMs web-01, web-02 were deployed")
    assert "1. keep the group (count: 2) with protect: false on it (or in defaults), and run `make up`;" in (
        problem.message
    )
    assert problem.message.endswith("2. then remove the group, and run `make up` again.")


def test_shrinking_names_only_the_protected_vms_that_go_and_every_group_is_reported() -> None:
    raw = protected_fleet()
    for host in raw["host_pools"][0]["hosts"]:
        host["cpu_cores"], host["memory_mib"] = 64, 32768
    raw["vms"][0]["count"] = 120
    previously = [f"web-{i:02d}" for i in range(1, 121)] + ["db-01", "cache-01", "cache-02"]
    assert plan(raw, previously_protected=previously[:120]).protected[-1] == "web-120"

    raw["vms"][0]["count"] = 99
    del raw["vms"][1]
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw, previously_protected=previously)
    found = [(problem.path, problem.message) for problem in caught.value.problems]
    assert [path for path, _ in found] == ["vms", "vms", "vms[0] (web).count"]
    assert found[0][1].startswith("found no group 'cache', but its VMs cache-01, cache-02 were deployed")
    assert "1. keep the group (count: 2)" in found[0][1]
    assert found[1][1].startswith("found no group 'db', but its VMs db-01 were deployed")
    web = found[2][1]
    assert web.startswith("found 99, but web-100, web-101, ") and "web-120 of group 'web'" in web
    assert "web-99," not in web, "the VMs that stay are not named"
    assert "1. keep them (count: 120) with protect: false" in web
    assert "2. then lower count to 99, and run `make up` again." in web


def test_protected_vms_that_stay_are_fine_and_a_first_deployment_has_none() -> None:
    raw = protected_fleet()
    assert plan(raw, previously_protected=["web-01", "web-02"]).protected == ["web-01", "web-02"]
    assert plan(raw).protected == ["web-01", "web-02"]


def test_previous_outputs_are_read_once_and_odd_shapes_read_as_empty() -> None:
    built = run_program(protected_fleet(), previous_outputs={"placement": "junk", "protected": "web-01"})
    assert built.invokes == ["pulumi:pulumi:readStackOutputs"]
    raw = valid()
    raw["vms"][0]["count"] = 0
    built = run_program(raw, previous_outputs={"placement": {"web-01": 7}, "protected": [7, None]})
    assert built.fleet is not None and list(built.fleet.inventory) == ["db-01"]
