"""State written by this code still refreshes, previews and destroys after the code moves.

Dynamic resources are recorded in state through `backends/state_registry.py`. This test deploys a
stack, then refactors its copy of the project the way a newcomer would (the dynamic provider
modules move into a new package, every import and the registry's table follow), and runs refresh,
preview and destroy against the state the old layout wrote.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from tests.engine.harness import NOTHING, EphemeralStack, host_objects

pytestmark = pytest.mark.engine

MOVED = ("storage", "network", "nwfilter", "tags")


def move_provider_modules(project: Any) -> None:
    """backends/libvirt/<m>.py -> backends/libvirt/resources/<m>.py, imports and registry updated."""
    libvirt = project / "backends" / "libvirt"
    (libvirt / "resources").mkdir()
    (libvirt / "resources" / "__init__.py").write_text("")
    for module in MOVED:
        shutil.move(libvirt / f"{module}.py", libvirt / "resources" / f"{module}.py")
    pattern = re.compile(r"backends\.libvirt\.(" + "|".join(MOVED) + r")\b")
    for source in project.rglob("*.py"):
        text = source.read_text()
        moved = pattern.sub(r"backends.libvirt.resources.\1", text)
        if moved != text:
            source.write_text(moved)
    shutil.rmtree(libvirt / "__pycache__", ignore_errors=True)


def test_state_survives_moving_the_provider_modules(ephemeral: EphemeralStack, fleet: dict[str, Any]) -> None:
    ephemeral.declare(fleet)
    ephemeral.up()
    move_provider_modules(ephemeral.project)
    assert not (ephemeral.project / "backends" / "libvirt" / "storage.py").exists()

    ephemeral.refresh()
    assert ephemeral.preview().changes() == {}, "the moved code reads the old state as the same fleet"
    ephemeral.destroy()
    assert host_objects(ephemeral.prefix) == NOTHING
