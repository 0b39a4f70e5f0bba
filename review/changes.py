"""A preview in the user's words: what happens to each VM, and what changes in each segment,
firewall, template, host pool and cluster service.

Resources are grouped by the vmfleet component they belong to (a resource's parent chain, as its
URN and `parent` record it): every provider resource of one `TaggedVm` is that VM, whatever the
backend made for it. A VM's facts (name, host, owner, expiry, size, template, segments) come from
the vmfleet document its VM resource carries, read by the policy pack's own reader
(`vmpolicies.vm.vm_facts`), before and after the step; what changes is the difference of the two
documents, and what that does to the VM is told by the steps of its resources (is the VM resource
updated or replaced, is its disk kept).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from vmpolicies.vm import vm_facts

from backends.libvirt import describe as libvirt_describe
from backends.monitoring import describe as monitoring_describe
from backends.proxmox import describe as proxmox_describe
from review.events import SECRET, UNKNOWN, Drift, Preview, Step, name_of
from vmfleet import rules

NEW, RECREATED, REMOVED, REPLACED, CHANGED, UNCHANGED = (
    "new",
    "recreated",
    "removed",
    "replaced",
    "changed",
    "unchanged",
)
STATUS_ORDER: Final[tuple[str, ...]] = (REMOVED, REPLACED, RECREATED, CHANGED, NEW, UNCHANGED)
"""How VM rows are ordered: what loses data or a running VM first."""

STACK_TYPE: Final[str] = "pulumi:pulumi:Stack"
TAGGED_VM: Final[str] = "vmfleet:compute:TaggedVm"
FLEET: Final[str] = "vmfleet:fleet:Fleet"


@dataclass(frozen=True)
class Section:
    """How one kind of vmfleet component reads in the review."""

    type: str
    title: str
    noun: str
    label_suffix: str = ""
    """What the component's name ends with beyond the thing it is named after (`web-firewall`)."""


SEGMENTS = Section("vmfleet:network:NetworkSegment", "Segments", "segment")
SECTIONS: Final[tuple[Section, ...]] = (
    SEGMENTS,
    Section("vmfleet:network:Firewall", "Firewalls", "firewall", "-firewall"),
    Section("vmfleet:fleet:VmTemplate", "Templates", "template"),
    Section("vmfleet:fleet:HostPool", "Host pools", "host pool"),
    Section("vmfleet:operations:BackupTier", "Backup tiers", "backup tier", "-backup"),
    Section("vmfleet:operations:AccessGrant", "Access grants", "access grant"),
    Section("vmfleet:operations:Monitoring", "Monitoring", "monitoring", "-monitoring"),
)
"""The components other than VMs (components/); `tests/review` checks it against what the program registers."""
OTHER = Section("", "Other resources", "resource")
COMPONENT_TYPES: Final[frozenset[str]] = frozenset({TAGGED_VM, FLEET, *(section.type for section in SECTIONS)})

BACKENDS = (libvirt_describe, proxmox_describe)
"""Each backend's `describe` module: `kind` (what its resources are) and, for its VM resource
(`VM_TYPE`), `VM_PROPERTIES` (property -> words) and `VM_STATES` (on/off property -> its two states)."""
PROPERTY_WORDS: Final[dict[str, Mapping[str, str]]] = {backend.VM_TYPE: backend.VM_PROPERTIES for backend in BACKENDS}
BOOLEAN_STATES: Final[dict[str, Mapping[str, tuple[str, str]]]] = {
    backend.VM_TYPE: backend.VM_STATES for backend in BACKENDS
}
MIRRORED_KINDS: Final[frozenset[str]] = frozenset().union(*(backend.MIRRORED_KINDS for backend in BACKENDS))
DISK_KIND: Final[str] = libvirt_describe.DISK_KIND
"""A VM resource's separate disk (libvirt); where there is none (Proxmox), the disks are the VM's own."""
CLOUD_INIT_KIND: Final[str] = libvirt_describe.CLOUD_INIT_KIND
OP_WORDS: Final[dict[str, str]] = {
    "create": "created",
    "delete": "deleted",
    "replace": "replaced",
    "update": "updated in place",
    "read": "read",
    "import": "imported",
}
SHORT_VALUE: Final[int] = 60
"""Values up to this many characters are shown inline; longer or multi-line ones as a folded diff."""
DIFF_LINES: Final[int] = 40


