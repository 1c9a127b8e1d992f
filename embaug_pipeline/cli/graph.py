"""`embaug demo`, `embaug retrain`, `embaug alpha-grid`, `embaug report`: run the asset graph
in-process and print what it found."""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace

from embaug_core.common.home import Home
from embaug_core.evaluation.verdicts import DEFAULT_AUC_FLOOR
from embaug_core.labels.splits import DEFAULT_TRIALS
from embaug_core.training.methods import ALPHA_GRID
from embaug_pipeline.cli.catalogue import add_catalogue_arguments, catalogue_config, how_much
from embaug_pipeline.cli.common import EXIT_BELOW_FLOOR, EXIT_USAGE, say_failure


def _methods(names: str) -> list[str]:
    from embaug_core.training.methods import method_names

    try:
        return method_names("" if names == "all" else names)
    except ValueError as error:
        raise SystemExit(f"embaug: {error}") from error


def _demo(args: argparse.Namespace) -> int:
    from embaug_core.catalog import CatalogError, locate_catalog
    from embaug_pipeline.run.graph import GraphOptions

    try:
        data = str(locate_catalog(args.data))
    except CatalogError as error:
        print(f"embaug: {error}", file=sys.stderr)
        return EXIT_USAGE
    report = {} if args.auc_floor is None else {"champion_auc_floor": args.auc_floor}
    options = GraphOptions(
        data=data,
        sample_fraction=how_much(args)[0],
        catalogue=catalogue_config(args),
        report=report,
        trials=args.trials,
        methods=_methods(args.methods),
        epochs=576 if args.paper else args.epochs,
        workers=args.workers,
    )
    return _run(options, args.verbose)


def _retrain(args: argparse.Namespace) -> int:
    from embaug_pipeline.run.graph import last_options

    try:
        options = last_options()
    except LookupError as error:
        print(f"embaug: {error}", file=sys.stderr)
        return EXIT_USAGE
    return _run(replace(options, workers=args.workers), args.verbose)


def retrain_now(verbose: bool) -> int:
    """`embaug retrain`, for a command that ends with it (an import whose evidence follows)."""
    return _retrain(argparse.Namespace(verbose=verbose, workers=0))


