"""`embaug labels import FILE...`: people's labels back in (the labeling queue's CSV with its
`category` column filled in, or any CSV with product_id or id, and category)."""

from __future__ import annotations

import argparse
import sys

from embaug_pipeline.cli.common import say_failure


def _import(args: argparse.Namespace) -> int:
    import dagster as dg

    from embaug_core.store import Store
    from embaug_pipeline.run.runner import GraphFailure, prepare_home, run_assets

    home = prepare_home()
    files = [str(path) for path in args.files]
    with dg.DagsterInstance.get() as instance:
        try:
            run_assets(["human_labels"], instance, {"human_labels": {"files": files}})
        except GraphFailure as failure:
            return say_failure(failure, args.verbose)
    imports = Store(home.duckdb_path).label_imports()
    for path in args.files:
        _say(imports, path)
    print("The next `embaug retrain` (or the retraining automation) trains on them.")
    return 0


def _say(imports, path) -> None:
    """One file's outcome: labels stored, left empty, rejected (with reasons), conflicts, and
    the production model's accuracy on them before it trained on them."""
    from embaug_core.labels.people import read_label_file
    from embaug_core.store import Store
    from embaug_pipeline.resources import StoreResource

    read = read_label_file(path, Store(StoreResource().get().path))
    record = imports[imports["file_sha256"] == read.sha256].iloc[0]
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


def add_commands(commands) -> None:
    labels = commands.add_parser("labels", help="people's labels: import them")
    actions = labels.add_subparsers(dest="action", required=True)
    importing = actions.add_parser(
        "import",
        help="store labels from CSV files (product_id or id, category), with their provenance",
    )
    importing.add_argument("files", nargs="+", help="CSV files of labels")
    importing.add_argument("--verbose", action="store_true", help="show whole errors")
    importing.set_defaults(handler=_import)
