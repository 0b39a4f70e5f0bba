"""`make bench` at its smallest sizes: it completes and prints its table (no timing is asserted)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.declarations import ROOT

pytestmark = pytest.mark.engine

OUTER_MAKE = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")


def test_make_bench_previews_the_10_and_100_vm_fleets_and_prints_the_table() -> None:
    environment = {key: value for key, value in os.environ.items() if key not in OUTER_MAKE}
    ran = subprocess.run(
        ["make", "--no-print-directory", "bench", "SIZES=10,100"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "benchmark on " in ran.stderr and " cores, " in ran.stderr
    lines = ran.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("VMs "))
    assert lines[header].split() == [
        "VMs", "planning", "s", "resources", "resources/VM", "preview+pack", "s", "ms/VM",
        "preview", "s", "(no", "pack)", "ms/VM", "(no", "pack)",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[header + 2 :] if line.strip()}
    assert set(rows) == {"10", "100", "5000"}
    # Resources each fleet plans (what a VM, host, template, segment and firewall become): a change
    # here is a change in what every VM costs the engine.
    # (An address reservation per NIC came with issue 12: 97 and 551 before it.)
    assert rows["10"][2:4] == ["109", "10.9"] and rows["100"][2:4] == ["666", "6.7"]
    assert all(float(cell) > 0 for cell in rows["100"][1:]), "every figure was measured"
    assert len(rows["5000"]) == 2, "5,000 VMs: planning only"