@dataclass(frozen=True)
class VmChange:
    """One VM as the review shows it."""

    name: str
    status: str
    """new, recreated, removed, replaced, changed or unchanged."""
    change: str
    """What happens to it, in words: "retag: role frontend → web: in place"."""
    host: str
    owner: str
    expires: str
    host_name: str = ""
    """The VM's name on its host (`dev-web-01`), as virsh, Proxmox and the policies' messages say it."""
    loses_data: bool = False
    """Its disk's data is gone after the change: the VM is removed, or its disk is made anew."""

    @property
    def shown_name(self) -> str:
        return self.host_name or self.name


@dataclass(frozen=True)
class ResourceChange:
    """One changed resource of a segment, firewall, template, pool or cluster service."""

    section: Section
    component: str
    """The segment, firewall, ... it belongs to, by its declared name."""
    resource: str
    kind: str
    change: str
    diffs: tuple[tuple[str, str], ...] = ()
    """(property, unified diff) for long values that changed (nwfilter XML, user data)."""
    where: str = ""
    """The host it is on (a libvirt URI, a Proxmox node; "" when not on one host)."""
    name_on_other_hosts: bool = False
    """Another object of the section has the same kind and name on another host: show `where`."""
    pulumi_name: str = ""
    """The resource's Pulumi name, shown instead of `resource` when that alone would not tell it apart."""


@dataclass(frozen=True)
class Expiry:
    """A VM whose expires date is past or within the notice window."""

    vm: str
    owner: str
    expires: dt.date
    days_left: int


@dataclass
class Review:
    """A preview, read for a reviewer."""

    preview: Preview
    vms: list[VmChange]
    """Every VM the preview knows, affected or not, in `STATUS_ORDER` then by name."""
    resources: list[ResourceChange]
    expiring: list[Expiry]
    warn_days: int
    vm_of: dict[str, str] = field(default_factory=dict)
    """Resource URN -> the VM it belongs to."""

    @property
    def affected(self) -> list[VmChange]:
        return [vm for vm in self.vms if vm.status != UNCHANGED]

    def counts(self) -> Counter[str]:
        return Counter(vm.status for vm in self.vms)

    def sections(self) -> dict[Section, list[ResourceChange]]:
        """The changed resources by section, in `SECTIONS` order."""
        grouped: dict[Section, list[ResourceChange]] = {}
        for row in self.resources:
            grouped.setdefault(row.section, []).append(row)
        return grouped


def read(preview: Preview, today: dt.date, warn_days: int) -> Review:
    """The review of a preview, judged on `today` (expiry notices within `warn_days`)."""
    steps = preview.steps
    components = {urn: step for urn, step in steps.items() if step.type in COMPONENT_TYPES}
    members: dict[str, list[Step]] = defaultdict(list)
    for urn, step in steps.items():
        if urn in components or step.type == STACK_TYPE or _is_default_provider(step):
            continue
        members[_owner(step, steps, components)].append(step)

    replaced_segments = {
        _label(component, _section(component.type))
        for urn, component in components.items()
        if component.type == SEGMENTS.type and any(step.op == "replace" for step in members.get(urn, []))
    }
    vms: list[VmChange] = []
    vm_of: dict[str, str] = {}
    resources: list[ResourceChange] = []
    for urn, component in components.items():
        if component.type == TAGGED_VM:
            vm = _vm_change(component, members.get(urn, []), preview, replaced_segments)
            vms.append(vm)
            vm_of[urn] = vm.shown_name
            vm_of.update((step.urn, vm.shown_name) for step in members.get(urn, []))
        elif component.type != FLEET:
            section = _section(component.type)
            label = _label(component, section)
            touched = [step for step in members.get(urn, []) if _touched(step, preview)]
            resources += [_resource_change(step, section, label, preview) for step in touched]
    resources += [_resource_change(step, OTHER, "", preview) for step in members.get("", []) if _touched(step, preview)]
    vms.sort(key=lambda vm: (STATUS_ORDER.index(vm.status), vm.name))
    order = [*SECTIONS, OTHER]
    resources.sort(key=lambda row: (order.index(row.section), row.component, row.resource, row.where))
    resources = _told_apart(resources)
    return Review(
        preview=preview,
        vms=vms,
        resources=resources,
        expiring=_expiring(vms, today, warn_days),
        warn_days=warn_days,
        vm_of=vm_of,
    )


