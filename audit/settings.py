"""The thresholds an audit judges by, each read from the one place that owns it.

The audit's own (idle CPU, how long a VM may stay shut off, snapshot retention) are the stack's
`vmfleet:audit` config value in `Pulumi.<stack>.yaml`; every key is optional:

    vmfleet:audit:
      idle_window_s: 30          # how long CPU use is sampled; 0 skips idle detection
      idle_cpu_percent: 5        # below this share of its vCPUs over the window, a VM is idle
      shutoff_max_days: 14       # a VM shut off longer than this is out of rule
      snapshot_max_age_days: 7   # a snapshot older than this is out of rule

Those the policy pack also enforces come from the stack's policy config
(`policies/config/<stack>.json`), with the pack's own defaults: the notice window before expiry
(`vm-expiry-notice.warnDays`), the maximum template age (`approved-templates.maxTemplateAgeDays`)
and the extra mandatory tags (`mandatory-tags.extraRequiredTags`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from vmfleet import rules
from vmfleet.load import parse_section, stack_config_value
from vmfleet.spec import Strict

NOT_RUN = "the audit did not run"
COMMAND_LINE = (
    "the command line (IDLE_WINDOW= or --idle-window sets idle_window_s, IDLE_THRESHOLD= or --idle-threshold "
    "idle_cpu_percent)"
)
CONFIG_KEY = "audit"
"""The stack config key (`vmfleet:audit`) of the audit's own thresholds."""


class AuditConfig(Strict):
    """The stack's `vmfleet:audit` value. Numbers only: `true` or `"5"` is refused, not read as one."""

    model_config = ConfigDict(strict=True)

    idle_window_s: float = Field(default=30.0, ge=0, le=3600, description="Seconds between the two CPU samples.")
    idle_cpu_percent: float = Field(
        default=5.0, gt=0, le=100, description="Idle below this CPU use, % of the VM's vCPUs, over the window."
    )
    shutoff_max_days: int = Field(default=14, ge=0, le=3650, description="Days a VM may stay shut off.")
    snapshot_max_age_days: int = Field(default=7, ge=0, le=3650, description="Days a snapshot may be kept.")


@dataclass(frozen=True)
class Thresholds:
    """Everything the findings are judged by, wherever it was read from."""

    idle_window_s: float
    idle_cpu_percent: float
    shutoff_max_days: int
    snapshot_max_age_days: int
    warn_days: int
    """A VM expiring within this many days is listed for its owner (vm-expiry-notice)."""
    max_template_age_days: int
    """A template patched longer ago than this is out of date (approved-templates)."""
    required_tags: tuple[str, ...]
    """Tag keys every VM must carry (mandatory-tags)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "idle_window_s": self.idle_window_s,
            "idle_cpu_percent": self.idle_cpu_percent,
            "shutoff_max_days": self.shutoff_max_days,
            "snapshot_max_age_days": self.snapshot_max_age_days,
            "warn_days": self.warn_days,
            "max_template_age_days": self.max_template_age_days,
            "required_tags": list(self.required_tags),
        }


def audit_config(stack_file: Path, overrides: Mapping[str, float] | None = None) -> AuditConfig:
    """The stack's `vmfleet:audit` value, then `overrides` (the command line's) over it, each checked
    on its own; FleetDeclarationError naming each bad key, its value and the limit it breaks."""
    raw = stack_config_value(stack_file, CONFIG_KEY)
    source = f"{stack_file.name} (vmfleet:{CONFIG_KEY})"
    own = AuditConfig() if raw is None else parse_section(AuditConfig, raw, source, "thresholds", NOT_RUN)
    if not overrides:
        return own
    given = {**own.model_dump(), **overrides}
    return parse_section(AuditConfig, given, COMMAND_LINE, "thresholds", NOT_RUN)


def pack_config(policy_config: Path | None) -> dict[str, Any]:
    """The pack's config file (`policies/config/<stack>.json`), or {} where there is none."""
    if policy_config is None or not policy_config.is_file():
        return {}
    loaded = json.loads(policy_config.read_text())
    return loaded if isinstance(loaded, dict) else {}


def lease_warning_days(policy_config: Path | None) -> int:
    """The pack's vm-expiry-notice `warnDays` (its default where the config sets none); needs the
    pack's folder (policies/) on sys.path."""
    from vmpolicies import expiry_notice
    from vmpolicies.base import settings

    return int(settings(pack_config(policy_config).get(expiry_notice.NAME) or {}, expiry_notice.SCHEMA)["warnDays"])


def thresholds(
    stack_file: Path, policy_config: Path | None, overrides: Mapping[str, float] | None = None
) -> Thresholds:
    """The stack's thresholds: `vmfleet:audit` in `stack_file` (keys of `overrides` replaced) and the
    pack's settings in `policy_config`."""
    from vmpolicies import approved_templates, mandatory_tags
    from vmpolicies.base import settings

    own = audit_config(stack_file, overrides)
    config = pack_config(policy_config)
    templates = settings(config.get(approved_templates.NAME) or {}, approved_templates.SCHEMA)
    tags = settings(config.get(mandatory_tags.NAME) or {}, mandatory_tags.SCHEMA)
    return Thresholds(
        idle_window_s=own.idle_window_s,
        idle_cpu_percent=own.idle_cpu_percent,
        shutoff_max_days=own.shutoff_max_days,
        snapshot_max_age_days=own.snapshot_max_age_days,
        warn_days=lease_warning_days(policy_config),
        max_template_age_days=int(templates["maxTemplateAgeDays"]),
        required_tags=tuple(dict.fromkeys((*rules.REQUIRED_TAGS, *tags["extraRequiredTags"]))),
    )
