"""The README's example comment is a real review: the golden rendering of a recorded preview."""

from __future__ import annotations

from tests.declarations import ROOT
from tests.review.record import GOLDEN, README_EXAMPLE, with_readme_example


def test_the_readme_quotes_the_golden_review() -> None:
    readme = (ROOT / "README.md").read_text()
    golden = (GOLDEN / f"{README_EXAMPLE}.md").read_text()
    assert with_readme_example(readme, golden) == readme, (
        "README.md's example comment differs from tests/review/golden/pull-request.md: run "
        "`make review-fixtures RENDER=1`"
    )
