"""`embaug labels import FILE...`: people's labels back in (the labeling queue's CSV with its
`category` column filled in, or any CSV with product_id or id, and category)."""

from __future__ import annotations

import argparse
import sys
import time

from embaug_core.common.environment import EVIDENCE_CHOICES, evidence_after_labels
from embaug_pipeline.cli.common import EXIT_USAGE, say_failure


def _import(args: argparse.Namespace) -> int:
    import dagster as dg

    from embaug_core.store import Store
    from embaug_pipeline.run.loop import import_labels
    from embaug_pipeline.run.runner import GraphFailure, prepare_home

    started = time.time()
    home = prepare_home()
    store = Store(home.duckdb_path)
    before = set(store.label_imports()["file_sha256"]) if store.path.exists() else set()
    files = [str(path) for path in args.files]
    with dg.DagsterInstance.get() as instance:
        try:
            imported = import_labels(files, instance)
        except GraphFailure as failure:
            return say_failure(failure, args.verbose)
    imports = store.label_imports()
    outcomes = [_say(imports, path, before) for path in args.files]
    stored = sum(o["stored"] for o in outcomes)
    if not stored or imported.production is None:
        print(closing_line(outcomes))
        return 0
    print(production_line(imported.production, time.time() - started))
    if args.evidence == "schedule":
        print(
            "The trials' evidence waits for the weekly schedule (--evidence schedule); "
            "`embaug retrain` runs it now."
        )
        return 0
    print("Now the trials' evidence, on every label (Ctrl-C stops it; the production model stays):")
    from embaug_pipeline.cli.graph import retrain_now

    return retrain_now(args.verbose)


def _with_evidence_default(args: argparse.Namespace) -> int:
    try:
        args.evidence = args.evidence or evidence_after_labels()
    except ValueError as error:
        print(f"embaug: {error}", file=sys.stderr)
        return EXIT_USAGE
    return _import(args)


def production_line(model: dict[str, object], seconds: float) -> str:
    """The production model the labels reached, and how long after the import began."""
    return (
        f"Production model v{model['version']} ({model['method']}) trained on every label "
        f"({model['labelled_products']:,}, {model['labelled_by_people']:,} by people) and "
        f"registered as {model['model']}, {seconds:.0f} s after the import began; predictions "
        "and the labeling queue are up to date."
    )


def closing_line(outcomes: list[dict[str, int]]) -> str:
    """What the import means for the next retraining, true to what was stored: nothing stored
    is said as such, with why (files imported before, rows rejected or left empty)."""
    stored = sum(o["stored"] for o in outcomes)
    if stored:
        return (
            f"The next `embaug retrain` (or the retraining automation) trains on the {stored} "
            "labels stored."
        )
    return (
        f"Nothing stored: no new usable label ({sum(o['imported_before'] for o in outcomes)} "
        f"of {len(outcomes)} files imported before, {sum(o['rejected'] for o in outcomes)} "
        f"rows rejected, {sum(o['left_empty'] for o in outcomes)} left empty); the next "
        "`embaug retrain` gets no new label from them."
    )


def _say(imports, path, before: set[str]) -> dict[str, int]:
    """One file's outcome: labels stored, left empty, rejected (with reasons), conflicts, and
    the production model's accuracy on them before it trained on them. Returns the counts of
    this import (a file imported before stores nothing now)."""
    from embaug_core.labels.people import read_label_file
    from embaug_core.store import Store
    from embaug_pipeline.resources import StoreResource

    read = read_label_file(path, Store(StoreResource().get().path))
    record = imports[imports["file_sha256"] == read.sha256].iloc[0]
    if read.sha256 in before:  # before this command, or named twice in it
        print(
            f"{read.path.name}: imported before ({record['imported_at']:%Y-%m-%d %H:%M}, "
            f"{record['labels']} labels then); nothing new stored"
        )
        return {"stored": 0, "imported_before": 1, "rejected": 0, "left_empty": 0}
    before.add(read.sha256)
    print(
        f"{read.path.name}: {record['labels']} labels stored, {record['left_empty']} rows left "
        f"empty, {record['rejected']} rejected, {record['conflicts']} disagree with the "
        "catalogue (people's labels win for training)"
    )
    if record["scored"]:
        print(
            f"  production model v{record['model_version']} had {record['model_accuracy']:.1%} "
            f"of the {record['scored']} it had scored right, before training on them"
        )
    for row in read.rejected.head(20).to_dict("records"):
        print(f"  line {row['line']}: {row['reason']}", file=sys.stderr)
    if len(read.rejected) > 20:
        print(f"  ... and {len(read.rejected) - 20} more rejected rows", file=sys.stderr)
    return {
        "stored": int(record["labels"]),
        "imported_before": 0,
        "rejected": int(record["rejected"]),
        "left_empty": int(record["left_empty"]),
    }


def add_commands(commands) -> None:
    labels = commands.add_parser("labels", help="people's labels: import them")
    actions = labels.add_subparsers(dest="action", required=True)
    importing = actions.add_parser(
        "import",
        help="store labels from CSV files (product_id or id, category), with their provenance",
    )
    importing.add_argument("files", nargs="+", help="CSV files of labels")
    importing.add_argument(
        "--evidence",
        choices=EVIDENCE_CHOICES,
        default=None,
        help="after the production model is retrained on the labels, the trials' evidence "
        "follows at once, or waits for the weekly schedule (default: "
        "EMBAUG_EVIDENCE_AFTER_LABELS, else follow)",
    )
    importing.add_argument("--verbose", action="store_true", help="show whole errors")
    importing.set_defaults(handler=_with_evidence_default)
