"""The review command: a stack's preview for a pull request, as Markdown.

python -m review preview --events FILE --policy-config FILE [--drift]
    run `pulumi preview` (streamed JSON events, refresh first, the policy pack) into FILE; exits
    with the engine's status. The environment must already select the stack and its backend, as
    scripts/stack.sh does (`make review` and `make drift` run both steps).
python -m review render EVENTS --out-dir DIR [--policy-config FILE] [--today YYYY-MM-DD]
                        [--mode preview|drift] [--full-text-at TEXT] [--print review|comment|none]
    read the events and write DIR/review.md (everything), DIR/comment.md (at most 65,536
    bytes, for a pull-request comment), DIR/summary.md (at most 1 MiB, for the job summary) and
    DIR/verdict.json. Exit status 0 when the policy gate passes (drift mode: when nothing
    drifted and nothing is pending), 1 when it does not or the preview failed, 2 for bad input.
python -m review stacks --base REV [--head REV]
    the stacks the change from REV to HEAD touches, as a JSON list (every stack when REV is
    unknown or all zeros, as on a branch's first push).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from review import DRIFT, PREVIEW, stacks

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m review", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("preview", help="run the engine's preview into an events file")
    run.add_argument("--events", required=True, type=Path, help="where the JSON event stream goes")
    run.add_argument("--policy-config", required=True, type=Path, help="the stack's policies/config/<stack>.json")
    run.add_argument("--policy-pack", default=str(ROOT / "policies"), help="the policy pack folder (default: policies)")

    render = commands.add_parser("render", help="render an events file as Markdown")
    render.add_argument(
        "events",
        type=Path,
        help="the engine's event stream: what `pulumi preview --json` prints with "
        "PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true (`python -m review preview` records it)",
    )
    render.add_argument(
        "--out-dir", required=True, type=Path, help="where review.md, comment.md, summary.md and verdict.json go"
    )
    render.add_argument("--policy-config", type=Path, help="the policy config the preview used (for warnDays)")
    render.add_argument("--today", type=dt.date.fromisoformat, help="judge expiry on this date (default: today, UTC)")
    render.add_argument("--mode", choices=(PREVIEW, DRIFT), default=PREVIEW)
    render.add_argument(
        "--full-text-at",
        default="",
        help="where readers find the full text when a cut version is shown (default: the review.md path)",
    )
    render.add_argument("--print", dest="show", choices=("review", "comment", "none"), default="review")

    changed = commands.add_parser("stacks", help="the stacks a change touches, as JSON")
    which = changed.add_mutually_exclusive_group(required=True)
    which.add_argument("--base", help="the revision the change starts from")
    which.add_argument("--all", action="store_true", help="every stack this checkout declares")
    changed.add_argument("--head", default="HEAD")

    arguments = parser.parse_args(argv)
    if arguments.command == "preview":
        return _preview(arguments)
    if arguments.command == "render":
        return _render(arguments)
    return _stacks(arguments)


def _preview(arguments: argparse.Namespace) -> int:
    import os

    from review import preview

    command = ["pulumi", *preview.command(arguments.policy_pack, str(arguments.policy_config))]
    arguments.events.parent.mkdir(parents=True, exist_ok=True)
    with arguments.events.open("w") as output:
        finished = subprocess.run(command, stdout=output, env={**os.environ, **preview.STREAMING_ENVIRONMENT})
    return finished.returncode


def _render(arguments: argparse.Namespace) -> int:
    # The VM facts reader has one home, the policy pack's vmpolicies/vm.py; the pack is its own
    # project beside this one, so its folder goes on the path here, as tests do through pyproject.toml.
    sys.path.insert(0, str(ROOT / "policies"))
    from review import changes, events, markdown

    try:
        read = events.read_file(arguments.events)
        warn_days = _warn_days(arguments.policy_config)
    except (OSError, events.EventStreamError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    today = arguments.today or dt.datetime.now(dt.UTC).date()
    review = changes.read(read, today=today, warn_days=warn_days)
    out: Path = arguments.out_dir
    out.mkdir(parents=True, exist_ok=True)
    full_text_at = arguments.full_text_at or f"`{out / 'review.md'}`"
    texts = {
        "review.md": markdown.render(review, today=today, limit=None, mode=arguments.mode),
        "comment.md": markdown.render(
            review, today=today, limit=markdown.GITHUB_COMMENT_LIMIT, full_text_at=full_text_at, mode=arguments.mode
        ),
        "summary.md": markdown.render(
            review, today=today, limit=markdown.JOB_SUMMARY_LIMIT, full_text_at=full_text_at, mode=arguments.mode
        ),
    }
    for name, text in texts.items():
        (out / name).write_text(text)
    result = markdown.verdict(review, arguments.mode)
    (out / "verdict.json").write_text(json.dumps(result.as_json(), indent=2) + "\n")
    if arguments.show != "none":
        sys.stdout.write(texts[f"{arguments.show}.md"])
    return 0 if result.ok else 1


def _warn_days(policy_config: Path | None) -> int:
    """The notice window of the vm-expiry-notice policy, as the preview's policy config sets it."""
    from vmpolicies import expiry_notice

    default = int(expiry_notice.SCHEMA["warnDays"]["default"])
    if policy_config is None:
        return default
    config = json.loads(policy_config.read_text())
    return int((config.get(expiry_notice.NAME) or {}).get("warnDays", default))


def _stacks(arguments: argparse.Namespace) -> int:
    declared = stacks.declared(ROOT)
    if arguments.all or set(arguments.base) <= {"0"}:
        print(json.dumps(declared))
        return 0
    try:
        files = stacks.changed_files(ROOT, arguments.base, arguments.head)
    except subprocess.CalledProcessError as error:
        reason = error.stderr.strip()
        print(f"note: cannot compare {arguments.base} with {arguments.head} ({reason}): every stack", file=sys.stderr)
        print(json.dumps(declared))
        return 0
    print(json.dumps(stacks.touched(files, declared)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
