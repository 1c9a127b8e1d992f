"""The `embaug` command: run the graph, put the model to work, take labels back, look at it.

Exit status: 0 done; 1 a step failed (its cause printed in a line or two, the whole error with
--verbose); 2 no catalogue, no model, bad arguments or an address-space limit too small to
run; 3 the graph ran but the champion is under the weighted-AUC floor, so the production model,
its predictions and the labeling queue were not rebuilt; 4 the team database
(EMBAUG_DATABASE_URL) cannot be reached (one line says which, and what to do).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from embaug_pipeline.cli import graph, labels, predict, serve, studies, ui
from embaug_pipeline.cli.common import (
    EXIT_BELOW_FLOOR,
    EXIT_FAILED,
    EXIT_NO_DATABASE,
    EXIT_USAGE,
    say_lost_database,
)
from embaug_pipeline.cli.limits import fit_address_space

__all__ = [
    "EXIT_BELOW_FLOOR",
    "EXIT_FAILED",
    "EXIT_NO_DATABASE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="embaug", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (graph, predict, serve, labels, studies, ui):
        module.add_commands(commands)
    return parser


def _without_database_retries(record: logging.LogRecord) -> bool:
    """Dagster's Postgres storage warns at each retry (four lines each); a database that stays
    lost is said once, in one line (`say_lost_database`)."""
    return not record.getMessage().startswith("Retrying failed database")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    too_small = fit_address_space()
    if too_small:
        print(f"embaug: {too_small}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "verbose", False):
        os.environ["EMBAUG_DAGSTER_LOG"] = "INFO"  # runner.CONSOLE_LEVEL_VARIABLE
    else:  # MLflow's own INFO lines ("Creating initial MLflow database tables...") are noise here
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not getattr(args, "verbose", False):
        for handler in logging.getLogger().handlers:
            handler.addFilter(_without_database_retries)
    # faiss says at INFO that its optional AVX2 build is absent, with an alarming traceback.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except Exception:
        if say_lost_database():  # whichever call met the lost database first
            return EXIT_NO_DATABASE
        raise


if __name__ == "__main__":
    sys.exit(main())
