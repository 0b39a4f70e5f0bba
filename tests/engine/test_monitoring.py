"""Prometheus follows the fleet, for real: Debian's Prometheus and node_exporter on loopback scrape
the local libvirt exporter (started by scripts/hypervisor.sh) through the targets file the stack
writes, and the VMs' info metrics it writes for the textfile collector. PromQL then joins usage
with ownership (CPU per owner) with the shipped rules, and a retired VM's series disappear.
Every address here is 127.0.0.1."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.declarations import ROOT
from tests.engine.harness import EphemeralStack

pytestmark = pytest.mark.engine

SCRAPE_S = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as error:
            last = error
        if last and not isinstance(last, OSError):
            return last
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


class Prometheus:
    def __init__(self, root: Path, targets_dir: Path, textfile_dir: Path) -> None:
        self.port, node_port = free_port(), free_port()
        config = {
            "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
            "rule_files": [str(ROOT / "monitoring" / "rules" / "vmfleet.rules.yml")],
            "scrape_configs": [
                {"job_name": "libvirt", "file_sd_configs": [{"files": [f"{targets_dir}/*-libvirt.json"]}]},
                {"job_name": "node", "static_configs": [{"targets": [f"127.0.0.1:{node_port}"]}]},
            ],
        }
        (root / "prometheus.yml").write_text(json.dumps(config))
        self.processes = [
            subprocess.Popen(
                [
                    "prometheus-node-exporter",
                    f"--web.listen-address=127.0.0.1:{node_port}",
                    f"--collector.textfile.directory={textfile_dir}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={root / 'prometheus.yml'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--storage.tsdb.path={root / 'data'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=(root / "prometheus.log").open("w"),
            ),
        ]

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as answer:
            document = json.load(answer)
        assert document["status"] == "success", document
        return list(document["data"]["result"])

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Prometheus, Path, Path]]:
    targets_dir, textfile_dir = tmp_path / "targets", tmp_path / "textfile"
    targets_dir.mkdir()
    textfile_dir.mkdir()
    server = Prometheus(tmp_path, targets_dir, textfile_dir)
    try:
        wait_for("Prometheus answers", lambda: server.query("vector(1)"), timeout=60)
        yield server, targets_dir, textfile_dir
    finally:
        server.stop()


def test_prometheus_joins_cpu_with_owners_and_a_retired_vm_leaves_it(
    ephemeral: EphemeralStack, fleet: dict[str, Any], prometheus: tuple[Prometheus, Path, Path]
) -> None:
    server, targets_dir, textfile_dir = prometheus
    (ephemeral.project / "policies").symlink_to(ROOT / "policies")  # the pack's expiry notice window
    stack = ephemeral.stack_name
    declared = copy.deepcopy(fleet)
    declared["vms"][0]["count"] = 2
    declared["vms"].append(
        {**copy.deepcopy(declared["vms"][0]), "name": "db", "count": 1, "tags": {"owner": "dba@example.com"}}
    )
    declared["monitoring"] = {"targets_dir": str(targets_dir), "textfile_dir": str(textfile_dir), "idle_days": 3}
    ephemeral.declare(declared)
    ephemeral.up()

    targets = json.loads((targets_dir / f"{stack}-libvirt.json").read_text())
    assert targets == [{"targets": ["127.0.0.1:9177"], "labels": {"hypervisor": "localhost", "vmfleet_stack": stack}}]
    assert (textfile_dir / f"vmfleet-{stack}.prom").stat().st_mode & 0o777 == 0o644

    owners = wait_for(
        "CPU per owner",
        lambda: (
            {
                series["metric"]["owner"]: float(series["value"][1])
                for series in server.query(f'vmfleet:owner_cpu_usage:sum{{stack="{stack}"}}')
            }
            if len(server.query(f'vmfleet:owner_cpu_usage:sum{{stack="{stack}"}}')) == 2
            else None
        ),
    )
    assert set(owners) == {"qa@example.com", "dba@example.com"} and all(value >= 0 for value in owners.values())
    per_vm = server.query(f'vmfleet:vm_cpu_usage:ratio_rate5m{{stack="{stack}"}}')
    assert {series["metric"]["vm"]: series["metric"]["cost_center"] for series in per_vm} == {
        "web-01": "CC-7777",
        "web-02": "CC-7777",
        "db-01": "CC-7777",
    }
    [window] = server.query(f'vmfleet_lease_warning_seconds{{stack="{stack}"}}')
    assert float(window["value"][1]) == 15 * 86400, "the pack's default warnDays (14), in whole days"
    assert server.query(f'ALERTS{{alertname="VmfleetVmExpired", stack="{stack}"}}') == []

    # Retire web: its VMs' series leave with the next scrape; db stays.
    retired = copy.deepcopy(declared)
    retired["vms"][0]["retire"] = {"reason": "monitoring test", "archive": False}
    retired["archive_dir"] = str(targets_dir.parent / "archive")
    ephemeral.declare(retired)
    ephemeral.up()
    wait_for(
        "web's series gone",
        lambda: server.query(f'vmfleet_vm_info{{stack="{stack}", vm=~"web-.*"}}') == [],
        timeout=60,
    )
    assert [s["metric"]["vm"] for s in server.query(f'vmfleet_vm_info{{stack="{stack}"}}')] == ["db-01"]
    wait_for(
        "CPU per owner without web",
        lambda: (
            [s["metric"]["owner"] for s in server.query(f'vmfleet:owner_cpu_usage:sum{{stack="{stack}"}}')]
            == ["dba@example.com"]
        ),
        timeout=60,
    )
