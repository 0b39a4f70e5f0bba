"""`TextFile`: a file on the machine that runs `pulumi up`, with exactly the content declared.

A dynamic resource: create and update write it atomically (a temporary file in the same folder,
then a rename, mode 0644: Prometheus and node_exporter re-read it at any time and must never see
half of it); delete removes it. A refresh reads it back: a file changed or removed by hand is
drift that the next `up` writes again. Inputs: `path` (absolute; a new path replaces the file) and
`content`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from backends.state_registry import RecordedProvider

MODE = 0o644


def write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
        os.chmod(temporary, MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class TextFileProvider(RecordedProvider, ResourceProvider):
    state_name = "monitoring/text-file"
    kind = "Prometheus file"

    def create(self, props: dict[str, Any]) -> CreateResult:
        write_atomically(Path(props["path"]), props["content"])
        return CreateResult(id_=props["path"], outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["path"] if olds.get("path") != news.get("path") else []
        changed = bool(replaces) or olds.get("content") != news.get("content")
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        write_atomically(Path(news["path"]), news["content"])
        return UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        path = Path(props.get("path") or id_)
        if not path.is_file():
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "path": str(path), "content": path.read_text()})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        Path(props["path"]).unlink(missing_ok=True)


class TextFile(Resource):
    """One file written by `up`; `path` is absolute."""

    def __init__(self, name: str, path: str, content: str, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(TextFileProvider(), name, {"path": path, "content": content}, opts)
