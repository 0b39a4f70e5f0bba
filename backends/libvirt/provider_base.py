"""What our libvirt dynamic providers share: a diff by declared keys, and how `read` says "gone"."""

from __future__ import annotations

from typing import Any, ClassVar

from pulumi.dynamic import DiffResult, ReadResult, ResourceProvider


class LibvirtProvider(ResourceProvider):
    """A provider for one kind of libvirt object with a fixed name on one host.

    `replace_keys` are inputs libvirt cannot change on an existing object: a change replaces it,
    deleting the old one first (the name is fixed, so the new one cannot exist beside it).
    `update_keys` are inputs `update` brings about in place (a stopped object started, autostart).
    `optional_replace_keys` replace like `replace_keys` but may be absent (inputs added after objects
    of the kind were deployed: absent in their state and in the new inputs, they change nothing);
    the kind is told from the other keys and `identity_keys` (`describe.dynamic_provider`).
    """

    replace_keys: ClassVar[tuple[str, ...]] = ()
    optional_replace_keys: ClassVar[tuple[str, ...]] = ()
    update_keys: ClassVar[tuple[str, ...]] = ()
    identity_keys: ClassVar[tuple[str, ...]] = ()
    """Inputs that tell the kind apart without changing anything (for a kind that never changes)."""
    kind: ClassVar[str] = "object"

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in (*self.replace_keys, *self.optional_replace_keys) if olds.get(key) != news.get(key)]
        updates = [key for key in self.update_keys if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(replaces or updates), replaces=replaces, delete_before_replace=True)


def gone() -> ReadResult:
    """What `read` returns for an object deleted behind Pulumi's back: an empty id means gone."""
    return ReadResult(id_="", outs={})


def unchanged_in_state(id_: str, props: dict[str, Any]) -> ReadResult:
    """What `read` returns when the host cannot show the object now but it is not known to be gone."""
    return ReadResult(id_=id_, outs=dict(props))