# ------------------------------------------------------------------------------------ grouping
def _is_default_provider(step: Step) -> bool:
    return step.type.startswith("pulumi:providers:") and step.name.startswith("default")


def _owner(step: Step, steps: Mapping[str, Step], components: Mapping[str, Step]) -> str:
    """The URN of the nearest vmfleet component above `step` ("" when none is)."""
    parent, hops = step.parent, 0
    while parent and parent not in components and hops < 64:
        parent = steps[parent].parent if parent in steps else ""
        hops += 1
    if parent in components and components[parent].type == FLEET:
        return ""
    return parent if parent in components else ""


def _section(component_type: str) -> Section:
    return next((section for section in SECTIONS if section.type == component_type), OTHER)


def _label(component: Step, section: Section) -> str:
    """A component's declared name: its resource name without the fleet's name and its own suffix."""
    fleet = name_of(component.parent) if component.parent else ""
    label = component.name.removeprefix(f"{fleet}-") if fleet else component.name
    return label.removesuffix(section.label_suffix) if section.label_suffix else label


def kind_of(step: Step) -> str:
    """What a resource is in a reviewer's words: `disk`, `network`, `VM`, `libvirt provider`, ..."""
    for backend in BACKENDS:
        found: str | None = backend.kind(step.type, step.inputs)
        if found:
            return found
    found = monitoring_describe.kind(step.type, step.inputs)
    if found:
        return found
    if step.type.startswith("pulumi:providers:"):
        return f"{step.type.removeprefix('pulumi:providers:')} provider"
    return step.type.rsplit(":", 1)[-1]


def _boolean_states(step: Step, key: str) -> tuple[str, str] | None:
    return BOOLEAN_STATES.get(step.type, {}).get(key)


def _property_words(step: Step, key: str) -> str:
    root = re.split(r"[.\[]", key, maxsplit=1)[0]
    return PROPERTY_WORDS.get(step.type, {}).get(root, root)


# ----------------------------------------------------------------------------------------- VMs
def _document(step: Step, before: bool) -> dict[str, Any] | None:
    state = step.old if before else step.new
    if state is None:
        return None
    facts = vm_facts(step.type, state.inputs, step.name, state.protect)
    return facts.document if facts is not None else None


def _is_vm(step: Step) -> bool:
    state = step.new or step.old
    return state is not None and vm_facts(step.type, state.inputs, step.name, state.protect) is not None


def _vm_change(component: Step, members: Sequence[Step], preview: Preview, replaced_segments: set[str]) -> VmChange:
    machine = next((step for step in members if _is_vm(step)), None)
    label = _label(component, Section(TAGGED_VM, "VMs", "VM"))
    if machine is None:  # the preview stopped before the VM resource was planned
        return VmChange(label, _status_of(component.op), f"{OP_WORDS.get(component.op, component.op)}", "", "", "")
    before, after = _document(machine, before=True), _document(machine, before=False)
    document = after or before or {}
    tags = document.get("tags") or {}
    parts = [step for step in members if step is not machine]
    disk = next((step for step in parts if kind_of(step) == DISK_KIND), None)
    status = _vm_status(machine, parts, preview)
    state = machine.new or machine.old
    facts = vm_facts(machine.type, state.inputs, machine.name, state.protect) if state else None
    return VmChange(
        name=str(document.get("vm") or label),
        status=status,
        change=_vm_words(status, machine, parts, disk, before, after, preview, replaced_segments),
        host=str(document.get("host") or ""),
        owner=str(tags.get("owner") or ""),
        expires=str(tags.get("expires") or ""),
        host_name=facts.name if facts is not None else "",
        loses_data=_loses_data(status, disk, preview),
    )


def _disk_made_anew(disk: Step | None, preview: Preview) -> bool:
    if disk is None:
        return False
    drift = preview.drift.get(disk.urn)
    return disk.op in ("replace", "delete", "create") or (drift is not None and drift.gone)


def _loses_data(status: str, disk: Step | None, preview: Preview) -> bool:
    if status == REMOVED:
        return disk is None or disk.op == "delete"
    if status == REPLACED and disk is None:  # the disks are part of the VM resource (Proxmox VE)
        return True
    return status != NEW and _disk_made_anew(disk, preview)


