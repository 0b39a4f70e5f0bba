"""Times planning and the real engine's `pulumi preview` on generated fleets, and prints the table.

Per fleet size: the program's planning alone (validation, expansion, placement: `vmfleet.load.plan`,
in this process, the best of five runs), then `pulumi preview` of a new stack of that fleet with the
policy pack and without it, as `make review` runs it (streamed JSON events, the engine settings of
scripts/preview.env), minus the refresh (there is nothing deployed to refresh). Nothing is deployed:
every stack is a preview of a fleet that does not exist, removed afterwards. Times are wall-clock
seconds, the median of `repeat` runs. With `--opentofu`, each size is also planned by OpenTofu with
terraform-provider-libvirt (bench/opentofu.py), right after our previews of it, so that both are
measured under the same load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from bench import opentofu
from bench.fleet import declaration
from review import events
from review.events import Preview
from review.preview import STREAMING_ENVIRONMENT
from tests.declarations import ROOT
from tests.engine.harness import IMAGE, EphemeralStack, engine_environment, prepare_host
from vmfleet import images
from vmfleet.load import plan

LIBVIRT_SOCKET = "/var/run/libvirt/libvirt-sock"
PREVIEW_SIZES = (10, 100, 300, 1000)
PLANNING_ONLY_SIZES = (5000,)
POLICY_CONFIG = ROOT / "policies" / "config" / "dev.json"
ENVIRONMENT = "dev"
"""The fleets are judged as the dev stack is: its environment, its policy levels and limits."""
GROWTH = (100, 1000)
"""Growth is time(1000) / time(100): 10.0 is linear."""


def preview_environment(path: Path = ROOT / "scripts" / "preview.env") -> dict[str, str]:
    """The KEY=value lines of scripts/preview.env, the engine settings `make preview` uses."""
    settings = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


@dataclass
class Result:
    """One fleet size's figures; preview times are None where not measured."""

    vms: int
    planning_s: float
    resources: int | None = None
    preview_s: dict[str, float] = field(default_factory=dict)
    """Mode ("policy pack", "no pack") -> median wall seconds."""
    opentofu_s: float | None = None
    """`tofu plan` of the same fleet, median wall seconds; None unless asked for."""
    opentofu_resources: int | None = None


def time_planning(vms: int, host_uri: Callable[[str], str]) -> float:
    """Best of five: `plan` of a generated fleet, with the real image inspection."""
    fleet = declaration(vms, environment=ENVIRONMENT, prefix="bench", image=IMAGE, expires=_expiry(), host_uri=host_uri)
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        plan(fleet, source="the benchmark fleet", is_secret=lambda _key: False, inspect_image=images.virtual_size)
        runs.append(time.perf_counter() - start)
    return min(runs)


def time_preview(stack: EphemeralStack, with_pack: bool) -> tuple[float, Preview]:
    """One `pulumi preview` of `stack` as `make review` runs it (streamed engine events, read by the
    review's reader): wall seconds and what it planned. Raises with its errors when it fails."""
    pack = ["--policy-pack", str(ROOT / "policies"), "--policy-pack-config", str(POLICY_CONFIG)] if with_pack else []
    start = time.perf_counter()
    ran = stack.cli("preview", "--json", *pack, timeout=3600)
    elapsed = time.perf_counter() - start
    planned = events.read(ran.stdout.splitlines(), source="the benchmark preview")
    if ran.returncode != 0:
        errors = [diagnostic.message.strip() for diagnostic in planned.diagnostics if diagnostic.severity == "error"]
        errors += [
            f"{violation.policy}: {violation.message.strip()}"
            for violation in planned.violations
            if violation.level == "mandatory"
        ]
        raise RuntimeError(f"pulumi preview failed ({ran.returncode}):\n" + "\n".join(errors)[-5000:])
    return elapsed, planned


def measure(
    vms: int,
    repeat: int,
    sockets: Path,
    with_preview: bool,
    engine_defaults: bool = False,
    opentofu_tools: opentofu.Tools | None = None,
) -> Result:
    def host_uri(host: str) -> str:
        # A socket of its own per host, all leading to the local daemon: one connection per host.
        socket = sockets / f"{host}.sock"
        if not socket.exists():
            socket.symlink_to(LIBVIRT_SOCKET)
        return f"qemu+unix:///system?socket={socket}"

    result = Result(vms=vms, planning_s=time_planning(vms, host_uri))
    if not with_preview:
        return result
    stack = EphemeralStack(engine_environment())
    workspace = None
    try:
        stack.environment.update({**({} if engine_defaults else preview_environment()), **STREAMING_ENVIRONMENT})
        fleet = declaration(
            vms, environment=ENVIRONMENT, prefix=stack.prefix, image=IMAGE, expires=_expiry(), host_uri=host_uri
        )
        stack.declare(fleet)
        for mode, with_pack in (("policy pack", True), ("no pack", False)):
            runs = []
            for _ in range(repeat):
                elapsed, planned = time_preview(stack, with_pack)
                runs.append(elapsed)
                result.resources = len(planned.steps)
            result.preview_s[mode] = statistics.median(runs)
            print(f"  {vms} VMs, preview with {mode}: {result.preview_s[mode]:.1f} s", file=sys.stderr, flush=True)
        if opentofu_tools:
            fleet_plan = plan(fleet, source="the benchmark fleet", is_secret=lambda _key: False)
            workspace = opentofu.Workspace(opentofu_tools, fleet_plan, stack.prefix)
            result.opentofu_s, result.opentofu_resources = opentofu.time_plans(workspace, repeat)
            print(f"  {vms} VMs, OpenTofu plan: {result.opentofu_s:.1f} s", file=sys.stderr, flush=True)
    finally:
        if workspace:
            workspace.cleanup()
        stack.cleanup()
    return result


