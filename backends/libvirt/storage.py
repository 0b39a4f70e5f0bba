"""Storage on a libvirt host, as Pulumi dynamic resources driven through libvirt-python.

- `StoragePool`: the stack's directory pool on a host. Drift (stopped, autostart off, deleted)
  shows in refresh and `up` restarts or recreates it. Deleting it removes only an empty pool: a
  pool that still holds volumes this stack did not create fails the delete, naming them and the
  command that removes each, and stays in state so `down` can be run again.
- `BaseImage`: a template's image uploaded into the pool.
- `Disk`: a VM disk, a copy-on-write clone of a base image. Growing it is an in-place resize (live,
  through the running VM, when it runs); shrinking is refused at preview; a disk an operator grew
  on the host is left as it is.
- `CloudInitDisk`: a VM's NoCloud ISO (`cloudinit_iso.build`), uploaded into the pool.

Uploads go through libvirt-python's streams on a connection of their own per operation, not
through the Domain provider's go-libvirt client, whose streams can deadlock when another call
shares the connection (dmacvicar/terraform-provider-libvirt#594, #1021); its cloud-init disk also
read the ISO back over a stream after uploading it, which is where `make up` hung. Every libvirt
call is bounded (`host_call`).

Every create that fails part-way removes what it made, so a retry starts clean. A create that finds
an object of its name that the state does not record (what a run killed mid-create leaves, since the
engine never heard of it) takes it over when it is what the create would make (a pool on the same
folder, a disk cloned from the same image); an uploaded volume (a base image, a cloud-init disk)
is replaced, since it may be incomplete and holds nothing that cannot be uploaded again; anything
else is refused, saying how to remove it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import urllib.request
from collections.abc import Callable
from typing import Any, BinaryIO, Optional
from xml.etree import ElementTree as ET

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from backends.libvirt import cloudinit_iso
from backends.libvirt.host_call import HostError, Progress, call, lookup
from backends.libvirt.provider_base import LibvirtProvider, gone, unchanged_in_state
from backends.state_registry import RecordedProvider

CHUNK_BYTES = 4 * 1024 * 1024


def pool_xml(name: str, path: str) -> str:
    """A directory storage pool."""
    root = ET.Element("pool", type="dir")
    ET.SubElement(root, "name").text = name
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "path").text = path
    return ET.tostring(root, encoding="unicode")


def volume_xml(name: str, capacity_bytes: int, volume_format: str, backing: tuple[str, str] | None = None) -> str:
    """A volume of `capacity_bytes`; with `backing` (path, format), a copy-on-write clone of it."""
    root = ET.Element("volume")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "capacity", unit="bytes").text = str(capacity_bytes)
    if volume_format == "qcow2":
        ET.SubElement(root, "allocation", unit="bytes").text = "0"
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "format", type=volume_format)
    if volume_format == "qcow2":
        # qcow2 v3: libvirt's default is 0.10 (v2), which QEMU cannot grow while it holds snapshots
        ET.SubElement(target, "compat").text = "1.1"
    if backing is not None:
        backing_store = ET.SubElement(root, "backingStore")
        ET.SubElement(backing_store, "path").text = backing[0]
        ET.SubElement(backing_store, "format", type=backing[1])
    return ET.tostring(root, encoding="unicode")


def active_pool(conn: Any, uri: str, name: str) -> Any:
    """The pool a volume goes into, or HostError saying why it cannot take one now."""
    pool = lookup(conn.storagePoolLookupByName, name)
    if pool is None:
        raise HostError(f"storage pool {name!r} does not exist on {uri}; `make up` recreates it")
    if not pool.isActive():
        raise HostError(f"storage pool {name!r} on {uri} is stopped; `make up` (which refreshes first) starts it")
    return pool


def start_pool(pool: Any) -> None:
    """Start a stopped pool; another operation may have started it a moment before, which is fine."""
    if pool.isActive():
        return
    try:
        pool.create(0)
    except Exception:
        if not pool.isActive():
            raise


def refuse_foreign(kind: str, name: str, uri: str, remove: str) -> HostError:
    """The error for an object of the stack's name that its state does not record and that differs
    from what the stack would make (what matches is taken over: see the module docstring)."""
    return HostError(
        f"{kind} {name!r} already exists on {uri}, is not in this stack's state and is not what the stack "
        f"would make: another stack uses the same name_prefix, or it was made or changed by hand. Remove it "
        f"(`{remove}`, or `make leftovers STACK=<stack> REMOVE=1` for everything of the stack) and run the "
        "command again"
    )


# ------------------------------------------------------------------------------------ storage pool
class StoragePoolProvider(RecordedProvider, LibvirtProvider):
    """A directory pool. Inputs: `uri`, `name`, `path`, `active` (True), `autostart` (True)."""

    state_name = "libvirt/storage-pool"
    replace_keys = ("uri", "name", "path")
    update_keys = ("active", "autostart")
    kind = "storage pool"

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, uri = props["name"], props["uri"]

        def define(conn: Any, _progress: Progress) -> str:
            existing = lookup(conn.storagePoolLookupByName, name)
            if existing is not None:
                target = ET.fromstring(existing.XMLDesc(0)).findtext("./target/path")
                if target != props["path"]:
                    raise refuse_foreign("storage pool", name, uri, f"virsh -c {uri} pool-undefine {name}")
                start_pool(existing)
                existing.setAutostart(1)
                return str(existing.UUIDString())
            pool = conn.storagePoolDefineXML(pool_xml(name, props["path"]), 0)
            try:
                pool.build(0)
                pool.setAutostart(1)
                pool.create(0)
            except Exception:
                pool.undefine()
                raise
            return str(pool.UUIDString())

        return CreateResult(id_=call(uri, f"create storage pool {name}", define), outs=dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def inspect(conn: Any, _progress: Progress) -> ReadResult:
            pool = lookup(conn.storagePoolLookupByUUIDString, id_)
            if pool is None:
                return gone()
            target = ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") or ""
            live = {"active": bool(pool.isActive()), "autostart": bool(pool.autostart()), "path": target}
            return ReadResult(id_=id_, outs={**props, "name": pool.name(), **live})

        return call(props["uri"], f"read storage pool {props['name']}", inspect)

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        def converge(conn: Any, _progress: Progress) -> None:
            pool = conn.storagePoolLookupByUUIDString(id_)
            if not pool.isActive():
                pool.build(0)  # the directory may be gone too; building an existing one is harmless
                start_pool(pool)
            pool.setAutostart(1 if news["autostart"] else 0)

        call(news["uri"], f"start storage pool {news['name']}", converge)
        return UpdateResult(outs=dict(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        name, uri = props["name"], props["uri"]

        def remove(conn: Any, _progress: Progress) -> None:
            pool = lookup(conn.storagePoolLookupByUUIDString, id_)
            if pool is None:
                return
            start_pool(pool)  # only a running pool lists its volumes
            pool.refresh(0)
            volumes = sorted(set(pool.listVolumes()) - {"lost+found"})  # a file system's own folder
            if volumes:
                commands = "; ".join(f"virsh -c {uri} vol-delete --pool {name} {volume}" for volume in volumes)
                raise HostError(
                    f"storage pool {name!r} still holds volumes this stack did not create: "
                    f"{', '.join(volumes)}. The pool and its folder {props['path']} were kept. Move or delete "
                    f"them ({commands}) and run `make down` again"
                )
            pool.destroy()
            try:
                pool.delete(0)  # removes the folder; refused for a mount point or a non-empty folder
            except Exception as error:
                if not _is_folder_in_use(error):
                    raise
            pool.undefine()

        call(uri, f"delete storage pool {name}", remove)


def _is_folder_in_use(error: BaseException) -> bool:
    """libvirt could not remove the pool's folder (a mount point, or files that are not volumes)."""
    text = str(error).lower()
    return "directory not empty" in text or "device or resource busy" in text


