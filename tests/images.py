"""Real image files for tests, made with the real qemu-img: sparse, so a few hundred KiB on disk."""

from __future__ import annotations

import copy
import functools
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from vmfleet.images import QEMU_IMG


def make_image(directory: Path, name: str, virtual_size: str = "1G", image_format: str = "qcow2") -> str:
    """Create `directory/name`, an empty `image_format` image of `virtual_size` (`1G`, `3G`, `1536M`)."""
    path = directory / name
    try:
        subprocess.run(
            [QEMU_IMG, "create", "-q", "-f", image_format, str(path), virtual_size],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except FileNotFoundError:
        raise RuntimeError(
            f"the unit tests need {QEMU_IMG} (Debian package qemu-utils; `make setup` installs it)"
        ) from None
    return str(path)


@functools.cache
def _stand_in_directory() -> tempfile.TemporaryDirectory[str]:
    # Kept alive by the cache for the whole test session; removed when the interpreter exits.
    return tempfile.TemporaryDirectory(prefix="vmfleet-test-images-")


def with_stand_in_images(raw: Any) -> Any:
    """A copy of `raw` whose templates' `image_path`s name sparse 1 GiB images made here.

    The program reads every `image_path` with qemu-img before it registers anything. The declarations
    the unit tests run through `__main__.py` name files that need not exist where the tests run: the
    stack files name the dev image that `scripts/image.sh` builds (as root, with apt and a kernel
    download, which the unit tier must never need), and `valid()` names a path that exists nowhere.
    Pointing them at stand-ins keeps the test independent of what this machine has built, while the
    program's real inspector still reads a real file. The dev image is a 24 MB disk, so a 1 GiB
    stand-in matches what its templates need. Anything that is not a declaration is returned as it is.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("templates"), list):
        return raw
    raw = copy.deepcopy(raw)
    directory = Path(_stand_in_directory().name)
    for template in raw["templates"]:
        if isinstance(template, dict) and isinstance(template.get("image_path"), str):
            image_format = "raw" if template.get("image_format") == "raw" else "qcow2"
            name = f"{Path(template['image_path']).name}.{image_format}"
            if not (directory / name).exists():
                make_image(directory, name, "1G", image_format)
            template["image_path"] = str(directory / name)
    return raw
