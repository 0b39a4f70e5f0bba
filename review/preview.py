"""How the review asks the engine for a structured preview: one home for the command and its flags.

`pulumi preview --json` has two forms. Without `PULUMI_ENABLE_STREAMING_JSON_PREVIEW` it prints one
digest at the end, which leaves policy events out (pulumi/pkg/backend/display/json.go,
`ShowPreviewDigest`: "we don't handle policy events in JSON serialization"). With it set, the CLI
streams every engine event as one JSON object per line (`apitype.EngineEvent`: steps with old and
new inputs, policy violations, diagnostics, the summary), secrets masked as `[secret]`. The review
reads the stream.
"""

from __future__ import annotations

from collections.abc import Sequence

STREAMING_ENVIRONMENT: dict[str, str] = {"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"}
"""What makes `pulumi preview --json` stream engine events instead of printing the digest."""


def command(
    policy_pack: str, policy_config: str, *, refresh: bool = True, expect_no_changes: bool = False
) -> list[str]:
    """The `pulumi preview` arguments (after `pulumi`) whose standard output the review reads.

    `refresh`: read the hosts first, as `make preview` does, so drift shows. `expect_no_changes`:
    the engine fails the preview when it plans any change (the nightly drift check).
    """
    arguments: list[str] = ["preview", "--json", "--color", "never", "--non-interactive"]
    if refresh:
        arguments.append("--refresh")
    if expect_no_changes:
        arguments.append("--expect-no-changes")
    arguments += ["--policy-pack", policy_pack, "--policy-pack-config", policy_config]
    return arguments


def shell_words(arguments: Sequence[str]) -> str:
    """The arguments as one line for a shell script, quoted where needed."""
    import shlex

    return shlex.join(arguments)
