"""Checks that a Pulumi package schema serves every token that a Python SDK of the package uses.

    python3 scripts/sdk_tokens.py SCHEMA_JSON SDK_PACKAGE_DIR

SDK_PACKAGE_DIR is the SDK's import package, installed (``.../site-packages/pulumi_proxmoxve``) or
unpacked from its wheel. The SDK is read as text, never imported, so any Python 3.11 runs this
(scripts/engine.sh runs it right after the schema generator, before building the provider). What the
SDK uses, it says in its own sources:

- resources: the type token each class passes to its base constructor
  (``super(VmLegacy, __self__).__init__('proxmoxve:index/vmLegacy:VmLegacy', ...)``), and the
  tokens its ``_utilities.register(resource_modules=...)`` tables map back to classes;
- functions: the token of each ``pulumi.runtime.invoke``/``invoke_output`` call;
- provider configuration: the keys ``config/vars.py`` reads (``__config__.get('apiToken')``);
- the package name, from ``pulumi-plugin.json``.

Exit status 1, listing them, when the schema lacks any of these; tokens only the schema has are
counted, not refused (the SDK cannot reach them, so they break nothing).
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INVOKES = {"invoke", "invoke_output", "invoke_single", "invoke_async"}
CONFIG_READERS = {"get", "get_bool", "get_int", "get_float", "get_object", "require", "get_secret"}


@dataclass
class Tokens:
    """The tokens of one package: resource type -> Python class, functions, config keys."""

    package: str = ""
    version: str = ""
    resources: dict[str, str] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)
    config: set[str] = field(default_factory=set)


def _string(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def sdk_tokens(sdk: Path) -> Tokens:
    """What the SDK package in folder `sdk` uses, read from its sources."""
    plugin = json.loads((sdk / "pulumi-plugin.json").read_text(encoding="utf-8"))
    found = Tokens(package=str(plugin["name"]), version=str(plugin.get("version", "")))
    for source in sorted(sdk.rglob("*.py")):
        module = ".".join(source.relative_to(sdk.parent).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            first = _string(node.args[0]) if node.args else None
            target = node.func.value
            if node.func.attr == "__init__" and isinstance(target, ast.Call) and first and ":" in first:
                if isinstance(target.func, ast.Name) and target.func.id == "super" and target.args:
                    owner = target.args[0]
                    found.resources.setdefault(first, f"{module}.{owner.id if isinstance(owner, ast.Name) else '?'}")
            elif node.func.attr in INVOKES and first and ":" in first:
                found.functions.add(first)
            elif node.func.attr in CONFIG_READERS and isinstance(target, ast.Name) and target.id == "__config__":
                if first:
                    found.config.add(first)
            elif node.func.attr == "register" and isinstance(target, ast.Name) and target.id == "_utilities":
                for keyword in node.keywords:
                    table = _string(keyword.value)
                    if keyword.arg == "resource_modules" and table:
                        for entry in json.loads(table):
                            for token, name in entry["classes"].items():
                                found.resources[token] = f"{entry['fqn']}.{name}"  # the name users import
    return found


def schema_tokens(schema: dict[str, Any]) -> Tokens:
    """What a Pulumi package schema (as parsed JSON) serves."""
    return Tokens(
        package=str(schema.get("name", "")),
        version=str(schema.get("version", "")),
        resources={token: "" for token in schema.get("resources", {})},
        functions=set(schema.get("functions", {})),
        config=set(schema.get("config", {}).get("variables", {})),
    )


def missing(sdk: Tokens, schema: Tokens) -> list[str]:
    """One line for each thing the SDK uses that the schema lacks."""
    problems = []
    if sdk.package != schema.package:
        problems.append(f"package name: the SDK's is {sdk.package!r}, the schema's {schema.package!r}")
    problems += [f"resource {t} ({sdk.resources[t]})" for t in sorted(set(sdk.resources) - set(schema.resources))]
    problems += [f"function {t}" for t in sorted(sdk.functions - schema.functions)]
    problems += [f"provider config key {k}" for k in sorted(sdk.config - schema.config)]
    return problems


def main(arguments: list[str]) -> int:
    if len(arguments) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    schema = schema_tokens(json.loads(Path(arguments[0]).read_text(encoding="utf-8")))
    sdk = sdk_tokens(Path(arguments[1]))
    problems = missing(sdk, schema)
    label = f"{sdk.package} {sdk.version} Python SDK"
    if not sdk.resources or not sdk.functions:
        print(f"sdk_tokens: found no resource or no function in {arguments[1]}: is it the SDK's package folder?")
        return 1
    if problems:
        print(f"sdk_tokens: the schema {arguments[0]} lacks {len(problems)} thing(s) the {label} uses:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    extra = (len(set(schema.resources) - set(sdk.resources)), len(schema.functions - sdk.functions))
    print(
        f"sdk_tokens: the schema serves all {len(sdk.resources)} resources, {len(sdk.functions)} functions and "
        f"{len(sdk.config)} provider config keys of the {label} "
        f"(schema-only: {extra[0]} resources, {extra[1]} functions)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
