"""The declaration the README shows is a valid one: documentation that cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.declarations import ROOT, stack_declaration, valid
from tests.images import make_image
from vmfleet.images import virtual_size
from vmfleet.load import plan
from vmfleet.problems import FleetDeclarationError


def test_readme_model_example_plans() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The model", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "the model section shows a yaml example"
    declaration = yaml.safe_load(block.group(1))["config"]["vmfleet:fleet"]
    result = plan(declaration)
    web = result.instances[0]
    assert (web.name, web.memory_mib, web.size) == ("web-01", 192, "custom")
    assert web.tags["role"] == "frontend" and web.tags["owner"] == "platform-team@example.com"


def _readme_shows(text: str) -> bool:
    return f"```\n{text}\n```" in (ROOT / "README.md").read_text()


def _error_of(declaration: dict[str, Any]) -> str:
    with pytest.raises(FleetDeclarationError) as caught:
        plan(declaration, source="Pulumi.dev.yaml (vmfleet:fleet)")
    return str(caught.value)


def test_readme_error_examples_are_what_the_dev_stack_reports() -> None:
    bad_input = stack_declaration("dev")
    bad_input["vms"][0]["tags"]["expires"] = "31/12/2027"
    bad_input["vms"][1]["template"] = "golden"
    assert _readme_shows(_error_of(bad_input)), _error_of(bad_input)

    too_big = stack_declaration("dev")
    too_big["vms"][1]["count"] = 6
    assert _readme_shows(_error_of(too_big)), _error_of(too_big)


def test_readme_protected_removal_example_is_what_the_prod_stack_reports() -> None:
    deployed = plan(stack_declaration("prod")).protected
    removed = stack_declaration("prod")
    removed["vms"][3].update(count=0, protect=False)
    with pytest.raises(FleetDeclarationError) as caught:
        plan(removed, source="Pulumi.prod.yaml (vmfleet:fleet)", previously_protected=deployed)
    assert removed["vms"][3]["name"] == "worker"
    assert _readme_shows(str(caught.value)), str(caught.value)


def test_readme_image_example_is_what_the_program_reports(tmp_path: Path) -> None:
    big = make_image(tmp_path, "big.qcow2", "3G")
    raw = valid()
    raw["templates"][0]["image_path"] = big
    raw["templates"].append({**raw["templates"][0], "name": "golden", "image_path": "/x.qcow2"})
    raw["vms"][1]["size"] = "big"
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw, inspect_image=virtual_size)
    readme = (ROOT / "README.md").read_text()
    shown = [str(problem).replace(big, "/srv/images/big.qcow2") for problem in caught.value.problems]
    assert len(shown) == 2
    for line in shown:
        assert f"  - {line}\n" in readme, line
