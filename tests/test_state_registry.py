"""Dynamic providers are recorded in state by stable names, never by the path of their class.

State holds each dynamic resource's provider pickled (`__provider`); the engine loads it again for
every later refresh and destroy. These tests check what such a pickle refers to, so moving or
renaming a provider module cannot break existing stacks (README, "Code that state records").
"""

from __future__ import annotations

import importlib
import pickletools
from pathlib import Path

import dill
import pytest
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider

from backends import state_registry
from backends.state_registry import PROVIDERS, RecordedProvider

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_GLOBALS = {("backends.state_registry", "provider")}


def globals_referenced(pickled: bytes) -> set[tuple[str, str]]:
    """(module, name) of every global a pickle refers to (what unpickling will import)."""
    found: set[tuple[str, str]] = set()
    strings: list[str] = []
    for opcode, argument, _position in pickletools.genops(pickled):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(str(argument))
        elif opcode.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
        elif opcode.name == "GLOBAL":
            module, name = str(argument).split(" ", 1)
            found.add((module, name))
    return found


def all_recorded_provider_classes() -> set[type]:
    """Every RecordedProvider subclass under backends/, imported from its file."""
    for path in (ROOT / "backends").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        importlib.import_module(module.removesuffix(".__init__"))
    found: set[type] = set()
    pending = list(RecordedProvider.__subclasses__())
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending += cls.__subclasses__()
    return {cls for cls in found if "state_name" in cls.__dict__}


@pytest.mark.parametrize("state_name", sorted(PROVIDERS))
def test_each_provider_pickles_to_its_state_name_only(state_name: str) -> None:
    provider = state_registry.provider(state_name)
    assert isinstance(provider, ResourceProvider) and isinstance(provider, RecordedProvider)
    assert provider.state_name == state_name
    import base64

    pickled = base64.b64decode(serialize_provider(provider))  # exactly what the SDK writes to state
    assert globals_referenced(pickled) == ALLOWED_GLOBALS, "state would record a module path"
    assert state_name.encode() in pickled
    assert type(dill.loads(pickled)) is type(provider)


def test_every_dynamic_provider_is_registered_under_its_state_name() -> None:
    classes = all_recorded_provider_classes()
    registered = {name: state_registry.provider(name).__class__ for name in PROVIDERS}
    assert {cls.state_name: cls for cls in classes} == registered  # type: ignore[attr-defined]


def test_state_names_are_never_removed() -> None:
    """Names that deployed stacks may hold; extend the list, never shorten it."""
    assert set(PROVIDERS) >= {
        "libvirt/storage-pool",
        "libvirt/base-image",
        "libvirt/disk",
        "libvirt/cloud-init-disk",
        "libvirt/network",
        "libvirt/nwfilter",
        "libvirt/domain-tags",
    }


def test_an_unknown_state_name_says_what_went_wrong() -> None:
    with pytest.raises(LookupError, match="a state name was removed or renamed"):
        state_registry.provider("libvirt/vanished")


def test_state_written_before_the_registry_still_loads() -> None:
    """Earlier versions pickled `backends.libvirt.dynamic.<Class>()` by path; that path must keep working."""
    for class_name, state_name in (
        ("NetworkFilterProvider", "libvirt/nwfilter"),
        ("DomainTagsProvider", "libvirt/domain-tags"),
    ):
        # GLOBAL module class, (), NEWOBJ, {}, BUILD: an instance pickled by its class path.
        old_state = b"cbackends.libvirt.dynamic\n" + class_name.encode() + b"\n)\x81}b."
        loaded = dill.loads(old_state)
        assert isinstance(loaded, RecordedProvider) and loaded.state_name == state_name
