"""What must stop a deployment does so before anything is created, and advisories never block."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from pulumi import automation as auto

from tests.declarations import ROOT
from tests.engine.harness import NOTHING, URI, EphemeralStack, Run, host_objects, policy_options

pytestmark = pytest.mark.engine


def dev_policy_config(prefix: str, **overrides: dict[str, Any]) -> dict[str, Any]:
    """The shipped dev policy config, pointed at this stack's environment, networks and names."""
    config: dict[str, Any] = json.loads((ROOT / "policies" / "config" / "dev.json").read_text())
    config["mandatory-tags"]["environment"] = "test"
    config["segmentation"]["networks"] = [f"{prefix}-front"]
    config["approved-templates"]["approved"] = ["tiny"]
    config["naming"]["pattern"] = f"^{prefix}-[a-z][a-z0-9]*(-[a-z0-9]+)*-[0-9]{{2}}$"
    for name, values in overrides.items():
        config[name] = {**config[name], **values}
    return config


def test_invalid_declarations_fail_before_anything_is_created(ephemeral: EphemeralStack, fleet: dict[str, Any]) -> None:
    broken = copy.deepcopy(fleet)
    broken["vms"][0]["tags"]["expires"] = "someday"
    broken["vms"][0]["segments"] = ["front", "dmz"]
    broken["vms"][0]["count"] = 30  # would not fit either, but shape and references are reported first
    ephemeral.declare(broken)
    with pytest.raises(auto.CommandError) as caught:
        ephemeral.up()
    text = str(caught.value)
    assert "has 2 problems; nothing was deployed" in text
    assert "vms[0] (web).tags.expires: found 'someday'" in text
    assert "vms[0] (web).segments[1]: 'dmz' is not a declared segment" in text
    assert "Traceback" not in text, "a user mistake is not a crash"
    assert host_objects(ephemeral.prefix) == NOTHING

    over_capacity = copy.deepcopy(fleet)
    over_capacity["vms"][0]["count"] = 30  # 30 VMs of 128 MiB on a 2048 MiB host
    ephemeral.declare(over_capacity)
    with pytest.raises(auto.CommandError, match="cannot hold its VMs"):
        ephemeral.preview()
    assert host_objects(ephemeral.prefix) == NOTHING


def test_compliant_fleet_passes_the_policy_pack(ephemeral: EphemeralStack, fleet: dict[str, Any]) -> None:
    ephemeral.declare(fleet)
    run = ephemeral.preview(ephemeral.policy_config(dev_policy_config(ephemeral.prefix)))
    assert run.policy == [], [event.message for event in run.policy]


def test_violations_are_reported_with_their_levels_and_a_mandatory_one_blocks_up(
    ephemeral: EphemeralStack, fleet: dict[str, Any]
) -> None:
    expired = copy.deepcopy(fleet)
    expired["vms"][0]["tags"]["expires"] = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    ephemeral.declare(expired)
    config = ephemeral.policy_config(dev_policy_config(ephemeral.prefix, **{"sizing-limits": {"maxMemoryMib": 64}}))

    run = _events_of(ephemeral, config)
    levels = {(event.policy_name, event.enforcement_level) for event in run.policy}
    assert levels == {("vm-lifespan", "mandatory"), ("sizing-limits", "advisory")}
    lifespan = next(event for event in run.policy if event.policy_name == "vm-lifespan")
    assert f"VM '{ephemeral.prefix}-web-01' breaks lifespan: it expired on" in lifespan.message

    # `make up` runs `pulumi up --yes`, which previews first: the violation stops it before any change.
    result = ephemeral.cli_up(config)
    assert result.returncode != 0
    assert "[mandatory]" in result.stdout and "vm-lifespan" in result.stdout
    assert host_objects(ephemeral.prefix) == NOTHING, "a mandatory violation stops up before any change"


def test_advisory_violations_do_not_block(ephemeral: EphemeralStack, fleet: dict[str, Any]) -> None:
    ephemeral.declare(fleet)
    config = ephemeral.policy_config(dev_policy_config(ephemeral.prefix, naming={"pattern": "^prod-.*$"}))
    run = ephemeral.up(config)
    assert {(event.policy_name, event.enforcement_level) for event in run.policy} == {("naming", "advisory")}
    assert host_objects(ephemeral.prefix)["domains"] == [f"{ephemeral.prefix}-web-01"]


def _events_of(ephemeral: EphemeralStack, config: str) -> Run:
    """The policy events of a preview that a mandatory violation fails."""
    run = Run()
    assert ephemeral.stack is not None
    with pytest.raises(auto.CommandError, match="preview failed"):
        ephemeral.stack.preview(on_event=run.on_event, on_output=run.output.append, **policy_options(config))
    return run


def test_a_mandatory_policy_blocks_at_preview_when_what_it_judges_is_unknown(ephemeral: EphemeralStack) -> None:
    """A Domain made by some other program, whose tag document is computed from another resource."""
    prefix = ephemeral.prefix

    def program() -> None:
        import pulumi
        import pulumi_libvirt as libvirt

        provider = libvirt.Provider("host", uri=URI)
        network = libvirt.Network(
            "net", name=f"{prefix}-computed", mode="none", opts=pulumi.ResourceOptions(provider=provider)
        )
        libvirt.Domain(
            "vm",
            name=f"{prefix}-web-01",
            type="qemu",
            memory=128,
            metadata=network.id.apply(lambda network_id: json.dumps({"schema": "vmfleet/v1", "network": network_id})),
            network_interfaces=[libvirt.DomainNetworkInterfaceArgs(network_name=f"{prefix}-computed")],
            opts=pulumi.ResourceOptions(provider=provider),
        )

    stack = auto.create_or_select_stack(
        f"{ephemeral.stack_name}-inline",
        project_name="vmfleet-unknowns",
        program=program,
        opts=auto.LocalWorkspaceOptions(
            env_vars=ephemeral.environment,
            pulumi_home=ephemeral.environment["PULUMI_HOME"],
            pulumi_command=ephemeral.command,
            secrets_provider="passphrase",
            project_settings=auto.ProjectSettings(name="vmfleet-unknowns", runtime="python"),
        ),
    )
    run = Run()
    config = ephemeral.policy_config(dev_policy_config(prefix))
    with pytest.raises(auto.CommandError, match="preview failed"):
        stack.preview(on_event=run.on_event, on_output=run.output.append, **policy_options(config))
    blocking = [event for event in run.policy if event.enforcement_level == "mandatory"]
    assert {event.policy_name for event in blocking} >= {"mandatory-tags", "vm-lifespan"}
    for event in blocking:
        assert f"{prefix}-web-01" in event.message and "metadata" in event.message, event.message
    assert not [event for event in run.policy if "can't run policy" in event.message]
    assert host_objects(prefix) == NOTHING
