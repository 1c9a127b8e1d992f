"""What every command shares: exit statuses and how a failed step is told."""

from __future__ import annotations

import sys

EXIT_FAILED, EXIT_USAGE, EXIT_BELOW_FLOOR = 1, 2, 3


def say_failure(failure, verbose: bool) -> int:
    """One or two lines for a failed step (the whole error with --verbose)."""
    print(f"embaug: {failure}", file=sys.stderr)
    print(failure.detail if verbose else "(--verbose shows the whole error)", file=sys.stderr)
    return EXIT_FAILED
