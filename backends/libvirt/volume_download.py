"""A volume and its backing chain, read from any libvirt host over its connection (local or remote
alike), then made into one standalone qcow2 image here.

Each layer is streamed with `virStorageVolDownload` (its bytes as the host stores them); every
chunk counts as progress for `host_call`'s timeout, so a large disk over a slow link is not cut off
while a host that stops answering is. The layers are then joined on this machine: each overlay's
backing file is pointed at the downloaded layer below it (`qemu-img rebase -u`, header only) and
`qemu-img convert -c` writes the compressed standalone image.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from backends.libvirt.host_call import Progress
from vmfleet.images import QEMU_IMG

CHUNK_BYTES = 4 * 1024 * 1024
JOIN_TIMEOUT_S = 3600


@dataclass(frozen=True)
class Layer:
    """One downloaded volume of a chain: where it is here, its format, where it was on the host."""

    file: Path
    volume_format: str
    host_path: str


def download_chain(conn: Any, volume: Any, folder: Path, stem: str, progress: Progress) -> list[Layer]:
    """`volume` and every volume under it (its backing store, that one's, ...), top first, into
    `folder` as `<stem>.layer<N>`. A backing file that is not a volume of a pool raises LookupError."""
    layers: list[Layer] = []
    current: Any = volume
    while current is not None:
        description = ET.fromstring(current.XMLDesc(0))
        target = folder / f"{stem}.layer{len(layers)}"
        _download(conn, current, target, progress)
        layers.append(Layer(target, _format(description.find("target")), str(current.path())))
        backing = description.find("backingStore")
        below = backing.findtext("path") if backing is not None else None
        if not below:
            break
        try:
            current = conn.storageVolLookupByPath(below)
        except Exception as error:  # libvirtError: a backing file outside every pool
            raise LookupError(f"the backing file {below} of {current.path()} is in no storage pool") from error
    return layers


def join(layers: list[Layer], target: Path) -> None:
    """The chain as one compressed qcow2 at `target`; the layer files are removed."""
    try:
        for upper, lower in itertools.pairwise(layers):
            _qemu_img("rebase", "-u", "-f", upper.volume_format, "-b", str(lower.file), "-F", lower.volume_format,
                      str(upper.file))  # fmt: skip
        _qemu_img("convert", "-q", "-c", "-f", layers[0].volume_format, "-O", "qcow2", str(layers[0].file), str(target))
    finally:
        for layer in layers:
            layer.file.unlink(missing_ok=True)


def _download(conn: Any, volume: Any, target: Path, progress: Progress) -> None:
    stream = conn.newStream(0)
    try:
        volume.download(stream, 0, 0, 0)
        with target.open("wb") as out:
            while data := stream.recv(CHUNK_BYTES):
                out.write(data)
                progress.touch()
        stream.finish()
    except BaseException:
        with contextlib.suppress(Exception):  # the stream may be closed already
            stream.abort()
        raise


def _format(target: ET.Element | None) -> str:
    found = target.find("format") if target is not None else None
    return (found.get("type") if found is not None else None) or "raw"


def _qemu_img(*arguments: str) -> None:
    subprocess.run([QEMU_IMG, *arguments], check=True, capture_output=True, text=True, timeout=JOIN_TIMEOUT_S)
