"""The vmfleet CrossGuard policy pack. Policies live in `vmpolicies/`, one module each."""

from __future__ import annotations

import sys
from pathlib import Path

# The tag, name and date rules have one home, `vmfleet/rules.py` in the repository this pack
# ships in; the program's own validation reads the same module.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack
from vmpolicies.registry import POLICIES

PolicyPack(
    name="vmfleet-governance",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=POLICIES,
)