def _status_of(op: str) -> str:
    return {"create": NEW, "delete": REMOVED, "replace": REPLACED, "same": UNCHANGED}.get(op, CHANGED)


def _vm_status(machine: Step, parts: Sequence[Step], preview: Preview) -> str:
    drift = preview.drift.get(machine.urn)
    if machine.op == "create" and drift is not None and drift.gone:
        return RECREATED
    status = _status_of(machine.op)
    if status == UNCHANGED and any(part.changes for part in parts):
        return CHANGED
    return status


def _vm_words(
    status: str,
    machine: Step,
    parts: Sequence[Step],
    disk: Step | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    preview: Preview,
    replaced_segments: set[str],
) -> str:
    if status == NEW:
        return f"new: {_size_words(after or {})}"
    if status == REMOVED:
        if disk is None:
            return "removed, with its disks"
        return "removed: its disk is deleted" if disk.op == "delete" else "removed: its disk is kept"
    if status == UNCHANGED:
        return "no change"

    if status == RECREATED:  # the VM resource is created again: there is no document before
        again = "with a new disk (its data is lost)" if _disk_made_anew(disk, preview) else "on its kept disk"
        return "; ".join(["deleted on the host", *_part_phrases(parts)]) + f": created again {again}"
    phrases, structural = _document_changes(before or {}, after or {})
    phrases += _drift_phrases([machine, *parts], preview)
    phrases += _part_phrases(parts)
    if status == REPLACED and not structural:
        phrases.append(_replacement_reason(machine, after or before or {}, replaced_segments))
    if not phrases:  # only resources that restate the document changed (host-side tags)
        phrases += [f"{kind_of(part)} {OP_WORDS.get(part.op, part.op)}" for part in parts if part.changes]
    if not phrases:
        phrases.append(_keys_phrase(machine, machine.diff_keys or tuple(machine.detailed_diff)))
    return "; ".join(phrase for phrase in phrases if phrase) + ": " + _consequence(status, disk)


def _size_words(document: Mapping[str, Any]) -> str:
    segments = ", ".join(document.get("segments") or [])
    return (
        f"{document.get('size')} ({document.get('vcpus')} vCPU, {document.get('memory_mib')} MiB, "
        f"{document.get('disk_gib')} GiB disk), {document.get('template')} {document.get('template_version')}, "
        f"on {segments}"
    )


def _document_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[list[str], bool]:
    """Phrases for what differs between two vmfleet documents, and whether any of it remakes the VM."""
    phrases: list[str] = []
    structural = False

    def changed(key: str) -> bool:
        return before.get(key) != after.get(key)

    if changed("host"):
        phrases.append(f"move {before.get('host')} → {after.get('host')}")
        structural = True
    sizing = []
    if changed("vcpus"):
        sizing.append(f"{before.get('vcpus')} → {after.get('vcpus')} vCPU")
    if changed("memory_mib"):
        sizing.append(f"{before.get('memory_mib')} → {after.get('memory_mib')} MiB")
    if changed("size") and sizing:
        phrases.append(f"resize {before.get('size')} → {after.get('size')} ({', '.join(sizing)})")
    elif sizing:
        phrases.append("resize " + ", ".join(sizing))
    elif changed("size"):
        phrases.append(f"size {before.get('size')} → {after.get('size')}")
    structural = structural or bool(sizing)
    if changed("disk_gib"):
        verb = "grow" if (after.get("disk_gib") or 0) > (before.get("disk_gib") or 0) else "shrink"
        phrases.append(f"{verb} disk {before.get('disk_gib')} → {after.get('disk_gib')} GiB")
    if changed("template"):
        phrases.append(
            f"template {before.get('template')} {before.get('template_version')} → "
            f"{after.get('template')} {after.get('template_version')}"
        )
        structural = True
    elif changed("template_version"):
        phrases.append(
            f"template {after.get('template')} {before.get('template_version')} → {after.get('template_version')}"
        )
        structural = True
    if changed("segments"):
        phrases.append(f"segments {', '.join(before.get('segments') or [])} → {', '.join(after.get('segments') or [])}")
        structural = True
    if changed("pool"):
        phrases.append(f"pool {before.get('pool')} → {after.get('pool')}")
    if changed("critical"):
        phrases.append("high availability " + ("on" if after.get("critical") else "off"))
    old_tags, new_tags = before.get("tags") or {}, after.get("tags") or {}
    retagged = [
        f"{key} {old_tags.get(key, '(none)')} → {new_tags.get(key, '(none)')}"
        for key in sorted(set(old_tags) | set(new_tags))
        if old_tags.get(key) != new_tags.get(key)
    ]
    if retagged:
        phrases.append("retag: " + ", ".join(retagged))
    return phrases, structural


