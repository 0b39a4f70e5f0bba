"""Real previews for the review: one small fleet deployed on the local libvirt, then one preview per
kind of change a pull request brings, each recorded as the engine's event stream.

The engine test (`tests/engine/test_review.py`) runs this and checks the rendered text of each case;
`make review-fixtures` runs it to record the fixtures the fast tests render (`tests/review/fixtures/`).
Each case is previewed against the same deployed fleet, so they are independent of each other;
the drift case changes the host, so it runs last.
"""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt
from pulumi import automation as auto

from backends.libvirt.tags import TAGS_NAMESPACE, TAGS_PREFIX, parse_tags_element, tags_element
from review import preview
from tests.declarations import ROOT, stack_declaration
from tests.engine.harness import URI, EphemeralStack, free_cidrs, isolated, small_fleet

PASSWORD_SECRET = "ops-password"
FIRST_HASH = "$6$rounds=4096$vmfleetreview$FirstPasswordHashNeverShown0001"
SECOND_HASH = "$6$rounds=4096$vmfleetreview$SecondPasswordHashNeverShown002"
"""Password hashes kept as secrets in the stack's config; neither may appear in any rendered review."""
PROXMOX_TOKEN = "vmfleet@pve!review=5f1d0c00-0000-4000-8000-00000000c0de"


@dataclass(frozen=True)
class Case:
    """One recorded preview."""

    name: str
    what: str
    """The change, in words (documented in tests/review/fixtures/README.md)."""
    declare: Callable[[dict[str, Any]], dict[str, Any]]
    """The declaration this preview sees, from the deployed one."""
    policy: dict[str, dict[str, Any]] | None = None
    """Overrides of the dev policy config for this preview."""
    secret: str | None = None
    """A new value for the password secret."""


def base_fleet(stack: EphemeralStack, today: dt.date) -> dict[str, Any]:
    """Two VM groups on one host: `web` (1 VM, size nano) and `app` (1 VM, size roomy: a 2 GiB disk; its
    user has a secret password hash)."""
    fleet = small_fleet(stack.prefix, free_cidrs(1), stack.storage_dir, (today + dt.timedelta(days=30)).isoformat())
    fleet["sizes"] += [
        {"name": "duo", "vcpus": 2, "memory_mib": 128, "disk_gib": 1},
        {"name": "roomy", "vcpus": 1, "memory_mib": 128, "disk_gib": 2},
        {"name": "spacious", "vcpus": 1, "memory_mib": 128, "disk_gib": 3},
    ]
    fleet["vms"].append(
        {
            "name": "app",
            "count": 1,
            "pool": "local",
            "template": "tiny",
            "size": "roomy",
            "segments": ["front"],
            "cloud_init": {"users": [{"name": "ops", "password_secret": PASSWORD_SECRET}]},
            "tags": {"role": "backend", "expires": (today + dt.timedelta(days=10)).isoformat()},
        }
    )
    return fleet


