"""The stable names under which Pulumi state records our dynamic providers.

Pulumi serialises a dynamic resource's provider object into state (the `__provider` property) and
the engine deserialises it again for every later refresh, update and destroy, long after the code
that wrote it has changed. A provider pickled by its class records the class's import path, so
renaming or moving its module would break `refresh` and `down` of every existing stack with
`ModuleNotFoundError`. Our providers therefore pickle themselves as a call of `provider(<name>)`
in this module (`RecordedProvider.__reduce__`), and this table maps each name to wherever the
class lives today.

The rule (README, "Code that state records"):
- this module's path (`backends/state_registry.py`) and the function `provider` never move or
  change their signature;
- a name in `PROVIDERS` is never removed or renamed; moving a class means editing its entry;
- `tests/test_state_registry.py` checks that every provider pickles to a reference into this
  module only, and that every name resolves.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

PROVIDERS: dict[str, str] = {
    "libvirt/storage-pool": "backends.libvirt.storage:StoragePoolProvider",
    "libvirt/base-image": "backends.libvirt.storage:BaseImageProvider",
    "libvirt/disk": "backends.libvirt.storage:DiskProvider",
    "libvirt/cloud-init-disk": "backends.libvirt.storage:CloudInitDiskProvider",
    "libvirt/network": "backends.libvirt.network:SegmentNetworkProvider",
    "libvirt/nwfilter": "backends.libvirt.nwfilter:NetworkFilterProvider",
    "libvirt/domain-tags": "backends.libvirt.tags:DomainTagsProvider",
    "libvirt/address-reservation": "backends.libvirt.reservation:AddressReservationProvider",
    "libvirt/decommission": "backends.libvirt.decommission:DecommissionProvider",
    "monitoring/text-file": "backends.monitoring.files:TextFileProvider",
}
"""State name -> `module:Class` of the provider that serves it now."""


def provider(name: str) -> Any:
    """A fresh provider for a state name; what every recorded `__provider` calls when loaded."""
    try:
        module_name, _, class_name = PROVIDERS[name].partition(":")
    except KeyError:
        raise LookupError(
            f"no dynamic provider is registered under {name!r} (backends/state_registry.py); a state "
            "name was removed or renamed, which breaks existing stacks: restore it"
        ) from None
    return getattr(importlib.import_module(module_name), class_name)()


class RecordedProvider:
    """Mixed into each dynamic provider: it pickles as `provider(state_name)`, not by its class path."""

    state_name: ClassVar[str]

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return provider, (self.state_name,)