def _run(options, verbose: bool) -> int:
    """Materialise the graph, print the comparison and where everything is."""
    from embaug_pipeline.run.graph import materialize_graph
    from embaug_pipeline.run.runner import GraphFailure

    started = time.perf_counter()
    try:
        outcome = materialize_graph(options)
    except GraphFailure as failure:
        return say_failure(failure, verbose)
    home = Home.from_env()
    print(
        f"\nembaug on {options.data} (sample {options.sample_fraction:g}{_withheld(options)}, "
        f"{options.epochs} epochs, {options.trials} trials) in "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    print("\n".join(outcome.embedding_lines()) + "\n")
    print(
        "Mean ± maximum deviation over trials, on each trial's hold-out H without its "
        "selection part S:\n"
    )
    _print_comparison(outcome.results)
    print(_peer_verdict(outcome.results))
    print(f"\nHTML report: {home.reports / 'report.html'}")
    for line in outcome.serving_lines():
        print(line)
    if outcome.champion_below_floor:
        print("\n" + floor_line(outcome.champion_check), file=sys.stderr)
        return EXIT_BELOW_FLOOR
    from embaug_pipeline.cli.next_steps import print_next

    print_next(home)
    return 0


def _withheld(options) -> str:
    share = options.catalogue.get("unlabelled_fraction")
    return f" and {share:g} with labels withheld" if share else ""


def floor_line(check: dict[str, object]) -> str:
    """Why the production model was not rebuilt, as the report's check said it: the champion's
    mean weighted AUC under the floor, or no AUC at all (with its cause, never "AUC of nan")."""
    why = check.get("why_not_served") or f"{check.get('champion')} is under the AUC floor"
    auc = float(check.get("mean_weighted_auc", float("nan")))
    hint = (
        "more labelled products per class give each trial's hold-out several classes"
        if math.isnan(auc)
        else "more labels or trials usually help; the floor is --auc-floor or EMBAUG_AUC_FLOOR"
    )
    return (
        f"The champion {why}. So the production model, its predictions and the labeling queue "
        f"were not rebuilt ({hint})."
    )


def _print_comparison(results) -> None:
    """The comparison table, with people's names for the figures."""
    from embaug_core.evaluation.comparison import comparison_table, for_people

    print(for_people(comparison_table(results)).to_markdown())


def _peer_verdict(results) -> str:
    """One line: which configurations beat logistic regression on every figure at once."""
    from embaug_core.evaluation.verdicts import FALLBACK, MUST_LEAD, MUST_MATCH, against_peer

    peer = against_peer(results)
    if peer.empty:
        return f"\nNo {FALLBACK} run to compare with (the report's 'Against the simple peer')."
    winners = list(peer.index[peer["beats the peer"].astype(bool)])
    if winners:
        return f"\nBeats {FALLBACK} on every figure at once: {', '.join(winners)}."
    closest = peer.index[0]
    held = int(peer.loc[closest, "conditions held"])
    return (
        f"\nNo configuration beats {FALLBACK} on every figure at once (closest: {closest}, "
        f"{held} of {len(MUST_LEAD + MUST_MATCH)} conditions; see the report's "
        "'Against the simple peer')."
    )


def _alpha_grid(args: argparse.Namespace) -> int:
    from embaug_pipeline.run.graph import materialize_alpha_search

    settings = {
        "alphas": [float(a) for a in args.alphas.split(",")],
        "methods": _methods(args.methods),
        "epochs": args.epochs,
    }
    runs = materialize_alpha_search(args.trials, settings)
    print("\nAlpha grid, mean ± maximum deviation over trials (method@alpha):\n")
    _print_comparison(runs)
    return 0


def _report(args: argparse.Namespace) -> int:
    from embaug_core.store import Store

    store = Store(Home.from_env().duckdb_path)
    results = store.query("SELECT * FROM results") if store.path.exists() else None
    if results is None or results.empty:
        print(f"embaug: no results in {store.path} yet; run `embaug demo` first", file=sys.stderr)
        return 1
    _print_comparison(results)
    return 0


def _add_workers(parser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="train this many partitions side by side in worker processes (default 0: two "
        "for a grid of 20 partitions or more on 2+ cores, else one; "
        "EMBAUG_DASK_SCHEDULER=tcp://host:port sends them to a Dask cluster instead)",
    )


def _trials(text: str) -> int:
    """A count of trials: a whole number, at least 1."""
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"at least 1 trial, got {count}")
    return count


def add_commands(commands) -> None:
    demo = commands.add_parser(
        "demo", help="materialise the whole asset graph and print the comparison"
    )
    add_catalogue_arguments(demo)
    demo.add_argument(
        "--auc-floor",
        type=float,
        default=None,
        help="the champion's mean weighted AUC under which the production model is not "
        f"rebuilt (default EMBAUG_AUC_FLOOR, else {DEFAULT_AUC_FLOOR}; exit status 3 when "
        "under it)",
    )
    demo.add_argument("--full", action="store_true", help="the whole catalogue (sample fraction 1)")
    demo.add_argument("--paper", action="store_true", help="the paper's 576 epochs")
    demo.add_argument("--epochs", type=int, default=48)
    demo.add_argument(
        "--trials",
        type=_trials,
        default=DEFAULT_TRIALS,
        help=f"trial splits to compare on (default {DEFAULT_TRIALS}; 10 before trusting a "
        "recommendation)",
    )
    demo.add_argument("--methods", default="all", help="comma-separated method names, or all")
    demo.add_argument("--verbose", action="store_true", help="show whole errors with their stack")
    _add_workers(demo)
    demo.set_defaults(handler=_demo)
    retrain = commands.add_parser(
        "retrain",
        help="run the graph again as last run (catalogue, sample, trials, methods): new "
        "products, people's labels and changed settings are trained on, nothing else redone",
    )
    retrain.add_argument("--verbose", action="store_true", help="show whole errors")
    _add_workers(retrain)
    retrain.set_defaults(handler=_retrain)
    grid = commands.add_parser(
        "alpha-grid", help="the paper's alpha grid search on the stored splits (after demo)"
    )
    grid.add_argument("--alphas", default=",".join(map(str, ALPHA_GRID)))
    grid.add_argument("--methods", default="e_mixup,e_stitchup,soft_e_mixup,soft_e_stitchup")
    grid.add_argument("--epochs", type=int, default=48)
    grid.add_argument("--trials", type=_trials, default=DEFAULT_TRIALS)
    grid.set_defaults(handler=_alpha_grid)
    report = commands.add_parser("report", help="print the last comparison table")
    report.set_defaults(handler=_report)
