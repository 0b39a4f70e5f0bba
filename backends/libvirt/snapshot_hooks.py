"""Snapshots around `pulumi up`'s changes to libvirt VMs, as Pulumi resource hooks on each Domain.

The engine calls them in the program's process, right before or after it changes a Domain, never in
a preview (https://www.pulumi.com/docs/iac/concepts/options/hooks/):
- before an update of a running VM: a snapshot `vmfleet-<time>-update` whose description names the
  inputs that change, then the VM's retention (`SnapshotPolicy`: at most `keep`, none older than
  `max_age_days`). A change of the tag document only (`metadata`, kept in Pulumi's state and never
  sent to libvirt) takes none.
- before a Domain is deleted:
  - when the VM is still declared, the delete is half of a replacement (new size, new NICs, a
    new template): a snapshot `vmfleet-<time>-replace` if it runs, then all its snapshots are taken
    off the domain, their data left in its disk (`snapshots.detach`), so libvirt can undefine it;
  - otherwise (the VM was removed, or `make down`, which sets `VMFLEET_DESTROY=1`), every snapshot
    is deleted with its data first; the provider would drop only their metadata and leave the data
    in the disk.
- after the replacement is created: the detached snapshots are defined on it (`snapshots.reattach`),
  so they can still be listed and reverted to, and the retention applies; when the replacement
  got a new disk (its Disk was deleted in the same run: a new template), their data went with the
  old disk, and a warning says so.

A failing `before` hook fails that step: the VM is not changed unless its snapshot was taken.
Delete hooks are found by name in the state, so `pulumi destroy` needs `--run-program` (`make down`
passes it). Libvirt calls run in a worker thread, bounded by `host_call`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi

from backends.libvirt import host_call, snapshots
from vmfleet.spec import SnapshotPolicy

T = TypeVar("T")

DESTROY_VARIABLE = "VMFLEET_DESTROY"
"""Set to 1 by `make down` around its `pulumi destroy --run-program`: every delete is a destroy."""

UNSENT_KEYS = frozenset({"metadata"})
"""Domain inputs that never reach libvirt: a change of only these touches nothing on the host."""


_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def changed_inputs(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    """The Domain inputs an update changes. The old ones are as the provider recorded them: the
    engine's own keys (`__provider`, `__defaults`) left out, and MACs in upper case."""
    before, after = _comparable(old or {}), _comparable(new or {})
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))


def _comparable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _comparable(item) for key, item in value.items() if not str(key).startswith("__")}
    if isinstance(value, (list, tuple)):
        return [_comparable(item) for item in value]
    if isinstance(value, str) and _MAC.match(value):
        return value.lower()
    return value


