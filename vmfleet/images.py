"""What a template's image file really holds: its virtual size, read with `qemu-img info`.

The only I/O of planning. The libvirt provider reads `image_path` on the machine that runs Pulumi
(it uploads the file to each host), so that machine can read it at preview too, before any resource
exists. The program passes `virtual_size` to `vmfleet.load.plan` as its `inspect_image` argument;
planning itself stays pure, and tests pass the same function with image files they make.
`image_url` images are not fetched at plan time: their `min_disk_gib` is trusted.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Final

QEMU_IMG: Final[str] = "qemu-img"
"""The inspector's command; Debian package qemu-utils (`scripts/system-packages.sh` installs it)."""

TIMEOUT_SECONDS: Final[float] = 30.0
"""How long `qemu-img info` may take before the image counts as unreadable (a hung NFS mount, say)."""

GIB: Final[int] = 1024**3

ImageInspector = Callable[[str, str], int]
"""(absolute path, image format `qcow2` or `raw`) -> the image's virtual size in bytes.

Raises `ImageUnreadable` when the file is missing or cannot be read as that format."""


class ImageUnreadable(Exception):
    """The image file cannot be inspected; the message says why, worded to follow the path found."""


def virtual_size(path: str, image_format: str, timeout_seconds: float = TIMEOUT_SECONDS) -> int:
    """The virtual size in bytes of the `image_format` image at `path` on this machine.

    Reads the image as the declared format (`qemu-img info -f`), the way libvirt will use it, so a
    qcow2 declared as raw, or the reverse, is caught here. `--force-share` lets it read an image that a
    running QEMU holds open. Raises `ImageUnreadable`: no such file, not a regular file, not readable
    by this user, qemu-img missing, too slow (`timeout_seconds`), or not an image of that format.
    """
    file = Path(path)
    try:
        is_file = file.is_file()
    except OSError as error:
        raise ImageUnreadable(f"it cannot be looked at on this machine ({error.strerror})") from None
    if not is_file and not file.exists():
        raise ImageUnreadable(
            "no such file on this machine (the provider uploads image_path from the machine that runs "
            "Pulumi); build or copy the image there, or fix the path"
        )
    if not is_file:
        raise ImageUnreadable("this is not a regular file; image_path must name the image file itself")
    if not os.access(file, os.R_OK):
        raise ImageUnreadable("this user cannot read the file; make it readable for the user running Pulumi")
    command = [QEMU_IMG, "info", "--output=json", "--force-share", "-f", image_format, str(file)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_seconds, check=False)
    except FileNotFoundError:
        raise ImageUnreadable(
            f"{QEMU_IMG} is not installed on this machine, so the image's size cannot be checked; "
            "install Debian's qemu-utils (`make setup` does)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ImageUnreadable(f"`{QEMU_IMG} info` did not answer within {timeout_seconds:g} s") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise ImageUnreadable(f"{QEMU_IMG} cannot read it as a {image_format} image ({reason}); check image_format")
    try:
        size = json.loads(done.stdout)["virtual-size"]
    except (ValueError, KeyError, TypeError):
        size = None
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ImageUnreadable(f"`{QEMU_IMG} info` reported no virtual size for it")
    return size


def whole_gib(size_bytes: int) -> int:
    """The smallest whole number of GiB that holds `size_bytes`: the least `disk_gib` a clone needs."""
    return -(-size_bytes // GIB)


def gib_text(size_bytes: int) -> str:
    """`3221225472` -> `3 GiB`; `1610612736` -> `1.5 GiB` (at most two decimals); under 1 GiB in MiB."""
    if size_bytes < GIB:
        return f"{-(-size_bytes // 1024**2)} MiB"
    return f"{size_bytes / GIB:.2f}".rstrip("0").rstrip(".") + " GiB"
