"""Mutation check of the rule tests: each change below to the rules must make `promtool test rules` fail.

Runs on a copy in a temporary directory; the rules here are not touched.

    python3 monitoring/tests/mutations.py      # one promtool run per mutation, as many at once as there are CPUs

tests/test_monitoring.py runs it in `make test`.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RULES = (HERE.parent / "rules" / "vmfleet.rules.yml").read_text()
TESTS = HERE / "vmfleet.rules.test.yml"

# (what the mutation breaks, text in the rules, its replacement)
MUTATIONS: list[tuple[str, str, str]] = [
    (
        "expired: >= 0 -> > 0 (ends exactly now)",
        "vmfleet_vm_expires_timestamp_seconds) >= 0",
        "vmfleet_vm_expires_timestamp_seconds) > 0",
    ),
    ("expiring: > 0 -> >= 0 (expired counted as expiring)", "time() > 0)", "time() >= 0)"),
    (
        "expiring: <= window -> < window (edge)",
        "  <= on (stack) group_left ()\n              max by (stack) (vmfleet_lease_warning_seconds)",
        "  < on (stack) group_left ()\n              max by (stack) (vmfleet_lease_warning_seconds)",
    ),
    (
        "expiring: per-stack window -> fixed 14d",
        "max by (stack) (vmfleet_lease_warning_seconds)",
        "(0 * max by (stack) (vmfleet_lease_warning_seconds) + 1209600)",
    ),
    (
        "expiring: window + 1s",
        "max by (stack) (vmfleet_lease_warning_seconds)",
        "(max by (stack) (vmfleet_lease_warning_seconds) + 1)",
    ),
    (
        "idle: busy >= ratio -> > ratio",
        "  >= on (stack) group_left ()\n              max by (stack) (vmfleet_vm_idle_cpu_ratio)",
        "  > on (stack) group_left ()\n              max by (stack) (vmfleet_vm_idle_cpu_ratio)",
    ),
    (
        "idle: ratio threshold x1.1",
        "max by (stack) (vmfleet_vm_idle_cpu_ratio)",
        "1.1 * max by (stack) (vmfleet_vm_idle_cpu_ratio)",
    ),
    (
        "idle: ratio threshold x0.9",
        "max by (stack) (vmfleet_vm_idle_cpu_ratio)",
        "0.9 * max by (stack) (vmfleet_vm_idle_cpu_ratio)",
    ),
    (
        "idle: duration >= -> >",
        "  >= on (stack) group_left ()\n              max by (stack) (vmfleet_vm_idle_seconds)",
        "  > on (stack) group_left ()\n              max by (stack) (vmfleet_vm_idle_seconds)",
    ),
    (
        "idle: no 'first seen' branch",
        "            or\n              (time() - min_over_time(vmfleet:vm_cpu_observed:timestamp[30d]))\n",
        "",
    ),
    (
        "idle: not restricted to active VMs",
        "          and on (domain, uuid)\n            vmfleet:domain_cpu_usage:ratio_rate5m\n",
        "",
    ),
    (
        "idle: the CPU below the ratio now, no duration",
        "              vmfleet:vm_idle_duration:seconds\n"
        "            >= on (stack) group_left ()\n"
        "              max by (stack) (vmfleet_vm_idle_seconds)",
        "              vmfleet:vm_cpu_usage:ratio_rate5m < 0.05",
    ),
    (
        "cpu overcommit: > -> >=",
        "    vmfleet:host_vcpus_allocated:sum\n          > on (stack, host)",
        "    vmfleet:host_vcpus_allocated:sum\n          >= on (stack, host)",
    ),
    (
        "cpu overcommit: limit - 0.5",
        "max by (stack, host) (vmfleet_host_cpu_cores)\n          * on (stack, host)",
        "(max by (stack, host) (vmfleet_host_cpu_cores) - 0.125)\n          * on (stack, host)",
    ),
    (
        "memory overcommit: > -> >=",
        "    vmfleet:host_memory_allocated_bytes:sum\n          > on (stack, host)",
        "    vmfleet:host_memory_allocated_bytes:sum\n          >= on (stack, host)",
    ),
    (
        "memory overcommit: limit - 1 byte",
        "max by (stack, host) (vmfleet_host_memory_bytes)\n          * on (stack, host)",
        "(max by (stack, host) (vmfleet_host_memory_bytes) - 1)\n          * on (stack, host)",
    ),
    (
        "memory overcommit: limit + 64 MiB",
        "max by (stack, host) (vmfleet_host_memory_bytes)\n          * on (stack, host)",
        "(max by (stack, host) (vmfleet_host_memory_bytes) + 67108864)\n          * on (stack, host)",
    ),
    ("overcommit: for: 15m -> 5m", "for: 15m", "for: 5m"),
    (
        "owner cpu: by (stack, owner) -> by (stack, project)",
        "sum by (stack, owner) (vmfleet:vm_cpu_usage:cores_rate5m)",
        "sum by (stack, project) (vmfleet:vm_cpu_usage:cores_rate5m)",
    ),
    (
        "owner cpu: ratio summed instead of cores",
        "sum by (stack, owner) (vmfleet:vm_cpu_usage:cores_rate5m)",
        "sum by (stack, owner) (vmfleet:vm_cpu_usage:ratio_rate5m)",
    ),
    (
        "cost center cpu: by (stack, cost_center) -> by (stack, owner)",
        "sum by (stack, cost_center) (vmfleet:vm_cpu_usage:cores_rate5m)",
        "sum by (stack, owner) (vmfleet:vm_cpu_usage:cores_rate5m)",
    ),
    (
        "vm_info: no dedup of the scrape labels",
        "max by (stack, vm, domain, host, owner, project, environment, cost_center) (vmfleet_vm_info)",
        "vmfleet_vm_info",
    ),
]


def run(name: str, old: str, new: str, work: Path) -> bool:
    """True when the tests fail on the rules with `old` replaced by `new`."""
    count = RULES.count(old)
    if count == 0:
        print(f"PATTERN NOT FOUND: {name}")
        return False
    tree = work / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "rules").mkdir(parents=True)
    (tree / "tests").mkdir()
    (tree / "rules" / "vmfleet.rules.yml").write_text(RULES.replace(old, new))
    shutil.copy(TESTS, tree / "tests")
    result = subprocess.run(
        ["promtool", "test", "rules", str(tree / "tests" / TESTS.name)], capture_output=True, text=True, check=False
    )
    out = result.stdout + result.stderr
    where = sorted(
        {
            line.strip().rstrip(",")
            for line in out.splitlines()
            if line.strip().startswith(("alertname:", "expr:", "rule:"))
        }
    )
    status = "caught" if result.returncode != 0 else "NOT CAUGHT"
    print(f"{status:10} ({count}x) {name}: {'; '.join(w[:90] for w in where)[:300]}")
    return result.returncode != 0


def main() -> int:
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory(prefix="vmfleet-rules-mutations-") as work:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            caught = list(
                pool.map(
                    lambda item: run(item[1][0], item[1][1], item[1][2], Path(work) / str(item[0])),
                    enumerate(MUTATIONS),
                )
            )
        missed = [name for (name, _, _), found in zip(MUTATIONS, caught, strict=True) if not found]
    print("all mutations caught" if not missed else f"not caught: {missed}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
