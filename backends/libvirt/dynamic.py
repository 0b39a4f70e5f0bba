"""Where state written before `backends/state_registry.py` existed finds its dynamic providers.

Stacks deployed by earlier versions recorded `backends.libvirt.dynamic.NetworkFilterProvider` and
`backends.libvirt.dynamic.DomainTagsProvider` by class path (see the registry's docstring). Keep
these two names importable from this module for as long as such state may exist; new state records
registry names instead.
"""

from backends.libvirt.nwfilter import NetworkFilterProvider
from backends.libvirt.tags import DomainTagsProvider

__all__ = ["DomainTagsProvider", "NetworkFilterProvider"]