def _part_phrases(parts: Sequence[Step]) -> list[str]:
    """What the VM's other resources change beyond its document (cloud-init data, firewall, HA)."""
    phrases = []
    for part in parts:
        kind = kind_of(part)
        if not part.changes or kind in MIRRORED_KINDS or kind == DISK_KIND:
            continue
        if kind == CLOUD_INIT_KIND:
            keys = _changed_keys(part)
            secret = any((part.old and part.old.inputs.get(k) == SECRET) or part.inputs.get(k) == SECRET for k in keys)
            what = (
                "user data"
                if "user_data" in keys
                else "instance data"
                if keys == ["meta_data"]
                else "network config"
                if keys == ["network_config"]
                else "data"
            )
            phrases.append(f"cloud-init {what} changed" + (f" ({SECRET})" if secret else ""))
        else:
            phrases.append(f"{kind} {OP_WORDS.get(part.op, part.op)}")
    return phrases


def _drift_phrases(steps: Sequence[Step], preview: Preview) -> list[str]:
    """What a refresh found changed on the host for a VM's resources (its tags on the host too)."""
    phrases = []
    for step in steps:
        drift = preview.drift.get(step.urn)
        if drift is None:
            continue
        kind = kind_of(step)
        if drift.gone:
            if not _is_vm(step):  # a VM gone from its host reads as recreated
                phrases.append(f"{kind} deleted on the host")
        else:
            phrases.append(f"{kind} changed on the host ({_drift_words(step, drift)}), put back")
    return phrases


def _drift_words(step: Step, drift: Drift) -> str:
    """`autostart true → false`, `owner a@example.com → b@example.com`, or the property's name."""
    words = []
    for key in drift.changed:
        before, after = drift.values.get(key, (None, None))
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            differing = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            shown = [(k, _shown(before.get(k)), _shown(after.get(k))) for k in differing]
            if shown and all(b is not None and a is not None for _, b, a in shown):
                words += [f"{k} {b} → {a}" for k, b, a in shown]
                continue
        states = _boolean_states(step, key)
        if isinstance(before, bool) and isinstance(after, bool):
            off, on = states or (f"{_property_words(step, key)} off", f"{_property_words(step, key)} on")
            words.append(f"{on if before else off} → {on if after else off}")
            continue
        old, new = _shown(before), _shown(after)
        name = _property_words(step, key)
        words.append(f"{name} {old} → {new}" if old is not None and new is not None and key in drift.values else name)
    return ", ".join(words)


def _replacement_reason(machine: Step, document: Mapping[str, Any], replaced_segments: set[str]) -> str:
    keys = machine.replace_keys or tuple(path for path, kind in machine.detailed_diff.items() if "replace" in kind)
    segments = [segment for segment in document.get("segments") or [] if segment in replaced_segments]
    if segments and any(_property_words(machine, key) == "NICs" for key in keys):
        networks = ", ".join(segments)
        return f"segment {networks}'s network is replaced" if len(segments) == 1 else f"networks of {networks} replaced"
    return _keys_phrase(machine, keys)


def _keys_phrase(step: Step, keys: Sequence[str]) -> str:
    words = sorted({_property_words(step, key) for key in keys})
    return f"{', '.join(words)} change" if words else "provider-side change"


def _consequence(status: str, disk: Step | None) -> str:
    disk_lost = disk is not None and disk.op in ("replace", "delete", "create")
    if status == REPLACED:
        if disk is None:
            return "replaced by a new clone, its disks recreated (their data is lost)"
        return "replaced, disk recreated (its data is lost)" if disk_lost else "replaced, disk kept"
    return "disk recreated (its data is lost)" if disk_lost else "in place"


# --------------------------------------------------------------------------- other components
def _touched(step: Step, preview: Preview) -> bool:
    return step.changes or step.urn in preview.drift


