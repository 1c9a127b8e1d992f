"""What every command shares: exit statuses and how a failed step is told."""

from __future__ import annotations

import sys

EXIT_FAILED, EXIT_USAGE, EXIT_BELOW_FLOOR, EXIT_NO_DATABASE = 1, 2, 3, 4


def say_failure(failure, verbose: bool) -> int:
    """One or two lines for a failed step (the whole error with --verbose); one line, and
    EXIT_NO_DATABASE, when the step failed because the team database went away."""
    if say_lost_database():
        return EXIT_NO_DATABASE
    print(f"embaug: {failure}", file=sys.stderr)
    print(failure.detail if verbose else "(--verbose shows the whole error)", file=sys.stderr)
    return EXIT_FAILED


def say_lost_database() -> bool:
    """Say in one line, if the team database cannot be reached, which it is and what to do."""
    from embaug_core.common.team import database_unreachable, shown_database

    why = database_unreachable()
    if why:
        print(
            f"embaug: the team database {shown_database()} cannot be reached ({why}): start it "
            "again (or correct EMBAUG_DATABASE_URL), then run the same command again, which "
            "marks failed the runs this one left unfinished",
            file=sys.stderr,
        )
    return bool(why)
