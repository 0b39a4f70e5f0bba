"""The review's words for the monitoring files (review/changes.py `kind_of`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.monitoring.files import TextFileProvider

DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"


def kind(resource_type: str, props: Mapping[str, Any]) -> str | None:
    """`Prometheus file` for a monitoring file; None for any other resource."""
    if resource_type == DYNAMIC_TYPE and set(props) >= {"path", "content"} and len(set(props) - {"__provider"}) == 2:
        return TextFileProvider.kind
    return None
