"""The engine's preview event stream, read into plain records: steps, drift, policy results, errors.

Input: what `pulumi preview --json` prints with `PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true` (see
`review.preview`), one `apitype.EngineEvent` JSON object per line (pulumi/sdk
go/common/apitype/events.go). What is read from it:

- `resourcePreEvent`: a planned step. A replacement arrives as up to three steps of one URN
  (`create-replacement`, `replace`, `delete-replaced`), collapsed here into one `replace`. With
  `--refresh`, every resource first has a `refresh` step, which is not a change.
- `resOutputsEvent` of a `refresh` step: what the refresh found on the hosts. `new` is null when the
  object is gone; otherwise `detailedDiff` (typed providers) or a difference between the old and
  new outputs (dynamic providers, which send no detailed diff) says what changed.
- `policyEvent`: a violation. pulumi_policy sends the policy's description, a newline, then the
  violation's own message (pulumi_policy/policy.py `report_violation`); only the latter is kept.
  The engine's enforcement level "advisory" is spelled as is; "warning" (older engines) reads as
  advisory.
- `diagnosticEvent`: errors and warnings (debug and info messages are dropped).
- `summaryEvent`: the engine's counts and whether the preview succeeded.

Secrets: the engine masks every secret value before it prints an event (`ConvertEngineEvent` with
showSecrets false): a secret arrives as `{"4dabf18193072939515e22adb298388d":
"1b47061264138c4ac30d75fd1eb44270", "ciphertext": "[secret]"}` or as the string "[secret]". Both
read as `SECRET` here, so nothing downstream can print what was behind them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

SECRET: Final[str] = "[secret]"
"""How a secret value reads after parsing, and how the review shows it."""

UNKNOWN: Final[str] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's sentinel for a value computed from another resource's output (unknown at preview)."""

_SECRET_SIGNATURE_KEY: Final[str] = "4dabf18193072939515e22adb298388d"
_SECRET_SIGNATURE: Final[str] = "1b47061264138c4ac30d75fd1eb44270"

REPLACEMENT_OPS: Final[frozenset[str]] = frozenset(
    {"replace", "create-replacement", "delete-replaced", "discard-replaced", "import-replacement"}
)
"""Engine step ops that are parts of one replacement."""

INTERNAL_KEYS: Final[frozenset[str]] = frozenset({"__provider", "__defaults", "__internal"})
"""Input keys the engine or the Python SDK adds that say nothing about the resource itself."""

GENERIC_ERRORS: Final[tuple[str, ...]] = (
    "preview failed",
    "an unhandled error occurred: program exited with non-zero exit code",
    "Resource monitor has terminated, shutting down",
)
"""Error diagnostics the engine adds after the real ones; dropped when a real one was reported."""


class EventStreamError(ValueError):
    """The input is not an engine event stream the review can read (says what was found and what to run)."""


@dataclass(frozen=True)
class State:
    """A resource's inputs (and outputs) before or after a step, secrets read as `SECRET`."""

    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    protect: bool
    parent: str


@dataclass
class Step:
    """What the preview plans for one resource (one URN), its replacement steps collapsed."""

    urn: str
    type: str
    op: str
    """create, update, replace, delete, same, read, import, ... (replacements read as `replace`)."""
    old: State | None
    new: State | None
    replace_keys: tuple[str, ...] = ()
    """Properties whose change forces the replacement (the engine's `keys`)."""
    diff_keys: tuple[str, ...] = ()
    """Top-level properties the provider reports changed (the engine's `diffs`)."""
    detailed_diff: dict[str, str] = field(default_factory=dict)
    """Property path -> kind of change (add, update, delete, *-replace), from the provider."""

    @property
    def name(self) -> str:
        """The Pulumi resource name (the URN's last part)."""
        return name_of(self.urn)

    @property
    def parent(self) -> str:
        state = self.new or self.old
        return state.parent if state else ""

    @property
    def inputs(self) -> Mapping[str, Any]:
        """The inputs after the step, or before it for a delete."""
        state = self.new or self.old
        return state.inputs if state else {}

    @property
    def changes(self) -> bool:
        """True when this step changes something on a host."""
        return self.op not in ("same", "read", "refresh")


@dataclass(frozen=True)
class Drift:
    """What a refresh found on the hosts for one resource, before the plan puts it back."""

    urn: str
    gone: bool
    """The object no longer exists on its host."""
    changed: tuple[str, ...]
    """Properties that differ from the last deployment (empty when gone)."""
    values: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    """Property -> (as last deployed, as found on the host), secrets read as `SECRET`."""


@dataclass(frozen=True)
class Violation:
    """One policy violation."""

    policy: str
    pack: str
    level: str
    """mandatory, advisory, remediate or disabled."""
    urn: str
    """The resource it is about ("" for a stack policy)."""
    message: str
    severity: str


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    """error or warning."""
    urn: str
    message: str