class StoragePool(Resource):
    """The stack's directory storage pool on one host."""

    name: pulumi.Output[str]
    """The pool's name on the host; volumes that use it depend on the pool through it."""

    def __init__(self, name: str, uri: str, pool_name: str, path: str, opts: Optional[pulumi.ResourceOptions]) -> None:
        props = {"uri": uri, "name": pool_name, "path": path, "active": True, "autostart": True}
        super().__init__(StoragePoolProvider(), name, props, opts)


# ----------------------------------------------------------------------------- volumes (shared)
class VolumeProvider(LibvirtProvider):
    """What every volume kind shares: its id is the volume key (its path in a directory pool)."""

    kind = "volume"

    @staticmethod
    def key_of(id_: str) -> str:
        return id_.split(";", 1)[0]

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def inspect(conn: Any, _progress: Progress) -> ReadResult:
            volume = lookup(conn.storageVolLookupByKey, self.key_of(id_))
            if volume is None:
                pool = lookup(conn.storagePoolLookupByName, props["pool"])
                if pool is None or not pool.isActive():
                    # A stopped or undefined pool hides its volumes, which are still files in its
                    # folder; the pool's own refresh reports it, `up` starts or defines it again,
                    # and the volume is there again.
                    return unchanged_in_state(id_, props)
                return gone()
            return ReadResult(id_=id_, outs={**props, **self.live(volume)})

        return call(props["uri"], f"read {self.kind} {props['name']}", inspect)

    def live(self, volume: Any) -> dict[str, Any]:
        """What `read` reports of an existing volume, beyond the stored inputs."""
        return {}

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        def remove(conn: Any, _progress: Progress) -> None:
            volume = lookup(conn.storageVolLookupByKey, self.key_of(id_))
            if volume is None:
                pool = lookup(conn.storagePoolLookupByName, props["pool"])
                if pool is None or pool.isActive():
                    return
                start_pool(pool)  # a stopped pool hides the volume; start it to delete what is ours
                volume = lookup(conn.storageVolLookupByKey, self.key_of(id_))
                if volume is None:
                    return
            volume.delete(0)

        call(props["uri"], f"delete {self.kind} {props['name']}", remove)

    def upload(self, props: dict[str, Any], volume_format: str, open_source: Callable[[], BinaryIO], size: int) -> str:
        """Create a volume of `size` bytes and stream them from `open_source()` into it; returns its key.

        An uploaded volume is made again from its source at will, so one of the same name that the
        state does not record (an interrupted upload, likely incomplete) is replaced, not refused.
        """
        name, uri = props["name"], props["uri"]

        def send(conn: Any, progress: Progress) -> str:
            pool = active_pool(conn, uri, props["pool"])
            stale = lookup(pool.storageVolLookupByName, name)
            if stale is not None:
                stale.delete(0)
            volume = pool.createXML(volume_xml(name, size, volume_format), 0)
            stream = conn.newStream(0)
            try:
                volume.upload(stream, 0, size, 0)
                with open_source() as source:
                    while chunk := source.read(CHUNK_BYTES):
                        while chunk:
                            chunk = chunk[stream.send(chunk) :]
                            progress.touch()
                stream.finish()
            except BaseException:
                _abort(stream)
                volume.delete(0)
                raise
            # No pool refresh here: libvirt refuses one while other uploads into the pool run.
            return str(volume.key())

        return call(uri, f"upload {self.kind} {name}", send)


