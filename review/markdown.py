"""The review as GitHub Markdown, within a size limit.

Layout, top to bottom: a hidden marker naming the stack (the workflow finds its own comment by
it), the verdict (policy gate, or drift), the VM counts, errors, the policy violations (mandatory
first), the VMs that change, the other components that change (folded), the VMs expiring within the
notice window, and a footer saying where the numbers come from. Stack outputs are never shown;
secrets were masked by the engine and read as `[secret]` (review.events).

When the text would be longer than the limit, rows are kept in this order until it is full:
mandatory violations, advisory violations, other components, expiring VMs, then VM rows; each cut
table ends with a line saying how many rows were left out and where the full text is. Sizes are
counted in UTF-8 bytes, which is never less than GitHub's count of characters.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from review import DRIFT, PREVIEW
from review.changes import (
    CHANGED,
    NEW,
    RECREATED,
    REMOVED,
    REPLACED,
    UNCHANGED,
    Expiry,
    ResourceChange,
    Review,
)
from review.events import Diagnostic, Preview, Violation

GITHUB_COMMENT_LIMIT: Final[int] = 65_536
"""GitHub refuses a pull-request comment body longer than this ("Body is too long (maximum is 65536 characters)")."""
JOB_SUMMARY_LIMIT: Final[int] = 1_048_576
"""GitHub's limit for one step's job summary ($GITHUB_STEP_SUMMARY): 1 MiB."""
OPEN_VM_ROWS: Final[int] = 20
"""The VM table is unfolded when it has at most this many rows."""
LEVEL_ORDER: Final[tuple[str, ...]] = ("mandatory", "remediate", "advisory", "disabled")


def marker(stack: str) -> str:
    """The hidden first line that identifies a stack's review comment."""
    return f"<!-- vmfleet-review stack={stack} -->"


@dataclass(frozen=True)
class Verdict:
    """What the review concludes, for the command's exit status and the workflows."""

    stack: str
    mode: str
    preview_completed: bool
    policies_ran: bool
    mandatory: int
    advisory: int
    vms: dict[str, int]
    resource_changes: int
    """Resources the preview would change (creates, updates, replaces, deletes), as the engine counts them."""
    drifted: int
    """Resources a refresh found changed or gone on the hosts."""

    @property
    def gate_passes(self) -> bool:
        """The preview completed, the stack's policy pack judged it, and no mandatory policy failed."""
        return self.preview_completed and self.policies_ran and self.mandatory == 0

    @property
    def ok(self) -> bool:
        """Preview mode: the gate passes. Drift mode: the hosts match the declaration and nothing is pending."""
        if self.mode == DRIFT:
            return self.preview_completed and self.drifted == 0 and self.resource_changes == 0
        return self.gate_passes

    def as_json(self) -> dict[str, object]:
        return {
            "stack": self.stack,
            "mode": self.mode,
            "ok": self.ok,
            "gate_passes": self.gate_passes,
            "preview_completed": self.preview_completed,
            "policies_ran": self.policies_ran,
            "mandatory_violations": self.mandatory,
            "advisory_violations": self.advisory,
            "vms": self.vms,
            "resource_changes": self.resource_changes,
            "drifted_resources": self.drifted,
        }


def verdict(review: Review, mode: str = PREVIEW) -> Verdict:
    preview = review.preview
    levels = [violation.level for violation in preview.violations]
    return Verdict(
        stack=preview.stack,
        mode=mode,
        preview_completed=preview.completed,
        policies_ran=preview.policies_ran,
        mandatory=levels.count("mandatory"),
        advisory=len(levels) - levels.count("mandatory"),
        vms=dict(review.counts()),
        resource_changes=_resource_changes(preview),
        drifted=len(preview.drift),
    )


def _resource_changes(preview: Preview) -> int:
    """What the engine would change, counted as its summary counts (the stack resource included)."""
    if preview.resource_changes:
        return sum(count for op, count in preview.resource_changes.items() if op != "same")
    return sum(1 for step in preview.steps.values() if step.changes)