@dataclass
class Preview:
    """Everything the review reads from one preview of one stack."""

    stack: str = ""
    project: str = ""
    steps: dict[str, Step] = field(default_factory=dict)
    """URN -> its step, in the order the engine first announced them."""
    drift: dict[str, Drift] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    policy_packs: dict[str, str] = field(default_factory=dict)
    """Policy pack name -> version, for the packs that ran."""
    resource_changes: dict[str, int] = field(default_factory=dict)
    """The engine's own count per op (`summaryEvent.resourceChanges`)."""
    result: str = ""
    """succeeded, failed, or "" when the stream ended without a summary (the preview was cut off)."""
    cut_off: bool = False
    """The stream's last line was cut off halfway (and is left out)."""

    @property
    def completed(self) -> bool:
        """The preview ran to its end: it planned every step and reported any errors (policy
        violations aside, which fail a preview by design)."""
        return bool(self.result) and not self.errors

    @property
    def errors(self) -> list[Diagnostic]:
        """Error diagnostics that say what went wrong.

        The engine ends a failed preview with generic lines ("preview failed"); they are dropped
        when a specific error was reported, or when mandatory policy violations are the reason.
        """
        errors = [d for d in self.diagnostics if d.severity == "error"]
        specific = [d for d in errors if not d.message.startswith(GENERIC_ERRORS)]
        if specific:
            return specific
        if any(violation.level == "mandatory" for violation in self.violations):
            return []
        return errors

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def policies_ran(self) -> bool:
        return bool(self.policy_packs) or bool(self.violations)


def name_of(urn: str) -> str:
    """The resource name: the last `::` part of a URN."""
    return urn.rsplit("::", 1)[-1]


def type_of(urn: str) -> str:
    """The resource's own type from a URN (its parents' types come before it, joined by `$`)."""
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def masked(value: Any) -> Any:
    """`value` with every secret replaced by `SECRET`, recursively."""
    if isinstance(value, Mapping):
        if value.get(_SECRET_SIGNATURE_KEY) == _SECRET_SIGNATURE:
            return SECRET
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def read(lines: Iterable[str], source: str = "the input") -> Preview:
    """A `Preview` from the lines of an engine event stream.

    Raises EventStreamError, saying what was found and what to run, when the input is empty, is not
    JSON lines, holds JSON that is not engine events (every engine event has a `sequence`), or is the
    preview digest (one JSON document with `steps`, printed without the streaming switch, which
    carries no policy results). A last line cut off halfway is left out (`Preview.cut_off`); such a
    stream, like any without the engine's summary, reads as a preview that did not finish.
    """
    preview = Preview()
    refreshing: set[str] = set()
    text_lines = [line for line in lines if line.strip()]
    if not text_lines:
        raise EventStreamError(
            f"{source} is empty: the preview printed no engine events (its own error is in its log); "
            "run `make review` to record one"
        )
    for number, line in enumerate(text_lines, start=1):
        try:
            event = json.loads(line)
        except ValueError:
            if number == 1 and line.lstrip().startswith("{"):
                _refuse_digest(source)
            if number == len(text_lines) and number > 1:  # cut off halfway: the rest is still worth reading
                preview.cut_off = True
                break
            raise EventStreamError(
                f"{source}, line {number}: not a JSON engine event ({line.strip()[:80]!r}); the review reads "
                "what `pulumi preview --json` prints with PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true (run `make review`)"
            ) from None
        if number == 1 and isinstance(event, dict) and "steps" in event and "sequence" not in event:
            _refuse_digest(source)
        if not isinstance(event, dict) or "sequence" not in event:
            raise EventStreamError(
                f"{source}, line {number}: not an engine event (engine events are JSON objects with a `sequence`); "
                "the review reads what `make review` records"
            )
        _apply(preview, event, refreshing)
    return preview


def read_file(path: Path) -> Preview:
    """A `Preview` from an events file; EventStreamError names the file when it cannot be read."""
    try:
        with path.open(encoding="utf-8") as stream:
            return read(stream, source=str(path))
    except UnicodeDecodeError:
        raise EventStreamError(f"{path} is not text: the review reads the JSON lines `make review` records") from None
    except IsADirectoryError:
        raise EventStreamError(f"{path} is a folder; give the events file in it (events.jsonl)") from None
    except FileNotFoundError:
        raise EventStreamError(f"{path} does not exist; `make review` records the events in .review/<stack>/") from None
    except OSError as error:
        raise EventStreamError(f"{path} cannot be read: {error.strerror}") from None


def _refuse_digest(source: str) -> None:
    raise EventStreamError(
        f"{source} is the preview digest of `pulumi preview --json`, which leaves out policy results; run the "
        "preview with PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true (as `make review` does) to get the event stream"
    )


