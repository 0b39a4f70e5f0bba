"""Every libvirt call of our dynamic providers goes through `call`: bounded, and named on failure.

libvirt-python blocks in C for as long as the daemon takes to answer, and a host that stops
answering (a hung libvirtd, an SSH link that went dark, a daemon stopped with SIGSTOP) would hold a
Pulumi operation forever. `call` runs the operation, connection included, in a worker thread and
gives up when it makes no progress for the allowed time, raising `HostTimeout` that names the
operation, the object and the host. The abandoned thread stays blocked in libvirt until the
dynamic-provider process ends with the Pulumi run; nothing waits for it.

The allowed time is `VMFLEET_HOST_TIMEOUT` seconds (default 120) of no progress: a plain call must
finish within it; an upload must keep sending data (each chunk counts as progress), so a large
image over a slow link is not cut off while it moves. The Go provider that manages Domains reads
the same variable (engine/libvirt-provider/provider/bounded.go).

libvirt is imported lazily: these functions run inside the dynamic-provider process, and the
program itself only needs them for `probe`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

TIMEOUT_VARIABLE = "VMFLEET_HOST_TIMEOUT"
DEFAULT_TIMEOUT_S = 120.0


class HostTimeout(RuntimeError):
    """A host did not answer within the allowed time; the message names what and where."""


class HostError(RuntimeError):
    """A libvirt operation failed; the message names what and where, and libvirt's own words."""


def timeout_s() -> float:
    """Seconds without progress after which an operation on a host is abandoned."""
    raw = os.environ.get(TIMEOUT_VARIABLE, "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        value = DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


class Progress:
    """What an operation touches whenever it moves forward (an upload chunk, for instance)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def touch(self) -> None:
        self.last = time.monotonic()


def call(uri: str, what: str, operation: Callable[[Any, Progress], T], *, read_only: bool = False) -> T:
    """Open `uri`, run `operation(connection, progress)` and close, within the host timeout.

    `what` says what is being done to which object ("create storage pool dev-vmfleet"); it starts
    every error message. Raises HostTimeout when the operation makes no progress for `timeout_s()`
    seconds, HostError when libvirt reports an error, and re-raises anything else `operation` raises.
    """
    limit = timeout_s()
    progress = Progress()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            connection = _open(uri, read_only)
            try:
                outcome["value"] = operation(connection, progress)
            finally:
                connection.close()
        except BaseException as error:  # handed to the waiting thread, which re-raises it
            outcome["error"] = error

    worker = threading.Thread(target=work, name=f"libvirt: {what}", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=min(1.0, limit))
        if worker.is_alive() and time.monotonic() - progress.last > limit:
            raise HostTimeout(
                f"{what} on {uri}: no answer from the host within {limit:.0f} s. Check that its libvirt "
                f"daemon answers (`virsh -c {uri} list`) and the link to it; then run the command again. "
                f"(Set {TIMEOUT_VARIABLE} to allow more time.)"
            )
    if "error" in outcome:
        error = outcome["error"]
        if is_libvirt_error(error):
            raise HostError(f"{what} on {uri}: {error}") from None
        raise error
    return outcome["value"]  # type: ignore[no-any-return]


def _open(uri: str, read_only: bool) -> Any:
    import libvirt

    # libvirt-python prints every error to stderr by default, even ones we handle (a lookup of an
    # object that does not exist yet); errors still raise libvirtError.
    libvirt.registerErrorHandler(lambda _context, _error: None, None)
    return libvirt.openReadOnly(uri) if read_only else libvirt.open(uri)


def is_libvirt_error(error: BaseException) -> bool:
    import libvirt

    return isinstance(error, libvirt.libvirtError)


def is_missing(error: BaseException) -> bool:
    """True when libvirt says the object looked up does not exist."""
    import libvirt

    missing = {
        libvirt.VIR_ERR_NO_DOMAIN,
        libvirt.VIR_ERR_NO_NETWORK,
        libvirt.VIR_ERR_NO_NWFILTER,
        libvirt.VIR_ERR_NO_STORAGE_POOL,
        libvirt.VIR_ERR_NO_STORAGE_VOL,
        libvirt.VIR_ERR_NO_DOMAIN_METADATA,
    }
    return isinstance(error, libvirt.libvirtError) and error.get_error_code() in missing


def lookup(find: Callable[[str], T], name: str) -> T | None:
    """`find(name)` (a libvirt lookup), or None when the object does not exist."""
    try:
        return find(name)
    except Exception as error:
        if is_missing(error):
            return None
        raise
