"""Running the fleet under Pulumi mocks and recording every registration for assertions."""

from __future__ import annotations

import json
import runpy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from backends.libvirt import LibvirtBackend
from backends.libvirt.snapshot_hooks import SnapshotHooks
from components.fleet import Fleet
from components.stack_state import previous_deployment
from tests.declarations import ROOT
from tests.images import with_stand_in_images
from vmfleet.load import plan

SECRET_SIGNATURE = rpc._special_sig_key
SECRET_MARK = rpc._special_secret_sig


@dataclass(frozen=True)
class Registration:
    """One resource as the engine would have seen it."""

    urn: str
    type: str
    name: str
    parent: str
    inputs: dict[str, Any]
    provider: str
    protect: bool
    dependencies: tuple[str, ...]
    custom: bool

    @property
    def parent_type(self) -> str:
        return self.parent.split("::")[2].split("$")[-1] if self.parent else ""


def is_secret(value: Any) -> bool:
    """True for a value the engine received wrapped as a secret."""
    return isinstance(value, dict) and value.get(SECRET_SIGNATURE) == SECRET_MARK


PROXMOX_VM = "proxmoxve:index/vmLegacy:VmLegacy"


class _FleetMocks(pulumi.runtime.Mocks):
    def __init__(self, previous_outputs: dict[str, Any] | None) -> None:
        self.previous_outputs = previous_outputs
        self.invokes: list[str] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.next_vm_id = 99

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        state.setdefault("name", args.name)
        if args.typ == PROXMOX_VM and "vmId" not in state:
            # Proxmox gives a VM the next free id; the mocks count from 100 as the cluster does.
            self.next_vm_id += 1
            state["vmId"] = self.next_vm_id
        self.states[args.name] = state
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        self.invokes.append(args.token)
        if args.token == "pulumi:pulumi:readStackOutputs":
            # A stack that was never deployed has no outputs, which the engine reports as empty.
            return {"name": args.args["name"], "outputs": self.previous_outputs or {}, "secretOutputNames": []}
        raise NotImplementedError(args.token)


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.outputs_registered: Counter[str] = Counter()
        self.invokes: list[str] = []
        self.states: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    inputs=rpc.deserialize_properties(request.object),
                    provider=request.provider,
                    protect=bool(request.protect),
                    dependencies=tuple(request.dependencies),
                    custom=bool(request.custom),
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.outputs_registered[request.urn] += 1
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


@dataclass
class Built:
    """What a mocked run registered."""

    registrations: list[Registration]
    outputs_registered: Counter[str]
    fleet: Fleet | None = None
    exports: dict[str, Any] = field(default_factory=dict)
    invokes: list[str] = field(default_factory=list)
    """Tokens of the functions the program invoked, in order."""
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Resource name -> the outputs the mocks gave it (its inputs, plus what a provider computes)."""

    def of_type(self, token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == token]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.registrations if r.name == name]
        assert len(matches) == 1, f"expected one resource named {name!r}, found {[r.urn for r in matches]}"
        return matches[0]

    def children_of(self, parent: Registration) -> list[Registration]:
        return [r for r in self.registrations if r.parent == parent.urn]


_last_monitor: list[_RecordingMonitor] = []


def _install(previous_outputs: dict[str, Any] | None, stack: str) -> _RecordingMonitor:
    mocks = _FleetMocks(previous_outputs)
    monitor = _RecordingMonitor(mocks)
    monitor.invokes = mocks.invokes
    monitor.states = mocks.states
    pulumi.runtime.set_mocks(mocks, project="vmfleet", stack=stack, preview=False, monitor=monitor)
    _last_monitor[:] = [monitor]
    return monitor


def last_registrations() -> list[Registration]:
    """What the most recent mocked run registered, also when it raised."""
    return list(_last_monitor[0].registrations) if _last_monitor else []


def build_fleet(raw: dict[str, Any], previous_outputs: dict[str, Any] | None = None, stack: str = "test") -> Built:
    """Plan `raw` and build the Fleet component with the libvirt backend under mocks."""
    monitor = _install(previous_outputs, stack)
    built = Built(monitor.registrations, monitor.outputs_registered, states=monitor.states)

    @pulumi.runtime.test
    def run() -> Any:
        previous = previous_deployment()
        fleet_plan = plan(raw, previous_placement=previous.placement, previous_addresses=previous.addresses)
        built.fleet = Fleet(
            "fleet",
            fleet_plan,
            backends={
                "libvirt": LibvirtBackend(
                    fleet_plan.fleet.prefix,
                    probe_domain_type=lambda uri: "qemu",
                    snapshot_hooks=SnapshotHooks(fleet_plan.fleet.snapshots, destroying=False),
                )
            },
            password_hash=lambda key: pulumi.Output.secret(f"$6$hash-of-{key}"),
        )
        return pulumi.Output.all(*[vm.vm_id for vm in built.fleet.vms.values()])

    run()
    return built


def run_program(
    raw: Any,
    stack: str = "test",
    secrets: dict[str, str] | None = None,
    keep_image_paths: bool = False,
    previous_outputs: dict[str, Any] | None = None,
) -> Built:
    """Run the real `__main__.py` under mocks with `raw` as the stack's `vmfleet:fleet` config.

    `previous_outputs` are the stack outputs `readStackOutputs` answers with (none: never deployed);
    what the program exports lands in `Built.exports`.

    Template image files are read by the program before anything registers, so unless
    `keep_image_paths`, every `image_path` is pointed at a stand-in image first (see
    `tests.images.with_stand_in_images` for why); tests of the image rules keep their own paths.
    """
    monitor = _install(previous_outputs, stack)
    if not keep_image_paths:
        raw = with_stand_in_images(raw)
    config = {"vmfleet:fleet": json.dumps(raw)}
    secrets = secrets or {}
    config.update({f"vmfleet:{key}": value for key, value in secrets.items()})
    pulumi.runtime.set_all_config(config, [f"vmfleet:{key}" for key in secrets])
    built = Built(monitor.registrations, monitor.outputs_registered, invokes=monitor.invokes, states=monitor.states)

    @pulumi.runtime.test
    def run() -> Any:
        namespace = runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        fleet: Fleet | None = namespace.get("fleet")  # none when the program declares no fleet (a `make down`)
        built.fleet = fleet
        root = pulumi.runtime.get_root_resource()
        exported = pulumi.Output.from_input(getattr(root, "outputs", {})).apply(built.exports.update)
        return pulumi.Output.all(exported, *[vm.vm_id for vm in (fleet.vms.values() if fleet else [])])

    run()
    return built
