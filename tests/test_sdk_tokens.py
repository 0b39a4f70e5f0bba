"""scripts/sdk_tokens.py: what a Python SDK uses is read from its sources, and a schema lacking any of it fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.sdk_tokens import missing, schema_tokens, sdk_tokens

ROOT = Path(__file__).resolve().parent.parent

# A miniature SDK written the way the generated pulumi_proxmoxve is.
SDK_FILES = {
    "pulumi-plugin.json": json.dumps({"resource": True, "name": "demo", "version": "1.2.3"}),
    "__init__.py": '''
from . import _utilities
_utilities.register(
    resource_modules="""
[{"pkg": "demo", "mod": "backup/job", "fqn": "pulumi_demo.backup", "classes": {"demo:backup/job:Job": "Job"}}]
""",
    resource_packages="""
[{"pkg": "demo", "token": "pulumi:providers:demo", "fqn": "pulumi_demo", "class": "Provider"}]
""",
)
''',
    "vm_legacy.py": """
class VmLegacy(pulumi.CustomResource):
    def _internal_init(__self__, resource_name, opts=None):
        super(VmLegacy, __self__).__init__(
            'demo:index/vmLegacy:VmLegacy',
            resource_name,
            __props__,
            opts)
""",
    "provider.py": """
class Provider(pulumi.ProviderResource):
    def _internal_init(__self__, resource_name, opts=None):
        super(Provider, __self__).__init__('demo', resource_name, __props__, opts)
""",
    "get_node.py": """
def get_node(node_name=None, opts=None):
    __ret__ = pulumi.runtime.invoke('demo:index/getNode:getNode', __args__, opts=opts).value
def get_node_output(node_name=None, opts=None):
    return pulumi.runtime.invoke_output('demo:index/getNode:getNode', __args__, opts=opts)
""",
    "backup/__init__.py": "",
    "backup/job.py": """
class Job(pulumi.CustomResource):
    def _internal_init(__self__, resource_name, opts=None):
        super(Job, __self__).__init__('demo:backup/job:Job', resource_name, __props__, opts)
""",
    "config/vars.py": """
__config__ = pulumi.Config('demo')
class _ExportableConfig(types.ModuleType):
    @property
    def api_token(self):
        return __config__.get('apiToken')
    @property
    def insecure(self):
        return __config__.get_bool('insecure')
""",
}

COMPLETE_SCHEMA: dict[str, Any] = {
    "name": "demo",
    "config": {"variables": {"apiToken": {}, "insecure": {}, "endpoint": {}}},
    "resources": {"demo:index/vmLegacy:VmLegacy": {}, "demo:backup/job:Job": {}, "demo:index/extra:Extra": {}},
    "functions": {"demo:index/getNode:getNode": {}, "pulumi:providers:demo/terraformConfig": {}},
}


@pytest.fixture
def sdk(tmp_path: Path) -> Path:
    package = tmp_path / "pulumi_demo"
    for name, text in SDK_FILES.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    return package


def test_reads_resources_functions_config_and_plugin_from_the_sources(sdk: Path) -> None:
    found = sdk_tokens(sdk)
    assert (found.package, found.version) == ("demo", "1.2.3")
    assert found.resources == {
        "demo:index/vmLegacy:VmLegacy": "pulumi_demo.vm_legacy.VmLegacy",
        "demo:backup/job:Job": "pulumi_demo.backup.Job",  # the registered name wins
    }
    assert found.functions == {"demo:index/getNode:getNode"}
    assert found.config == {"apiToken", "insecure"}


def test_a_complete_schema_lacks_nothing_and_may_have_more(sdk: Path) -> None:
    assert missing(sdk_tokens(sdk), schema_tokens(COMPLETE_SCHEMA)) == []


def test_each_thing_the_schema_lacks_is_named(sdk: Path) -> None:
    schema = json.loads(json.dumps(COMPLETE_SCHEMA))
    schema["name"] = "other"
    del schema["resources"]["demo:backup/job:Job"]
    del schema["functions"]["demo:index/getNode:getNode"]
    del schema["config"]["variables"]["apiToken"]
    assert missing(sdk_tokens(sdk), schema_tokens(schema)) == [
        "package name: the SDK's is 'demo', the schema's 'other'",
        "resource demo:backup/job:Job (pulumi_demo.backup.Job)",
        "function demo:index/getNode:getNode",
        "provider config key apiToken",
    ]


def test_the_command_fails_on_a_lacking_schema_and_passes_on_a_complete_one(sdk: Path, tmp_path: Path) -> None:
    def run(schema: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "schema.json"
        path.write_text(json.dumps(schema))
        command = [sys.executable, str(ROOT / "scripts" / "sdk_tokens.py"), str(path), str(sdk)]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    complete = run(COMPLETE_SCHEMA)
    assert complete.returncode == 0, complete.stdout + complete.stderr
    assert "all 2 resources, 1 functions and 2 provider config keys of the demo 1.2.3" in complete.stdout
    lacking = run({**COMPLETE_SCHEMA, "resources": {"demo:index/vmLegacy:VmLegacy": {}}})
    assert lacking.returncode == 1
    assert "resource demo:backup/job:Job" in lacking.stdout
