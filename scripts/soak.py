"""Hang soak: consecutive `up`/`down` cycles of a 6-VM stack, each bounded, with figures at the end.

    make soak CYCLES=30          (or: .venv/bin/python scripts/soak.py --cycles 30)

The stack is the dev fleet (Pulumi.dev.yaml: 6 VMs, 3 firewalled segments, 2 templates) under its
own name prefix, state folder, storage folder and free address ranges, so it never touches a dev
stack that is up. Each cycle runs `pulumi up --refresh` with the dev policy pack and
`pulumi destroy --refresh --continue-on-error` exactly as `make up` / `make down` do, and then
checks the host: all 6 VMs running after up, nothing of the stack left after down. A phase that
has not finished after `--limit` seconds counts as a hang: it is killed, reported, and the soak
stops. Not part of `make test` (it takes about a minute per cycle here).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.declarations import stack_declaration  # noqa: E402
from tests.engine.harness import EphemeralStack, engine_environment, free_cidrs, host_objects, prepare_host  # noqa: E402


def soak_fleet(stack: EphemeralStack) -> dict[str, Any]:
    """The dev fleet, moved to this stack's prefix, storage folder and free address ranges."""
    fleet = copy.deepcopy(stack_declaration("dev"))
    fleet["name_prefix"] = stack.prefix
    for pool in fleet["host_pools"]:
        for host in pool["hosts"]:
            host["storage_dir"] = stack.storage_dir
    for segment, cidr in zip(fleet["segments"], free_cidrs(len(fleet["segments"])), strict=True):
        segment["cidr"] = cidr
    return fleet


def policy_config(stack: EphemeralStack) -> str:
    config: dict[str, Any] = json.loads((ROOT / "policies" / "config" / "dev.json").read_text())
    config["segmentation"]["networks"] = [f"{stack.prefix}-{name}" for name in ("web", "app", "db")]
    config["naming"]["pattern"] = f"^{stack.prefix}-[a-z][a-z0-9]*(-[a-z0-9]+)*-[0-9]{{2,}}$"
    return stack.policy_config(config)


def timed(
    stack: EphemeralStack, limit: float, *arguments: str
) -> tuple[float, subprocess.CompletedProcess[str] | None]:
    started = time.monotonic()
    try:
        result = stack.cli(*arguments, timeout=limit)
    except subprocess.TimeoutExpired:
        return time.monotonic() - started, None
    return time.monotonic() - started, result


def timed_down(stack: EphemeralStack, limit: float) -> tuple[float, subprocess.CompletedProcess[str] | None]:
    started = time.monotonic()
    try:
        result = stack.cli_down(timeout=limit)
    except subprocess.TimeoutExpired:
        return time.monotonic() - started, None
    return time.monotonic() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description="consecutive up/down cycles of a 6-VM stack")
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--limit", type=float, default=900, help="seconds after which a phase counts as hung")
    args = parser.parse_args()

    prepare_host()
    stack = EphemeralStack(engine_environment())
    ups: list[float] = []
    downs: list[float] = []
    failures: list[str] = []
    try:
        stack.declare(soak_fleet(stack))
        expected = sorted(f"{stack.prefix}-{vm}" for vm in ("web-01", "web-02", "app-01", "app-02", "db-01", "jump-01"))
        config = policy_config(stack)
        for cycle in range(1, args.cycles + 1):
            up_seconds, up = timed(
                stack,
                args.limit,
                "up",
                "--yes",
                "--refresh",
                "--policy-pack",
                str(ROOT / "policies"),
                "--policy-pack-config",
                config,
            )
            if up is None:
                failures.append(f"cycle {cycle}: up HUNG (killed after {args.limit:.0f} s)")
                break
            running = host_objects(stack.prefix)["domains"]
            if up.returncode != 0 or running != expected:
                failures.append(
                    f"cycle {cycle}: up failed (exit {up.returncode}, domains {running}):\n{up.stderr[-2000:]}"
                )
            ups.append(up_seconds)
            down_seconds, down = timed_down(stack, args.limit)
            if down is None:
                failures.append(f"cycle {cycle}: down HUNG (killed after {args.limit:.0f} s)")
                break
            left = {kind: names for kind, names in host_objects(stack.prefix).items() if names}
            if down.returncode != 0 or left or stack.leftovers():
                failures.append(
                    f"cycle {cycle}: down failed (exit {down.returncode}, left {left}):\n{down.stderr[-2000:]}"
                )
            downs.append(down_seconds)
            print(
                f"cycle {cycle:2d}: up {up_seconds:5.1f} s, down {down_seconds:5.1f} s"
                + ("" if not failures or not failures[-1].startswith(f"cycle {cycle}:") else "  FAILED"),
                flush=True,
            )
    finally:
        stack.cleanup()

    print(f"\n{len(ups)} up and {len(downs)} down of {args.cycles} cycles; {len(failures)} failure(s)")
    for label, figures in (("up", ups), ("down", downs)):
        if figures:
            median, low, high = statistics.median(figures), min(figures), max(figures)
            print(f"{label:4s} median {median:5.1f} s, min {low:5.1f} s, max {high:5.1f} s")
    for failure in failures:
        print(failure)
    return 1 if failures or len(downs) < args.cycles else 0


if __name__ == "__main__":
    sys.exit(main())