def _resource_change(step: Step, section: Section, label: str, preview: Preview) -> ResourceChange:
    words: list[str] = []
    drift = preview.drift.get(step.urn)
    if drift is not None:
        if drift.gone:
            words.append("deleted on the host")
        else:
            words.append(f"changed on the host ({_drift_words(step, drift)})")
    changes, diffs = _value_changes(step) if step.op in ("update", "replace") else ([], [])
    op = OP_WORDS.get(step.op, step.op) if step.changes else "unchanged"
    text = op + (": " + ", ".join(changes) if changes else "")
    if drift is not None:
        text = "; ".join(words) + (f"; {text}" if step.changes else "; the plan leaves it")
    return ResourceChange(
        section=section,
        component=label,
        resource=_host_side_name(step),
        kind=kind_of(step),
        change=text,
        diffs=tuple(diffs),
        where=_where(step),
        pulumi_name=step.name,
    )


def _told_apart(rows: list[ResourceChange]) -> list[ResourceChange]:
    """Rows whose kind and name repeat in a section: told apart by host, else by Pulumi name."""
    named = Counter((row.section, row.kind, row.resource) for row in rows)
    placed = Counter((row.section, row.kind, row.resource, row.where) for row in rows)
    told = []
    for row in rows:
        if named[row.section, row.kind, row.resource] == 1:
            told.append(row)
        elif row.where and placed[row.section, row.kind, row.resource, row.where] == 1:
            told.append(replace(row, name_on_other_hosts=True))
        else:
            told.append(replace(row, resource=row.pulumi_name))
    return told


def _host_side_name(step: Step) -> str:
    """What the object is called where it lives (`dev-web`, `dev-web-fw`, a provider's URI), else its Pulumi name."""
    inputs = step.inputs
    for key in ("name", "fileName", "groupId", "roleId", "poolId", "uri", "endpoint"):
        value = inputs.get(key)
        if isinstance(value, str) and value and value not in (SECRET, UNKNOWN):
            return value
    return step.name


def _where(step: Step) -> str:
    """The host an object is on (a libvirt URI, a Proxmox node), "" when it is not on one host."""
    for key in ("nodeName", "uri"):
        value = step.inputs.get(key)
        if isinstance(value, str) and value not in (SECRET, UNKNOWN) and not step.type.startswith("pulumi:providers:"):
            return value
    return ""


def _changed_keys(step: Step) -> list[str]:
    """Top-level properties that change: as the engine reports them, else from the inputs."""
    reported = [*step.replace_keys, *step.diff_keys, *step.detailed_diff]
    keys = {re.split(r"[.\[]", key, maxsplit=1)[0] for key in reported}
    if not keys and step.old is not None and step.new is not None:
        old, new = step.old.inputs, step.new.inputs
        keys = {key for key in set(old) | set(new) if old.get(key) != new.get(key)}
    return sorted(keys)


def _value_changes(step: Step) -> tuple[list[str], list[tuple[str, str]]]:
    old = step.old.inputs if step.old else {}
    new = step.new.inputs if step.new else {}
    phrases: list[str] = []
    diffs: list[tuple[str, str]] = []
    for key in _changed_keys(step):
        before, after = _shown(old.get(key)), _shown(new.get(key))
        if before is not None and after is not None:
            phrases.append(f"{key} {before} → {after}")
            continue
        phrases.append(f"{key} changed")
        if isinstance(old.get(key), str) and isinstance(new.get(key), str) and SECRET not in (old[key], new[key]):
            diffs.append((key, _unified(old[key], new[key])))
    return phrases, diffs


def _shown(value: Any) -> str | None:
    """A value as the review shows it inline, or None when it is too long for a line."""
    if value == SECRET:
        return SECRET
    if value == UNKNOWN:
        return "(known after deploy)"
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= SHORT_VALUE and "\n" not in text else None


def _unified(before: str, after: str) -> str:
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=1))
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"... {len(lines) - DIFF_LINES} more lines"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- expiry
def _expiring(vms: Sequence[VmChange], today: dt.date, warn_days: int) -> list[Expiry]:
    found = []
    for vm in vms:
        if vm.status == REMOVED:
            continue
        expires = rules.parse_iso_date(vm.expires)
        if expires is not None and (expires - today).days <= warn_days:
            found.append(Expiry(vm.shown_name, vm.owner, expires, (expires - today).days))
    return sorted(found, key=lambda item: (item.expires, item.vm))
