"""Snapshot names, the retention, what counts as a change worth a snapshot, the declaration's
`snapshots` settings, and the `python -m snapshots` arguments (no host is touched by any of them)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from backends.libvirt import snapshots
from backends.libvirt.snapshot_hooks import UNSENT_KEYS, changed_inputs
from tests.declarations import ROOT, valid
from vmfleet.load import parse
from vmfleet.problems import FleetDeclarationError

NOW = dt.datetime(2026, 12, 2, 6, 15, 2, tzinfo=dt.UTC)
DAY = 86400


def info(name: str, days_old: float) -> snapshots.SnapshotInfo:
    return snapshots.SnapshotInfo(
        name=name, created=int(NOW.timestamp() - days_old * DAY), state="running", description="", current=False
    )


def test_names_carry_the_utc_time_and_the_change_and_stay_unique() -> None:
    assert snapshots.snapshot_name(NOW, "update") == "vmfleet-20261202T061502Z-update"
    local = NOW.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert snapshots.snapshot_name(local, "replace") == "vmfleet-20261202T061502Z-replace"
    taken = ["vmfleet-20261202T061502Z-update", "vmfleet-20261202T061502Z-update-2"]
    assert snapshots.snapshot_name(NOW, "update", taken) == "vmfleet-20261202T061502Z-update-3"
    assert all(info(name, 0).ours for name in [*taken, "vmfleet-20261202T061502Z-replace"])
    assert not any(info(name, 0).ours for name in ("before-change", "vmfleet-nightly", "vmfleet-20261202-update"))


def test_the_retention_keeps_the_newest_n_of_its_own_none_older_than_d_days() -> None:
    found = [
        info("vmfleet-20261101T000000Z-update", 31),
        info("operator-before-upgrade", 60),
        info("vmfleet-20261125T000000Z-update", 7),
        info("vmfleet-20261130T000000Z-replace", 2),
        info("vmfleet-20261201T000000Z-update", 1),
    ]
    assert snapshots.expired(found, keep=3, max_age_days=14, now=NOW) == ["vmfleet-20261101T000000Z-update"]
    assert snapshots.expired(found, keep=2, max_age_days=14, now=NOW) == [
        "vmfleet-20261125T000000Z-update",
        "vmfleet-20261101T000000Z-update",
    ]
    assert snapshots.expired(found, keep=5, max_age_days=5, now=NOW) == [
        "vmfleet-20261125T000000Z-update",
        "vmfleet-20261101T000000Z-update",
    ], "an operator's snapshot is never the retention's, however old"
    edge = [info("vmfleet-20261118T061502Z-update", 14), info("vmfleet-20261118T061501Z-update", 14 + 1 / DAY)]
    assert snapshots.expired(edge, keep=5, max_age_days=14, now=NOW) == ["vmfleet-20261118T061501Z-update"]


def test_only_inputs_that_reach_the_host_count_as_a_change() -> None:
    old = {
        "__provider": "urn:...::id",
        "memory": 128,
        "metadata": '{"owner": "a"}',
        "networkInterfaces": [{"mac": "52:54:0A:4D:01:02", "networkName": "dev-web", "__defaults": []}],
    }
    same_but_spelled = {**old, "networkInterfaces": [{"mac": "52:54:0a:4d:01:02", "networkName": "dev-web"}]}
    assert changed_inputs(old, same_but_spelled) == [], "the provider records MACs in upper case"
    retagged = {**same_but_spelled, "metadata": '{"owner": "b"}'}
    assert changed_inputs(old, retagged) == ["metadata"] and set(changed_inputs(old, retagged)) <= UNSENT_KEYS
    resized = {**retagged, "memory": 256, "cloudinit": "key;digest"}
    assert changed_inputs(old, resized) == ["cloudinit", "memory", "metadata"]


def test_the_retention_is_declared_and_checked_with_its_path() -> None:
    assert parse(valid(), "t").snapshots.model_dump() == {"before_change": True, "keep": 3, "max_age_days": 14}
    raw = valid()
    raw["snapshots"] = {"keep": 0, "max_age_days": 14}
    with pytest.raises(FleetDeclarationError) as raised:
        parse(raw, "t")
    assert "snapshots.keep" in str(raised.value) and "0" in str(raised.value)
    raw["snapshots"] = {"keep": 2, "max_days": 14}
    with pytest.raises(FleetDeclarationError) as raised:
        parse(raw, "t")
    assert "snapshots.max_days" in str(raised.value)


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "snapshots", *arguments]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_command_refuses_bad_arguments_before_it_reads_a_host() -> None:
    unknown = run_cli("list", "--stack", "nosuch")
    assert unknown.returncode == 2 and "no stack file Pulumi.nosuch.yaml" in unknown.stderr
    incomplete = run_cli("rollback", "--stack", "dev", "--vm", "web-01")
    assert incomplete.returncode == 2 and "rollback needs VM=<vm> and SNAPSHOT=<name>" in incomplete.stderr
    bad_time = run_cli("list", "--stack", "dev", "--now", "yesterday")
    assert bad_time.returncode == 2 and "--now: 'yesterday' is not an ISO 8601 time" in bad_time.stderr
