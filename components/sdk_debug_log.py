"""The Python SDK's own debug messages to the engine: not sent unless asked for.

The SDK (pulumi 3.272, pulumi/runtime/resource.py and rpc_manager.py) sends four to six debug
messages for every resource it registers ("registering resource: ...", "resource registration
prepared: ...", "resource registration successful: ..."), each a blocking `Engine.Log` gRPC call on
the program's event loop, and the engine shows them only with `pulumi --debug` or `-v`. At 1,000 VMs
(5,203 resources, about 25,000 calls) they held the program's event loop for 8.5 s of a 39.8 s preview;
without them the preview took 30.0 s (README, "Performance and scale").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pulumi.log

SDK_DEBUG = pulumi.log.debug
"""The SDK's own `pulumi.log.debug`, as imported (this module is what replaces it)."""

SEND_VARIABLE = "VMFLEET_SDK_DEBUG"
"""Set it to `1` to send the SDK's debug messages again (with `pulumi --debug`, to debug the SDK)."""


def _not_sent(*_arguments: Any, **_keywords: Any) -> None:
    return None


def drop_sdk_debug_messages(environment: Mapping[str, str] = os.environ) -> bool:
    """Stop `pulumi.log.debug` from reaching the engine, unless `VMFLEET_SDK_DEBUG=1` (which puts
    the SDK's function back).

    Every SDK module calls it as `log.debug`, looked up at each call, so replacing the function on
    the module reaches them all. Returns whether messages are now dropped. Info, warnings and errors
    are untouched.
    """
    if environment.get(SEND_VARIABLE) == "1":
        pulumi.log.debug = SDK_DEBUG
        return False
    pulumi.log.debug = _not_sent
    return True
