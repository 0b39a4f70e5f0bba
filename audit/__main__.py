"""`python -m audit --stack dev --state EXPORT.json [--format table|json|markdown|prometheus] [--out FILE]
[--report-dir DIR] [--idle-window S] [--idle-threshold PCT] [--now ISO-TIME]`.

`make audit STACK=...` runs it with the stack's state exported. Exit status: 0 all in rule; 1 a
violation found; 2 the audit is partial (a host could not be read, or a pool's platform has no
audit yet) and found no violation; 3 both; 4 the audit could not run (a bad argument, stack file,
threshold or declaration), with the reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from audit.findings import Report
from audit.formats import FORMATS, registry, render, verdict
from audit.run import audit
from audit.settings import NOT_RUN, thresholds
from vmfleet.load import load_fleet
from vmfleet.problems import FleetDeclarationError

ROOT = Path(__file__).resolve().parent.parent
CANNOT_RUN = 4
REPORT_FILES = {"json": "audit.json", "markdown": "audit.md", "prometheus": "audit.prom"}
"""What `--report-dir` holds: each form of the report, by file name."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        print(_not_run(), file=sys.stderr)
        raise SystemExit(CANNOT_RUN)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m audit", description="Audit a stack's hosts against its declaration and state.")
    parser.add_argument("--stack", required=True, help="the stack (Pulumi.<stack>.yaml)")
    parser.add_argument("--state", type=Path, help="`pulumi stack export` of the stack (default: it records nothing)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="the report's form (default table)")
    parser.add_argument("--out", type=Path, help="write the report to this file (atomically) instead of stdout")
    parser.add_argument(
        "--report-dir",
        type=Path,
        help="also write every form of the report there: audit.json, audit.md, audit.prom (one reading of the hosts)",
    )
    parser.add_argument("--idle-window", type=float, metavar="SECONDS", help="replaces vmfleet:audit.idle_window_s")
    parser.add_argument("--idle-threshold", type=float, metavar="PERCENT", help="replaces idle_cpu_percent")
    parser.add_argument("--now", help="judge as of this UTC time (ISO 8601), for tests and replays")
    arguments = parser.parse_args(argv)
    try:
        return _run(arguments)
    except (FleetDeclarationError, _BadInput) as error:
        print(f"error: {error}", file=sys.stderr)
        print(_not_run(arguments.stack), file=sys.stderr)
        return CANNOT_RUN


def _not_run(stack: str | None = None) -> str:
    """The last line of a run that could not audit, as `verdict` is of one that did."""
    return f"==> {f'stack {stack}: ' if stack else ''}the audit could not run (exit status {CANNOT_RUN})"


class _BadInput(Exception):
    pass


def _run(arguments: argparse.Namespace) -> int:
    # The thresholds the pack also enforces have one home, the pack's vmpolicies; the pack is its own
    # project beside this one, so its folder goes on the path here (as in `python -m review`).
    sys.path.insert(0, str(ROOT / "policies"))
    stack_file = ROOT / f"Pulumi.{arguments.stack}.yaml"
    if not stack_file.is_file():
        stacks = ", ".join(sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in ROOT.glob("Pulumi.*.yaml")))
        raise _BadInput(f"there is no Pulumi.{arguments.stack}.yaml; the stacks are: {stacks}")
    overrides = {
        key: value
        for key, value in (("idle_window_s", arguments.idle_window), ("idle_cpu_percent", arguments.idle_threshold))
        if value is not None
    }
    limits = thresholds(stack_file, ROOT / "policies" / "config" / f"{arguments.stack}.json", overrides)
    export = _export(arguments.state)
    now = _now(arguments.now)
    report = audit(arguments.stack, load_fleet(stack_file, NOT_RUN), export, limits, now=now)
    if arguments.report_dir is not None:
        for form, name in REPORT_FILES.items():
            _write(arguments.report_dir / name, report, form)
        print(f"==> {', '.join(REPORT_FILES.values())} written to {arguments.report_dir}/", file=sys.stderr)
    if arguments.out is not None:
        _write(arguments.out, report, arguments.format)
        print(f"==> {arguments.format} report written to {arguments.out}", file=sys.stderr)
    else:
        sys.stdout.write(render(report, arguments.format))
    print(f"==> {verdict(report)}", file=sys.stderr)
    return report.exit_code


def _export(path: Path | None) -> dict[str, object]:
    if path is None:
        return {}
    try:
        text = path.read_text()
        document = json.loads(text) if text.strip() else {}
    except (OSError, ValueError) as error:
        raise _BadInput(f"the state export {path} cannot be read as JSON ({error})") from None
    if not isinstance(document, dict):
        raise _BadInput(f"the state export {path} is not a `pulumi stack export` document")
    return document


def _now(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _BadInput(f"--now is {text!r}; write an ISO 8601 time such as 2027-01-31T12:00:00+00:00") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _write(path: Path, report: Report, form: str) -> None:
    """The report into `path`, replaced whole, so a collector never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if form == "prometheus":
        from prometheus_client import write_to_textfile

        write_to_textfile(str(path), registry(report))
        return
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(render(report, form))
    os.chmod(temporary, 0o644)  # as prometheus-client writes its file: a report is for others to read
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())