class SnapshotHooks:
    """The hooks of one program run; the adapter tells it each host and each VM it declares."""

    def __init__(
        self,
        policy: SnapshotPolicy,
        destroying: bool,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.policy = policy
        self.destroying = destroying
        self._now = now
        self._hosts: list[str] = []
        self._declared: dict[str, str] = {}  # domain name -> URI of its host
        self._disks: dict[str, str] = {}  # disk volume name -> domain name
        self._detached: dict[str, snapshots.Detached] = {}
        self._new_disk: set[str] = set()
        self._retired: set[str] = set()  # decommissioned in this run: no snapshot, it deletes them
        self.before_update = pulumi.ResourceHook("vmfleet-libvirt-snapshot-before-update", self._before_update)
        self.before_delete = pulumi.ResourceHook("vmfleet-libvirt-snapshots-before-delete", self._before_delete)
        self.after_create = pulumi.ResourceHook("vmfleet-libvirt-snapshots-after-create", self._after_create)
        self.disk_before_delete = pulumi.ResourceHook("vmfleet-libvirt-disk-before-delete", self._disk_deleted)

    def add_host(self, uri: str) -> None:
        if uri not in self._hosts:
            self._hosts.append(uri)

    def declare(self, domain_name: str, uri: str, disk_volume: str, retired: bool = False) -> None:
        self._declared[domain_name] = uri
        self._disks[disk_volume] = domain_name
        if retired:
            self._retired.add(domain_name)

    def domain_hooks(self) -> pulumi.ResourceHookBinding:
        return pulumi.ResourceHookBinding(
            before_update=[self.before_update], before_delete=[self.before_delete], after_create=[self.after_create]
        )

    def disk_hooks(self) -> pulumi.ResourceHookBinding:
        return pulumi.ResourceHookBinding(before_delete=[self.disk_before_delete])

    # ----------------------------------------------------------------------------- the hooks
    async def _before_update(self, args: pulumi.ResourceHookArgs) -> None:
        name = _name(args.old_outputs) or _name(args.new_inputs)
        keys = [key for key in changed_inputs(args.old_inputs, args.new_inputs) if key not in UNSENT_KEYS]
        uri = self._declared.get(name)
        if not self.policy.before_change or not keys or uri is None or name in self._retired:
            return
        description = f"before update by pulumi up: {', '.join(keys)} changed"
        taken = await self._on(
            uri, name, "snapshot before update", lambda d: self._take_and_prune(d, "update", description)
        )
        if taken:
            pulumi.log.info(f"snapshot {taken[0]} of {name} taken ({description})" + _pruned(taken[1]))

    async def _before_delete(self, args: pulumi.ResourceHookArgs) -> None:
        name = _name(args.old_outputs) or _name(args.old_inputs)
        uri = self._declared.get(name)
        if uri is not None and not self.destroying:
            outcome = await self._on(uri, name, "snapshot before replacement", self._take_and_detach)
            if outcome is not None:
                taken, detached = outcome
                if taken is not None:
                    pulumi.log.info(f"snapshot {taken} of {name} taken before it is replaced")
                if detached.documents:
                    self._detached[name] = detached
            return
        uri = uri or await asyncio.to_thread(self._find, args.id, name)
        if uri is None:
            pulumi.log.warn(f"domain {name} is on none of the stack's hosts: its snapshots, if any, were not deleted")
            return
        deleted = await self._on(uri, name, "delete the snapshots", snapshots.delete_all)
        if deleted:
            pulumi.log.info(f"deleted the snapshots of {name} before it is destroyed: {', '.join(deleted)}")

    async def _after_create(self, args: pulumi.ResourceHookArgs) -> None:
        name = _name(args.new_outputs) or _name(args.new_inputs)
        detached = self._detached.pop(name, None)
        uri = self._declared.get(name)
        if detached is None or uri is None:
            return
        if name in self._new_disk:
            pulumi.log.warn(
                f"the snapshots of {name} went with its old disk (it got a new one: a new template): "
                + ", ".join(_snapshot_names(detached))
            )
            return
        outcome = await self._on(uri, name, "carry the snapshots over", lambda domain: self._reattach(domain, detached))
        if outcome:
            names, pruned = outcome
            pulumi.log.info(
                f"the snapshots of {name} carried over to its replacement: {', '.join(names)}" + _pruned(pruned)
            )

    async def _disk_deleted(self, args: pulumi.ResourceHookArgs) -> None:
        domain = self._disks.get(_name(args.old_inputs))
        if domain is not None:
            self._new_disk.add(domain)

    # ----------------------------------------------------------------------------- on the host
    def _take_and_prune(self, domain: Any, change: str, description: str) -> tuple[str, list[str]] | None:
        taken = snapshots.take(domain, change, description, self._now())
        if taken is None:
            return None
        return taken, snapshots.prune(domain, self.policy.keep, self.policy.max_age_days, self._now())

    def _take_and_detach(self, domain: Any) -> tuple[str | None, snapshots.Detached]:
        taken = None
        if self.policy.before_change:
            taken = snapshots.take(domain, "replace", "before replacement by pulumi up", self._now())
        return taken, snapshots.detach(domain)

    def _reattach(self, domain: Any, detached: snapshots.Detached) -> tuple[list[str], list[str]]:
        names = snapshots.reattach(domain, detached)
        return names, snapshots.prune(domain, self.policy.keep, self.policy.max_age_days, self._now())

    def _find(self, uuid: str, name: str) -> str | None:
        """The host among the stack's that has the domain of this UUID (a VM no longer declared)."""
        for uri in self._hosts:
            found = host_call.call(
                uri,
                f"look up domain {name}",
                lambda connection, _progress: host_call.lookup(connection.lookupByUUIDString, uuid) is not None,
                read_only=True,
            )
            if found:
                return uri
        return None

    async def _on(self, uri: str, name: str, what: str, operation: Callable[[Any], T]) -> T | None:
        return await asyncio.to_thread(snapshots.on_host, uri, name, what, operation)


def _name(values: Mapping[str, Any] | None) -> str:
    value = (values or {}).get("name")
    return value if isinstance(value, str) else ""


def _pruned(names: list[str]) -> str:
    return f"; retention deleted {', '.join(names)}" if names else ""


def _snapshot_names(detached: snapshots.Detached) -> list[str]:
    import xml.etree.ElementTree as ET

    return [ET.fromstring(document).findtext("name") or "" for document in detached.documents]
