"""How the review asks the engine for a structured preview: one home for the command and its flags.

`pulumi preview --json` has two forms. Without `PULUMI_ENABLE_STREAMING_JSON_PREVIEW` it prints one
digest at the end, which leaves policy events out (pulumi/pkg/backend/display/json.go,
`ShowPreviewDigest`: "we don't handle policy events in JSON serialization"). With it set, the CLI
streams every engine event as one JSON object per line (`apitype.EngineEvent`: steps with old and
new inputs, policy violations, diagnostics, the summary), secrets masked as `[secret]`. The review
reads the stream.
"""

from __future__ import annotations

STREAMING_ENVIRONMENT: dict[str, str] = {"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"}
"""What makes `pulumi preview --json` stream engine events instead of printing the digest."""


def command(policy_pack: str, policy_config: str) -> list[str]:
    """The `pulumi preview` arguments (after `pulumi`) whose standard output the review reads.

    It refreshes first, as `make preview` does, so drift shows. The drift check needs no
    `--expect-no-changes`: the review itself tells drift and pending changes apart, and a preview
    the engine failed on purpose would read as a failed one.
    """
    return [
        "preview",
        "--json",
        "--color",
        "never",
        "--non-interactive",
        "--refresh",
        "--policy-pack",
        policy_pack,
        "--policy-pack-config",
        policy_config,
    ]
