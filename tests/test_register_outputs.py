"""Every ComponentResource calls `register_outputs` exactly once, as its last statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.declarations import ROOT

COMPONENT_FILES = sorted((ROOT / "components").glob("*.py"))


def component_classes(path: Path) -> list[ast.ClassDef]:
    tree = ast.parse(path.read_text())
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(ast.unparse(base).endswith("ComponentResource") for base in node.bases)
    ]


def test_components_exist() -> None:
    names = {cls.name for path in COMPONENT_FILES for cls in component_classes(path)}
    assert names == {
        "Fleet",
        "HostPool",
        "VmTemplate",
        "NetworkSegment",
        "Firewall",
        "TaggedVm",
        "BackupTier",
        "AccessGrant",
        "Monitoring",
    }


@pytest.mark.parametrize("path", COMPONENT_FILES, ids=lambda p: p.name)
def test_register_outputs_once_and_last(path: Path) -> None:
    for cls in component_classes(path):
        init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        calls = [
            node
            for node in ast.walk(init)
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "self.register_outputs"
        ]
        assert len(calls) == 1, f"{cls.name} calls register_outputs {len(calls)} times"
        last = init.body[-1]
        assert isinstance(last, ast.Expr) and last.value is calls[0], f"{cls.name}: register_outputs is not last"
        first = init.body[0]
        assert "super().__init__" in ast.unparse(first), f"{cls.name}: registers itself first"
        token = ast.unparse(first).split("(", 2)[2].split(",")[0].strip("'\"")
        assert token.startswith("vmfleet:") and token.count(":") == 2, f"{cls.name}: token {token!r}"