def table(results: Sequence[Result], markdown: bool) -> str:
    """The benchmark table, one row per fleet size, then the growth ratios."""
    rows = []
    with_opentofu = any(result.opentofu_s is not None for result in results)
    for result in results:
        row: list[object] = [result.vms, f"{result.planning_s:.3f}"]
        if result.resources is None:
            row += ["", "", "", "", "", ""]
        else:
            row += [result.resources, f"{result.resources / result.vms:.1f}"]
            for mode in ("policy pack", "no pack"):
                seconds = result.preview_s[mode]
                row += [f"{seconds:.1f}", f"{1000 * seconds / result.vms:.0f}"]
        if with_opentofu:
            tofu_s = result.opentofu_s
            row += (
                ["", "", ""]
                if tofu_s is None
                else [result.opentofu_resources, f"{tofu_s:.1f}", f"{1000 * tofu_s / result.vms:.0f}"]
            )
        rows.append(row)
    headers = [
        "VMs",
        "planning s",
        "resources",
        "resources/VM",
        "preview+pack s",
        "ms/VM",
        "preview s (no pack)",
        "ms/VM (no pack)",
    ] + (["OpenTofu resources", "OpenTofu plan s", "ms/VM (OpenTofu)"] if with_opentofu else [])
    text = tabulate(rows, headers=headers, tablefmt="github" if markdown else "simple", disable_numparse=True)
    by_size = {result.vms: result for result in results}
    low, high = GROWTH
    if low in by_size and high in by_size and by_size[low].preview_s and by_size[high].preview_s:
        ratios = ", ".join(
            f"{mode} {by_size[high].preview_s[mode] / by_size[low].preview_s[mode]:.1f}x"
            for mode in ("policy pack", "no pack")
        )
        tofu_low, tofu_high = by_size[low].opentofu_s, by_size[high].opentofu_s
        if tofu_low and tofu_high:
            ratios += f", OpenTofu {tofu_high / tofu_low:.1f}x"
        text += f"\n\nGrowth time({high})/time({low}) (10.0 is linear): {ratios}"
    return text


def machine() -> str:
    """Where the figures came from: CPU, cores, memory, engine and Python versions."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    engine = subprocess.run(
        ["pulumi", "version"], env={**os.environ, **engine_environment()}, capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{model}, {os.cpu_count()} cores, {memory_kib / 1024 / 1024:.0f} GiB; "
        f"pulumi {engine}, Python {platform.python_version()}; {dt.date.today().isoformat()}"
    )


def _expiry() -> dt.date:
    return dt.date.today() + dt.timedelta(days=60)


def fleet_sizes(text: str) -> list[int]:
    """`--sizes 10,100`: VM counts from 1 to 9,999 (a group's limit), comma-separated."""
    sizes = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= 9999:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a fleet size: give VM counts from 1 to 9999, e.g. 10,100"
            )
        sizes.append(int(item))
    return sizes


def repeat_count(text: str) -> int:
    """`--repeat 3`: runs per size and mode, 1 to 99."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 99:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of runs: give 1 to 99")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=fleet_sizes,
        default=list(PREVIEW_SIZES),
        help="fleet sizes to preview, comma-separated (default 10,100,300,1000)",
    )
    parser.add_argument(
        "--planning-sizes",
        type=fleet_sizes,
        default=list(PLANNING_ONLY_SIZES),
        help="further sizes timed for planning only (default 5000; '' for none)",
    )
    parser.add_argument(
        "--repeat",
        type=repeat_count,
        metavar="N",
        default=1,
        help="previews per size and mode; the median is shown",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    parser.add_argument(
        "--engine-defaults",
        action="store_true",
        help="preview with the engine's default settings instead of scripts/preview.env's (slow: per-step checkpoints)",
    )
    parser.add_argument(
        "--opentofu",
        action="store_true",
        help="also time `tofu plan` of each fleet (OpenTofu and its libvirt provider built by scripts/tools.sh)",
    )
    arguments = parser.parse_args(argv)
    sizes: list[int] = arguments.sizes
    planning_only = [size for size in arguments.planning_sizes if size not in sizes]
    prepare_host()
    opentofu_tools = opentofu.Tools.build() if arguments.opentofu else None
    print(f"benchmark on {machine()}", file=sys.stderr, flush=True)
    if opentofu_tools:
        print(f"side by side with {opentofu_tools.version()}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="vmfleet-bench-") as sockets:
        results = [
            measure(
                vms,
                arguments.repeat,
                Path(sockets),
                with_preview=True,
                engine_defaults=arguments.engine_defaults,
                opentofu_tools=opentofu_tools,
            )
            for vms in sizes
        ]
        results += [measure(vms, 1, Path(sockets), with_preview=False) for vms in planning_only]
    print(table(sorted(results, key=lambda result: result.vms), arguments.markdown))
    return 0
