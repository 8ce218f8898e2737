"""Where a benchmark's numbers came from: the commit, and what differed from it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def source_revision(*paths: str) -> str:
    """The commit of the repository, naming any uncommitted change under ``paths``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.split("\n")
    except OSError:
        return "unknown"
    files = [line[3:] for line in changed if line.strip()]
    return (head or "unknown") + (
        f" with uncommitted changes to {', '.join(files)}" if files else ""
    )
