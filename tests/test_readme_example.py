"""The declaration the README shows is a valid one: documentation that cannot drift from the code."""

from __future__ import annotations

import re

import yaml

from tests.declarations import ROOT
from vmfleet.load import plan


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