def _change(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def declare(fleet: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(fleet)
        edit(changed)
        return changed

    return declare


def _web(fleet: dict[str, Any]) -> dict[str, Any]:
    return next(group for group in fleet["vms"] if group["name"] == "web")


def _app(fleet: dict[str, Any]) -> dict[str, Any]:
    return next(group for group in fleet["vms"] if group["name"] == "app")


def _expired(fleet: dict[str, Any]) -> None:
    _web(fleet)["tags"]["expires"] = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def _new_range(fleet: dict[str, Any]) -> None:
    fleet["segments"][0]["cidr"] = free_cidrs(1)[0]
    fleet["firewalls"][0]["ingress"].append({"protocol": "tcp", "ports": ["443"], "peer": "any"})


def _pull_request(fleet: dict[str, Any]) -> None:
    _web(fleet).update(count=2, tags={**_web(fleet)["tags"], "role": "frontend"})
    _app(fleet).update(size="spacious")


def _new_template_version(fleet: dict[str, Any]) -> None:
    fleet["templates"][0]["version"] = "1.1"


def _shrink_app(fleet: dict[str, Any]) -> None:
    _app(fleet).update(count=0)
    fleet["remove_unretired"] = [{"group": "app", "reason": "the review test's shrink case"}]


def _bad_segment(fleet: dict[str, Any]) -> None:
    _web(fleet)["segments"] = ["front", "dmz"]


CASES: tuple[Case, ...] = (
    Case(
        "retag",
        "web's role tag changes from web to frontend",
        _change(lambda f: _web(f)["tags"].update(role="frontend")),
    ),
    Case("grow", "web grows from 1 to 2 VMs", _change(lambda f: _web(f).update(count=2))),
    Case("resize", "web moves to size duo: 1 -> 2 vCPU", _change(lambda f: _web(f).update(size="duo"))),
    Case(
        "grow-disk", "app moves to size spacious: disk 2 -> 3 GiB", _change(lambda f: _app(f).update(size="spacious"))
    ),
    Case(
        "shrink-disk",
        "app moves to size nano: its disk would shrink 2 -> 1 GiB, which the disk's provider refuses mid-plan",
        _change(lambda f: _app(f).update(size="nano")),
    ),
    Case("shrink", "app shrinks from 1 to 0 VMs, on purpose without a decommission", _change(_shrink_app)),
    Case(
        "violations",
        "web's expiry date is yesterday (mandatory vm-lifespan) and sizing-limits allows 64 MiB (advisory)",
        _change(_expired),
        policy={"sizing-limits": {"maxMemoryMib": 64}},
    ),
    Case("secret", "app's password hash (a secret) changes", lambda fleet: fleet, secret=SECOND_HASH),
    Case("segment", "segment front gets a new range and its firewall a rule for 443", _change(_new_range)),
    Case("template", "template tiny's version goes from 1.0 to 1.1", _change(_new_template_version)),
    Case(
        "pull-request",
        "what a pull request usually brings: web grows to 2 VMs with role frontend, app moves to size spacious",
        _change(_pull_request),
    ),
    Case("error", "web names a segment that is not declared", _change(_bad_segment)),
)
"""The changes previewed against the deployed fleet (besides `create`, from nothing, and `drift`)."""


def expected_vm_changes(case: str, recorded: dt.date) -> dict[str, str]:
    """Every VM the review must list for a case, with its change in words (recorded: the recording date)."""
    web_expires = (recorded + dt.timedelta(days=30)).isoformat()
    yesterday = (recorded - dt.timedelta(days=1)).isoformat()
    new_nano = "new: nano (1 vCPU, 128 MiB, 1 GiB disk), tiny 1.0, on front"
    rebuilt = "template tiny 1.0 → 1.1; cloud-init instance data changed: replaced, disk recreated (its data is lost)"
    return {
        "create": {"web-01": new_nano, "app-01": "new: roomy (1 vCPU, 128 MiB, 2 GiB disk), tiny 1.0, on front"},
        "retag": {"web-01": "retag: role web → frontend: in place"},
        "grow": {"web-02": new_nano},
        "resize": {"web-01": "resize nano → duo (1 → 2 vCPU): replaced, disk kept"},
        "grow-disk": {"app-01": "size roomy → spacious; grow disk 2 → 3 GiB: in place"},
        "shrink-disk": {},
        "shrink": {"app-01": "removed: its disk is deleted"},
        "violations": {"web-01": f"retag: expires {web_expires} → {yesterday}: in place"},
        "secret": {"app-01": "cloud-init user data changed ([secret]): in place"},
        "segment": {
            "web-01": "cloud-init network config changed; segment front's network is replaced: replaced, disk kept",
            "app-01": "cloud-init network config changed; segment front's network is replaced: replaced, disk kept",
        },
        "template": {"web-01": rebuilt, "app-01": rebuilt},
        "pull-request": {
            "web-01": "retag: role web → frontend: in place",
            "web-02": new_nano,
            "app-01": "size roomy → spacious; grow disk 2 → 3 GiB: in place",
        },
        "error": {},
        "drift": {
            "web-01": "deleted on the host: created again on its kept disk",
            "app-01": "domain changed on the host (autostart → no autostart), put back; domain tags changed on the "
            "host (owner qa@example.com → mallory@example.com), put back: in place",
        },
    }[case]


@dataclass(frozen=True)
class Recording:
    name: str
    what: str
    events: list[str]
    """The event stream's lines."""
    status: int
    """The preview's exit status."""


def policy_config(stack: EphemeralStack, name: str, overrides: dict[str, dict[str, Any]] | None = None) -> str:
    """The shipped dev policy config pointed at this stack, as `make review` would use it."""
    from tests.engine.test_guards import dev_policy_config

    config = dev_policy_config(stack.prefix, **(overrides or {}))
    path = stack.folder / f"policy-{name}.json"
    path.write_text(json.dumps(config))
    return str(path)


def streamed_preview(stack: EphemeralStack, config: str, *, wrap: list[str] | None = None) -> tuple[list[str], int]:
    """`pulumi preview` as `make review` runs it (review.preview), its event lines and exit status."""
    command = [*(wrap or []), "pulumi", *preview.command(str(ROOT / "policies"), config), "--stack", stack.stack_name]
    environment = {**os.environ, **stack.environment, **preview.STREAMING_ENVIRONMENT}
    ran = subprocess.run(command, cwd=stack.project, env=environment, capture_output=True, text=True, timeout=900)
    return ran.stdout.splitlines(keepends=True), ran.returncode


def record_lifecycle(stack: EphemeralStack, today: dt.date) -> Iterator[Recording]:
    """Deploy the base fleet, preview each case against it, then drift it by hand and preview that."""
    fleet = base_fleet(stack, today)
    stack.declare(fleet)
    assert stack.stack is not None
    stack.stack.set_config(PASSWORD_SECRET, auto.ConfigValue(FIRST_HASH, secret=True))
    config = policy_config(stack, "dev")

    lines, status = streamed_preview(stack, config)
    yield Recording("create", "the fleet from nothing: 2 new VMs", lines, status)
    stack.up(config)

    for case in CASES:
        stack.declare(case.declare(fleet))
        if case.secret:
            stack.stack.set_config(PASSWORD_SECRET, auto.ConfigValue(case.secret, secret=True))
        lines, status = streamed_preview(stack, policy_config(stack, case.name, case.policy))
        yield Recording(case.name, case.what, lines, status)
        stack.stack.set_config(PASSWORD_SECRET, auto.ConfigValue(FIRST_HASH, secret=True))
    stack.declare(fleet)

    connection = libvirt.open(URI)
    try:
        web = connection.lookupByName(f"{stack.prefix}-web-01")
        web.destroy()
        web.undefine()
        app = connection.lookupByName(f"{stack.prefix}-app-01")
        app.setAutostart(0)
        tags = parse_tags_element(app.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, TAGS_NAMESPACE, 0))
        app.setMetadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT,
            tags_element({**tags, "owner": "mallory@example.com"}),
            TAGS_PREFIX,
            TAGS_NAMESPACE,
            libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG,
        )
    finally:
        connection.close()
    lines, status = streamed_preview(stack, config)
    what = (
        "web-01 deleted by hand (virsh destroy, undefine); app-01's autostart off and its owner tag changed on the host"
    )
    yield Recording("drift", what, lines, status)


def record_prod(stack: EphemeralStack, trace: Path) -> Recording:
    """The prod stack's Proxmox fleet from nothing, with prod's policy pack, in a loopback-only namespace."""
    stack.declare(stack_declaration("prod"))
    assert stack.stack is not None
    stack.stack.set_config("vmfleet:pve-token", auto.ConfigValue(value=PROXMOX_TOKEN, secret=True))
    config = stack.folder / "prod-policy.json"
    config.write_text((ROOT / "policies" / "config" / "prod.json").read_text())
    lines, status = streamed_preview(stack, str(config), wrap=isolated(trace))
    return Recording("prod-create", "the prod stack's Proxmox VE fleet from nothing (no cluster)", lines, status)


def without_debug(lines: list[str]) -> list[str]:
    """The event lines without debug diagnostics (the SDK's "registering resource" chatter)."""
    kept = []
    for line in lines:
        event = json.loads(line)
        if event.get("diagnosticEvent", {}).get("severity") == "debug":
            continue
        kept.append(line)
    return kept


def write_fixture(recording: Recording, folder: Path) -> Path:
    path = folder / f"{recording.name}.jsonl.gz"
    path.write_bytes(gzip.compress("".join(without_debug(recording.events)).encode(), mtime=0))
    return path