def _abort(stream: Any) -> None:
    with contextlib.suppress(Exception):  # the stream may be closed already; the volume is deleted next
        stream.abort()


# ---------------------------------------------------------------------------------- base image
class BaseImageProvider(RecordedProvider, VolumeProvider):
    """A template's image. Inputs: `uri`, `pool`, `name`, `source` (path or URL), `format`."""

    state_name = "libvirt/base-image"
    replace_keys = ("uri", "pool", "name", "source", "format")
    kind = "base image"

    def create(self, props: dict[str, Any]) -> CreateResult:
        size, open_source = image_source(props["source"])
        key = self.upload(props, props["format"], open_source, size)
        return CreateResult(id_=key, outs=dict(props))


def image_source(source: str) -> tuple[int, Callable[[], BinaryIO]]:
    """(size in bytes, opener) of an image path, `file://` URL or `http(s)://` URL."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(urllib.request.Request(source, method="HEAD"), timeout=60) as response:
            length = response.headers.get("Content-Length")
        if not length:
            raise HostError(
                f"image {source} does not state its size (no Content-Length); download it and use image_path"
            )

        def open_url() -> BinaryIO:
            return urllib.request.urlopen(source, timeout=60)  # type: ignore[no-any-return]

        return int(length), open_url
    path = source.removeprefix("file://")
    if not os.path.isfile(path):
        raise HostError(f"image {path} does not exist on the machine running Pulumi")
    return os.path.getsize(path), lambda: open(path, "rb")


class BaseImage(Resource):
    """A template's image in a host's storage pool; VM disks are clones of it (by its id, the volume key)."""

    def __init__(
        self,
        name: str,
        uri: str,
        pool: pulumi.Input[str],
        volume_name: str,
        source: str,
        volume_format: str,
        opts: Optional[pulumi.ResourceOptions],
    ) -> None:
        props = {"uri": uri, "pool": pool, "name": volume_name, "source": source, "format": volume_format}
        super().__init__(BaseImageProvider(), name, props, opts)


# ----------------------------------------------------------------------------------------- disk
class DiskProvider(RecordedProvider, VolumeProvider):
    """A VM disk cloned from a base image.

    Inputs: `uri`, `pool`, `name`, `base` (the base image's key), `base_format`, `size` (bytes, the
    declared size). Outputs add `capacity`: the size on the host, which may exceed `size` when an
    operator grew the disk; that is not a change to undo.
    """

    state_name = "libvirt/disk"
    replace_keys = ("uri", "pool", "name", "base", "base_format")
    kind = "disk"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        # Numbers cross the engine as floats.
        old, new = _bytes(olds.get("size")), _bytes(news.get("size"))
        if old is not None and new is not None and new < old:
            return CheckResult(
                news,
                [
                    CheckFailure(
                        "size",
                        f"disk {news['name']} is declared {_gib(olds['size'])} GiB; shrinking it to "
                        f"{_gib(news['size'])} GiB is not possible without losing data. Keep the size, or "
                        "declare a new VM group with the smaller size and retire this one",
                    )
                ],
            )
        return CheckResult(news, [])

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        if result.replaces:
            return result
        grows = (_bytes(news.get("size")) or 0) > max(_bytes(olds.get("size")) or 0, _bytes(olds.get("capacity")) or 0)
        return DiffResult(changes=grows, replaces=[], delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, uri = props["name"], props["uri"]

        def clone(conn: Any, _progress: Progress) -> tuple[str, int]:
            pool = active_pool(conn, uri, props["pool"])
            base = lookup(conn.storageVolLookupByKey, props["base"])
            if base is None:
                raise HostError(f"base image {props['base']} is missing on {uri}; `make up` recreates it")
            existing = lookup(pool.storageVolLookupByName, name)
            if existing is not None:
                backing = ET.fromstring(existing.XMLDesc(0)).findtext("./backingStore/path")
                if backing != base.path():
                    remove = f"virsh -c {uri} vol-delete --pool {props['pool']} {name}"
                    raise refuse_foreign("disk", name, uri, remove)
                return str(existing.key()), int(existing.info()[1])
            capacity = max(int(props["size"]), int(base.info()[1]))
            volume = pool.createXML(volume_xml(name, capacity, "qcow2", (base.path(), props["base_format"])), 0)
            return str(volume.key()), int(volume.info()[1])

        key, capacity = call(uri, f"create disk {name}", clone)
        return CreateResult(id_=key, outs={**props, "capacity": capacity})

    def live(self, volume: Any) -> dict[str, Any]:
        return {"capacity": int(volume.info()[1])}

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        def grow(conn: Any, _progress: Progress) -> int:
            volume = conn.storageVolLookupByKey(self.key_of(id_))
            in_use = _running_domain_using(conn, volume.path())
            if in_use is None:
                volume.resize(int(news["size"]), 0)
            else:
                domain, target = in_use
                import libvirt

                domain.blockResize(target, int(news["size"]), libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            return int(volume.info()[1])

        capacity = call(news["uri"], f"grow disk {news['name']} to {_gib(int(news['size']))} GiB", grow)
        return UpdateResult(outs={**news, "capacity": capacity})


def _running_domain_using(conn: Any, path: str) -> tuple[Any, str] | None:
    """(domain, disk target) of a running domain that has the volume at `path` open."""
    for domain in conn.listAllDomains(1):  # VIR_CONNECT_LIST_DOMAINS_ACTIVE
        for disk in ET.fromstring(domain.XMLDesc(0)).findall("./devices/disk"):
            source = disk.find("source")
            target = disk.find("target")
            if source is None or target is None:
                continue
            if source.get("file") == path or _volume_path(conn, source) == path:
                return domain, target.get("dev", "")
    return None


def _volume_path(conn: Any, source: ET.Element) -> str | None:
    if not (source.get("pool") and source.get("volume")):
        return None
    pool = lookup(conn.storagePoolLookupByName, source.get("pool", ""))
    volume = lookup(pool.storageVolLookupByName, source.get("volume", "")) if pool is not None else None
    return str(volume.path()) if volume is not None else None


def _bytes(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _gib(size_bytes: int) -> str:
    return f"{size_bytes / 1024**3:g}"


class Disk(Resource):
    """A VM's disk: a copy-on-write clone of its template's base image; its id is the volume key."""

    def __init__(
        self,
        name: str,
        uri: str,
        pool: pulumi.Input[str],
        volume_name: str,
        base: pulumi.Input[str],
        base_format: str,
        size_bytes: int,
        opts: Optional[pulumi.ResourceOptions],
    ) -> None:
        props = {
            "uri": uri,
            "pool": pool,
            "name": volume_name,
            "base": base,
            "base_format": base_format,
            "size": size_bytes,
        }
        super().__init__(DiskProvider(), name, props, opts)


# ------------------------------------------------------------------------------ cloud-init disk
class CloudInitDiskProvider(RecordedProvider, VolumeProvider):
    """A NoCloud ISO. Inputs: `uri`, `pool`, `name`, `user_data` (often secret), `meta_data`, and
    `network_config` (absent for a VM with no planned address, and in seeds made before it existed).

    Its id is `<volume key>;<content digest>`, the form the Domain's `cloudinit` argument takes, so
    a change of content is a new id and the Domain swaps the medium in place.
    """

    state_name = "libvirt/cloud-init-disk"
    replace_keys = ("uri", "pool", "name", "user_data", "meta_data")
    optional_replace_keys = ("network_config",)
    kind = "cloud-init disk"

    def create(self, props: dict[str, Any]) -> CreateResult:
        network_config = props.get("network_config")
        image = cloudinit_iso.build(props["user_data"], props["meta_data"], network_config)
        key = self.upload(props, "raw", lambda: io.BytesIO(image), len(image))
        documents = [props["user_data"], props["meta_data"], *([network_config] if network_config is not None else [])]
        digest = hashlib.sha256("\0".join(documents).encode()).hexdigest()[:16]
        return CreateResult(id_=f"{key};{digest}", outs=dict(props))


class CloudInitDisk(Resource):
    """A VM's cloud-init NoCloud disk in a host's storage pool."""

    def __init__(
        self,
        name: str,
        uri: str,
        pool: pulumi.Input[str],
        volume_name: str,
        user_data: pulumi.Input[str],
        meta_data: str,
        network_config: str | None,
        opts: Optional[pulumi.ResourceOptions],
    ) -> None:
        props: dict[str, Any] = {
            "uri": uri,
            "pool": pool,
            "name": volume_name,
            "user_data": user_data,
            "meta_data": meta_data,
        }
        if network_config is not None:
            props["network_config"] = network_config
        super().__init__(CloudInitDiskProvider(), name, props, opts)
