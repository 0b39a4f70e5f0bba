"""The review's fast tests render previews the real engine recorded (tests/review/record.py)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

from review import changes, events, markdown
from tests.review.record import FIXTURES, load_manifest

MANIFEST = load_manifest()
RECORDED = dt.date.fromisoformat(str(MANIFEST["recorded"]))
DEV_WARN_DAYS = 14
"""policies/config/dev.json's vm-expiry-notice warnDays, which the recordings were previewed with."""


def fixture_lines(name: str) -> list[str]:
    """A recorded event stream's lines."""
    return gzip.decompress((FIXTURES / f"{name}.jsonl.gz").read_bytes()).decode().splitlines(keepends=True)


def preview_of(name: str) -> events.Preview:
    return events.read(fixture_lines(name), source=f"{name}.jsonl.gz")


def review_of(name: str, warn_days: int = DEV_WARN_DAYS) -> changes.Review:
    return changes.read(preview_of(name), today=RECORDED, warn_days=warn_days)


def rendered(name: str, limit: int | None = None, warn_days: int = DEV_WARN_DAYS) -> str:
    return markdown.render(review_of(name, warn_days), today=RECORDED, limit=limit)


def fixture_path(name: str) -> Path:
    return FIXTURES / f"{name}.jsonl.gz"