def _apply(preview: Preview, event: Mapping[str, Any], refreshing: set[str]) -> None:
    if "resourcePreEvent" in event:
        metadata = event["resourcePreEvent"]["metadata"]
        _remember_stack(preview, metadata["urn"])
        if metadata["op"] == "refresh":
            refreshing.add(metadata["urn"])
            return
        _add_step(preview, metadata)
    elif "resOutputsEvent" in event:
        metadata = event["resOutputsEvent"]["metadata"]
        if metadata["op"] == "refresh" and metadata["urn"] in refreshing:
            finding = _drift(metadata)
            if finding is not None:
                preview.drift[finding.urn] = finding
    elif "policyEvent" in event:
        policy = event["policyEvent"]
        message = policy.get("message", "").strip()
        preview.violations.append(
            Violation(
                policy=policy.get("policyName", ""),
                pack=policy.get("policyPackName", ""),
                level=_level(policy.get("enforcementLevel", "")),
                urn=policy.get("resourceUrn", ""),
                # The policy's description, then the violation's own words (pulumi_policy).
                message=message.split("\n", 1)[1].strip() if "\n" in message else message,
                severity=policy.get("severity", ""),
            )
        )
    elif "diagnosticEvent" in event:
        diagnostic = event["diagnosticEvent"]
        if diagnostic.get("severity") in ("error", "warning") and not diagnostic.get("ephemeral"):
            preview.diagnostics.append(
                Diagnostic(
                    severity=diagnostic["severity"],
                    urn=diagnostic.get("urn", ""),
                    message=diagnostic.get("message", "").strip(),
                )
            )
    elif "summaryEvent" in event:
        summary = event["summaryEvent"]
        preview.resource_changes = {op: int(count) for op, count in (summary.get("resourceChanges") or {}).items()}
        preview.result = summary.get("result") or "succeeded"
        for key, version in (summary.get("PolicyPacks") or {}).items():
            preview.policy_packs[key.split("|", 1)[0]] = version


def _remember_stack(preview: Preview, urn: str) -> None:
    if not preview.stack:
        parts = urn.split("::")
        if len(parts) >= 4:
            preview.stack = parts[0].removeprefix("urn:pulumi:")
            preview.project = parts[1]


def _level(engine_level: str) -> str:
    return "advisory" if engine_level == "warning" else engine_level


def _state(raw: Mapping[str, Any] | None) -> State | None:
    if raw is None:
        return None
    inputs = {key: masked(value) for key, value in (raw.get("inputs") or {}).items() if key not in INTERNAL_KEYS}
    outputs = {key: masked(value) for key, value in (raw.get("outputs") or {}).items() if key not in INTERNAL_KEYS}
    return State(inputs=inputs, outputs=outputs, protect=bool(raw.get("protect")), parent=raw.get("parent") or "")


def _add_step(preview: Preview, metadata: Mapping[str, Any]) -> None:
    urn = metadata["urn"]
    op = "replace" if metadata["op"] in REPLACEMENT_OPS else metadata["op"]
    step = Step(
        urn=urn,
        type=metadata.get("type") or type_of(urn),
        op=op,
        old=_state(metadata.get("old")),
        new=_state(metadata.get("new")),
        replace_keys=tuple(metadata.get("keys") or ()),
        diff_keys=tuple(metadata.get("diffs") or ()),
        detailed_diff={path: diff.get("diffKind") or diff.get("kind", "") for path, diff in _diffs(metadata).items()},
    )
    known = preview.steps.get(urn)
    if known is None:
        preview.steps[urn] = step
        return
    # Parts of one replacement: the logical `replace` step carries both states; keep whatever the
    # others add (the deleted state of `delete-replaced`, the keys of `create-replacement`).
    if op == "replace" or known.op == "replace":
        known.op = "replace"
    known.old = known.old or step.old
    known.new = step.new or known.new
    known.replace_keys = known.replace_keys or step.replace_keys
    known.diff_keys = known.diff_keys or step.diff_keys
    known.detailed_diff = known.detailed_diff or step.detailed_diff


def _diffs(metadata: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    return metadata.get("detailedDiff") or {}


def _drift(metadata: Mapping[str, Any]) -> Drift | None:
    """What one refresh found, or None when the object matched the last deployment.

    Only properties the program sets (inputs) count: outputs the provider reads back beside them
    (a Domain's `cmdlines`, a disk's `capacity` on the host) are not drift the next `up` would undo.
    """
    urn = metadata["urn"]
    old, new = metadata.get("old"), metadata.get("new")
    if old is None:
        return None
    if new is None:
        return Drift(urn=urn, gone=True, changed=())
    declared = set(old.get("inputs") or {}) - INTERNAL_KEYS
    before, after = masked(old.get("outputs") or {}), masked(new.get("outputs") or {})
    changed = {path.split(".")[0].split("[")[0] for path in _diffs(metadata)}
    if not changed:
        changed = {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
    relevant = tuple(sorted(changed & declared))
    if not relevant:
        return None
    return Drift(urn=urn, gone=False, changed=relevant, values={k: (before.get(k), after.get(k)) for k in relevant})