def render(
    review: Review,
    *,
    today: dt.date,
    limit: int | None = GITHUB_COMMENT_LIMIT,
    full_text_at: str = "the full review",
    mode: str = PREVIEW,
) -> str:
    """The review as Markdown, at most `limit` UTF-8 bytes (None: no limit)."""
    blocks = _Blocks(review, today, full_text_at, mode)
    keep = {name: len(rows) for name, rows in blocks.rows.items()}
    text = blocks.text(keep)
    if limit is None or _size(text) <= limit:
        return text
    keep = dict.fromkeys(keep, 0)
    # Errors are shown whole unless they alone fill the space (a long traceback): then each is shortened.
    error_chars = None if _size(blocks.text(keep)) <= limit else max(200, limit // 4)
    for name in blocks.PRIORITY:

        def fits(count: int, name: str = name) -> bool:
            return _size(blocks.text({**keep, name: count}, error_chars)) <= limit

        keep[name] = _most_that_fit(fits, len(blocks.rows[name]))
    return _cut_to(blocks.text(keep, error_chars), limit)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _most_that_fit(fits: Callable[[int], bool], total: int) -> int:
    low, high = 0, total
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _cut_to(text: str, limit: int) -> str:
    if _size(text) <= limit:
        return text
    note = "\n\n_(cut to fit the size limit)_\n"
    return text.encode("utf-8")[: limit - _size(note)].decode("utf-8", "ignore") + note


class _Blocks:
    """The review's parts; `text` assembles them with a given number of rows kept per table."""

    PRIORITY: Final[tuple[str, ...]] = ("mandatory", "advisory", "resources", "expiring", "vms")

    def __init__(self, review: Review, today: dt.date, full_text_at: str, mode: str) -> None:
        self.review = review
        self.today = today
        self.full_text_at = full_text_at
        self.mode = mode
        violations = sorted(
            review.preview.violations,
            key=lambda v: (_level_rank(v.level), review.vm_of.get(v.urn, v.urn), v.policy, v.message),
        )
        # Per section: its rendered rows, and beside each the folded diff it carries ("" for none).
        self.sections = [
            (section, [self._resource_row(row) for row in rows], [self._diff(row) if row.diffs else "" for row in rows])
            for section, rows in review.sections().items()
        ]
        self.rows: dict[str, list[str]] = {
            "mandatory": [self._violation_row(v) for v in violations if v.level == "mandatory"],
            "advisory": [self._violation_row(v) for v in violations if v.level != "mandatory"],
            "resources": [row for _, rows, _ in self.sections for row in rows],
            "expiring": [self._expiry_row(item) for item in review.expiring],
            "vms": [_row(vm.shown_name, vm.change, vm.host, vm.owner, vm.expires) for vm in review.affected],
        }
        # What does not depend on how many rows are kept is rendered once, not at every try of `render`.
        self.top = [marker(review.preview.stack), self._heading(), self._verdict_line(), self._counts(), self._also()]
        self.by_policy = self._violations_by_policy()
        self.footer = self._footer()

    def text(self, keep: dict[str, int], error_chars: int | None = None) -> str:
        review = self.review
        parts = [*self.top, self._errors(review.preview.errors, error_chars)]
        parts.append(self._violations(keep))
        parts.append(self._vms(keep["vms"]))
        parts.append(self._resources(keep["resources"]))
        parts.append(self._expiring(keep["expiring"]))
        parts.append(self._warnings(review.preview.warnings, error_chars))
        parts.append(self.footer)
        return "\n\n".join(part for part in parts if part) + "\n"

    # -------------------------------------------------------------------------------- the top
    def _heading(self) -> str:
        what = "drift check" if self.mode == DRIFT else "preview"
        return f"## vmfleet {what}: stack `{_code(self.review.preview.stack)}`"

    def _verdict_line(self) -> str:
        result = verdict(self.review, self.mode)
        counts = f"mandatory violations: {result.mandatory}, advisory: {result.advisory}"
        if not self.review.preview.result:
            return (
                "**❌ The preview did not finish**: its event stream ends before the engine's summary (the "
                "engine was stopped, or its output was cut). Nothing here is complete; run the preview again."
            )
        if not result.preview_completed:
            if not self.review.vms:
                return (
                    "**❌ The preview failed** before the program declared the fleet, so nothing was planned "
                    "or judged: fix the errors below."
                )
            judged = f" ({counts})" if result.mandatory or result.advisory else ""
            return (
                "**❌ The preview failed**: nothing can be deployed until the errors below are fixed, and the "
                f"plan below stops where the preview stopped{judged}."
            )
        if self.mode == DRIFT:
            pending = f"{_plural(result.resource_changes, 'resource')} would change on the next `make up`"
            if result.mandatory:
                pending += f", which mandatory policies refuse ({counts})"
            if result.ok:
                return "**✅ No drift**: the hosts match the last deployment, and the declaration is deployed."
            if result.drifted:
                return f"**⚠️ Drift**: {_plural(result.drifted, 'resource')} changed on the hosts; {pending}."
            return f"**⚠️ Not deployed**: the hosts match the last deployment, but {pending}."
        if not result.policies_ran:
            return (
                "**❌ No policy pack judged this preview**, so its policy gate cannot pass: preview with the "
                "stack's pack (`make review` does)."
            )
        if result.gate_passes:
            return f"**✅ Policy gate passes** ({counts})."
        return f"**❌ Policy gate fails** ({counts}): `make up` changes nothing until the mandatory ones are fixed."

    def _counts(self) -> str:
        if not self.review.preview.completed:  # a partial plan's counts would mislead
            return ""
        counts = self.review.counts()
        before = sum(counts[s] for s in (REMOVED, REPLACED, RECREATED, CHANGED, UNCHANGED))
        after = before - counts[REMOVED] + counts[NEW]
        return "\n".join(
            [
                "| VMs | new | changed in place | replaced | removed | gone from host, re-created | unchanged |",
                "|---:|---:|---:|---:|---:|---:|---:|",
                f"| {before} → {after} | {counts[NEW]} | {counts[CHANGED]} | {counts[REPLACED]} | "
                f"{counts[REMOVED]} | {counts[RECREATED]} | {counts[UNCHANGED]} |",
            ]
        )

    def _also(self) -> str:
        review = self.review
        sections = review.sections().items()
        facts = [f"{section.title.lower()}: {_plural(len(rows), 'change')}" for section, rows in sections]
        lines = []
        losing = [vm.shown_name for vm in review.vms if vm.loses_data]
        if losing:
            named = ", ".join(f"`{_code(name)}`" for name in losing[:10])
            more = f" and {len(losing) - 10} more" if len(losing) > 10 else ""
            lines.append(
                f"**⚠️ Disk data lost** for {_plural(len(losing), 'VM')} (removed, or disk made anew): {named}{more}."
            )
        if facts:
            lines.append("Also: " + ", ".join(facts) + ".")
        if review.preview.drift:
            lines.append(
                f"A refresh found {_plural(len(review.preview.drift), 'resource')} changed on the hosts "
                f"outside Pulumi; this change puts {'it' if len(review.preview.drift) == 1 else 'them'} back."
            )
        if review.expiring:
            expiring = _plural(len(review.expiring), "VM")
            lines.append(f"{expiring} expired or due to expire within {review.warn_days} days.")
        return " ".join(lines)

    def _errors(self, errors: Sequence[Diagnostic], limit: int | None) -> str:
        if not errors:
            return ""
        blocks = [_fenced(_shorten(error.message, limit)) for error in errors]
        return "### Errors\n\n" + "\n\n".join(blocks)

    def _warnings(self, warnings: Sequence[Diagnostic], limit: int | None) -> str:
        if not warnings:
            return ""
        blocks = "\n\n".join(_fenced(_shorten(warning.message, limit)) for warning in warnings)
        return f"<details><summary>{_plural(len(warnings), 'engine warning')}</summary>\n\n{blocks}\n\n</details>"

    # ------------------------------------------------------------------------------ the tables
    def _violations(self, keep: dict[str, int]) -> str:
        mandatory, advisory = self.rows["mandatory"], self.rows["advisory"]
        if not (mandatory or advisory):
            judged = self.review.preview.policies_ran and self.review.preview.completed
            return "### Policy violations\n\nNone." if judged else ""
        lines = ["### Policy violations", "", self.by_policy, "", "| level | policy | VM | message |"]
        lines.append("|---|---|---|---|")
        lines += mandatory[: keep["mandatory"]]
        lines += advisory[: keep["advisory"]]
        left_out = len(mandatory) - keep["mandatory"] + len(advisory) - keep["advisory"]
        return "\n".join(lines) + self._left_out(left_out, "violation")

    def _violations_by_policy(self) -> str:
        """One line that survives any cut: how many violations each policy reported, by level."""
        counts = Counter((v.level, v.policy) for v in self.review.preview.violations)
        levels = sorted({level for level, _ in counts}, key=_level_rank)
        parts = []
        for level in levels:
            policies = sorted((policy for lvl, policy in counts if lvl == level), key=lambda p: (-counts[level, p], p))
            named = ", ".join(f"{_cell(policy)} ({counts[level, policy]})" for policy in policies)
            parts.append(f"{'**mandatory**' if level == 'mandatory' else level}: {named}")
        return "By policy: " + "; ".join(parts) + "."

    def _vms(self, keep: int) -> str:
        rows = self.rows["vms"]
        heading = "### VMs" if self.review.preview.completed else "### VMs planned before the preview stopped"
        if not rows:
            return f"{heading}\n\nNo VM changes." if self.review.preview.completed else ""
        counts = self.review.counts()
        words = ", ".join(
            f"{counts[status]} {label}"
            for status, label in (
                (REMOVED, "removed"),
                (REPLACED, "replaced"),
                (RECREATED, "recreated"),
                (CHANGED, "changed in place"),
                (NEW, "new"),
            )
            if counts[status]
        )
        opened = " open" if len(rows) <= OPEN_VM_ROWS else ""
        table = ["| VM | change | host | owner | expires |", "|---|---|---|---|---|", *rows[:keep]]
        return (
            f"{heading}\n\n<details{opened}><summary>{_plural(len(rows), 'VM')} change: {words}</summary>\n\n"
            + "\n".join(table)
            + self._left_out(len(rows) - keep, "VM")
            + "\n\n</details>"
        )

    def _resources(self, keep: int) -> str:
        parts = []
        shown = 0
        for section, rows, diffs in self.sections:
            kept = rows[: max(0, keep - shown)]
            shown += len(kept)
            lines = [f"| {section.noun} | resource | change |", "|---|---|---|", *kept]
            body = "\n".join(lines) + self._left_out(len(rows) - len(kept), "change")
            kept_diffs = [diff for diff in diffs[: len(kept)] if diff]
            if kept_diffs:
                body += "\n\n" + "\n\n".join(kept_diffs)
            summary = _plural(len(rows), "change")
            parts.append(f"### {section.title}\n\n<details><summary>{summary}</summary>\n\n{body}\n\n</details>")
        return "\n\n".join(parts)

    def _expiring(self, keep: int) -> str:
        rows = self.rows["expiring"]
        if not rows:
            return ""
        lines = [
            f"### Expired or expiring within {self.review.warn_days} days",
            "",
            "| VM | owner | expires | |",
            "|---|---|---|---|",
            *rows[:keep],
        ]
        return "\n".join(lines) + self._left_out(len(rows) - keep, "VM")

    def _footer(self) -> str:
        preview = self.review.preview
        engine = ", ".join(f"{count} to {op}" for op, count in sorted(preview.resource_changes.items()) if op != "same")
        same = preview.resource_changes.get("same", 0)
        packs = ", ".join(f"{name} {version}" for name, version in sorted(preview.policy_packs.items()))
        planned = f"resources: {engine or 'no changes'}, {same} unchanged" if preview.completed else "no complete plan"
        facts = [
            f"Read from the engine's preview of stack `{_code(preview.stack)}` on {self.today.isoformat()}",
            planned,
        ]
        if packs:
            facts.append(f"policy pack {packs}")
        return "<sub>" + "; ".join(facts) + ". Stack outputs are left out; secrets show as [secret].</sub>"

    # --------------------------------------------------------------------------------- rows
    def _violation_row(self, violation: Violation) -> str:
        level = f"**{violation.level}**" if violation.level == "mandatory" else violation.level
        vm = self.review.vm_of.get(violation.urn) or (violation.urn.rsplit("::", 1)[-1] if violation.urn else "(stack)")
        return f"| {level} | {_cell(violation.policy)} | {_cell(vm)} | {_cell(violation.message)} |"

    def _resource_row(self, row: ResourceChange) -> str:
        where = f" on {_cell(row.where)}" if row.name_on_other_hosts else ""
        resource = f"{_cell(row.kind)} `{_code(row.resource)}`{where}"
        return f"| {_cell(row.component or '-')} | {resource} | {_cell(row.change)} |"

    def _expiry_row(self, item: Expiry) -> str:
        if item.days_left < 0:
            when = f"expired {-item.days_left} days ago"
        elif item.days_left == 0:
            when = "expires today"
        else:
            when = f"in {item.days_left} days"
        return _row(item.vm, item.owner, item.expires.isoformat(), when)

    def _diff(self, row: ResourceChange) -> str:
        key, diff = row.diffs[0]
        return (
            f"<details><summary>{_cell(row.resource)}: {_cell(key)}</summary>\n\n{_fenced(diff, 'diff')}\n\n</details>"
        )

    def _left_out(self, count: int, noun: str) -> str:
        if count <= 0:
            return ""
        return f"\n\n_{_plural(count, noun)} left out here to fit; the full text is in {self.full_text_at}._"


# ------------------------------------------------------------------------------------ escaping
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
_REFERENCE = re.compile(r"(?<![\w`])(@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9_.-]+)?|#[0-9]+)")
"""What GitHub turns into a mention (it notifies the user or team) or an issue reference (it links the
issue back). A backslash may not stop that, as GitHub looks for them in the rendered text; it does
not look inside code spans."""


def _cell(text: str) -> str:
    """Text safe in a table cell: Markdown and HTML inert, no line breaks, no mentions or issue references."""
    flat = " ".join(str(text).split())
    parts = _REFERENCE.split(flat)
    return "".join(
        f"`{_code(part)}`" if index % 2 else _MARKDOWN.sub(r"\\\1", part).replace("<", "&lt;").replace(">", "&gt;")
        for index, part in enumerate(parts)
    )


def _code(text: str) -> str:
    """Text for inside a code span: no backticks or pipes that would end it or the table cell."""
    return str(text).replace("`", "'").replace("|", "\\|")


def _row(*cells: str) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _fenced(text: str, language: str = "text") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _shorten(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters)"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _level_rank(level: str) -> int:
    return LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)
