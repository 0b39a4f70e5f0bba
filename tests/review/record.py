"""Record the review's fixtures from the real engine, and render its golden files from them.

    make review-fixtures             record every preview again (deploys a 2-VM test fleet on the
                                     local libvirt for about a minute, then destroys it), then render
    make review-fixtures RENDER=1    only render the golden files again from the recorded fixtures

Writes tests/review/fixtures/<case>.jsonl.gz (the engine's event stream, debug diagnostics left
out), tests/review/fixtures/manifest.json (when, with which engine, each case's exit status) and
tests/review/golden/<case>.md (the review as `make review` renders it, judged on the recording
date). Review the golden diff before committing: it is what pull requests will show.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "policies"))

from review import changes, events, markdown  # noqa: E402


def render_case(name: str, manifest: dict[str, object]) -> str:
    """The full review of a recorded case, as the golden file holds it."""
    cases = manifest["cases"]
    assert isinstance(cases, dict)
    today = dt.date.fromisoformat(str(manifest["recorded"]))
    policy_config = json.loads((ROOT / "policies" / "config" / f"{cases[name]['policy_config']}.json").read_text())
    warn_days = int(policy_config["vm-expiry-notice"]["warnDays"])
    preview = events.read(gzip.decompress((FIXTURES / f"{name}.jsonl.gz").read_bytes()).decode().splitlines())
    return markdown.render(changes.read(preview, today=today, warn_days=warn_days), today=today, limit=None)


def load_manifest() -> dict[str, object]:
    return dict(json.loads((FIXTURES / "manifest.json").read_text()))


def record() -> None:
    from tests.engine.harness import EphemeralStack, engine_environment, prepare_host
    from tests.review import lifecycle

    prepare_host()
    environment = engine_environment()
    version = subprocess.run(
        ["pulumi", "version"], env={"PATH": environment["PATH"]}, capture_output=True, text=True, check=True
    ).stdout.strip()
    FIXTURES.mkdir(exist_ok=True)
    today = dt.date.today()
    cases: dict[str, dict[str, object]] = {}
    stack = EphemeralStack(environment)
    try:
        for recording in lifecycle.record_lifecycle(stack, today):
            lifecycle.write_fixture(recording, FIXTURES)
            cases[recording.name] = {"what": recording.what, "status": recording.status, "policy_config": "dev"}
            print(f"recorded {recording.name}: exit status {recording.status}")
    finally:
        stack.cleanup()
    prod = EphemeralStack(environment)
    try:
        recording = lifecycle.record_prod(prod, prod.folder / "trace")
        lifecycle.write_fixture(recording, FIXTURES)
        cases[recording.name] = {"what": recording.what, "status": recording.status, "policy_config": "prod"}
        print(f"recorded {recording.name}: exit status {recording.status}")
    finally:
        prod.cleanup()
    manifest = {"recorded": today.isoformat(), "engine": version, "cases": cases}
    (FIXTURES / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


README_EXAMPLE = "pull-request"
EXAMPLE_BEGIN = "<!-- review example: begin (make review-fixtures writes it) -->\n\n"
EXAMPLE_END = "\n\n<!-- review example: end -->"


def readme_example(golden: str) -> str:
    """The golden review as the README quotes it: a block quote, so it renders as an example."""
    return "\n".join(f"> {line}" if line else ">" for line in golden.rstrip("\n").splitlines())


def with_readme_example(readme: str, golden: str) -> str:
    """The README with its example comment replaced by `golden`."""
    start = readme.index(EXAMPLE_BEGIN) + len(EXAMPLE_BEGIN)
    end = readme.index(EXAMPLE_END)
    return readme[:start] + readme_example(golden) + readme[end:]


def render() -> None:
    manifest = load_manifest()
    GOLDEN.mkdir(exist_ok=True)
    cases = manifest["cases"]
    assert isinstance(cases, dict)
    for name in cases:
        (GOLDEN / f"{name}.md").write_text(render_case(name, manifest))
        print(f"rendered tests/review/golden/{name}.md")
    readme = ROOT / "README.md"
    readme.write_text(with_readme_example(readme.read_text(), (GOLDEN / f"{README_EXAMPLE}.md").read_text()))
    print(f"rendered README.md's example from tests/review/golden/{README_EXAMPLE}.md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--render-only", action="store_true", help="render the golden files from the fixtures")
    if not parser.parse_args().render_only:
        record()
    render()


if __name__ == "__main__":
    main()
