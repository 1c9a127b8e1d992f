"""`embaug budget` and `embaug loop`: the two studies a team runs on its own catalogue after
`embaug demo` (docs/METHODS.md section 8). Which configuration wins at 1, 2, 5, 10 or 20
labelled products per class; and whether the labeling queue's labels are worth more than random
ones. Results go to the store, a summary to the terminal, a section to the report."""

from __future__ import annotations

import argparse
import sys

from embaug_pipeline.cli.common import EXIT_USAGE


def _context():
    """The store, the current product vectors and lineage, and the last recommendation (or
    None), for a study run on what `embaug demo` left."""
    from embaug_core.evaluation.recommendation import Recommendation
    from embaug_pipeline.resources import EncodersResource, StoreResource
    from embaug_pipeline.run.runner import prepare_home

    prepare_home()
    store = StoreResource().get()
    if not store.path.exists():
        raise LookupError(f"{store.path}: no catalogue yet; run `embaug demo` first")
    vectors, lineage = EncodersResource().vectors(store)
    try:
        recommendation = Recommendation.from_row(store.recommendation())
    except LookupError:
        recommendation = None
    return store, vectors, lineage, recommendation


def _train_config(recommendation, epochs: int | None):
    from embaug_core.training.train import TrainConfig

    config = recommendation.settings(TrainConfig) if recommendation else TrainConfig()
    return TrainConfig(**{**config.__dict__, "epochs": epochs}) if epochs else config


def _refresh_report(store) -> None:
    from embaug_core.common.home import Home
    from embaug_core.evaluation.assemble import refresh_serving

    refresh_serving(store, Home.from_env().reports / "report.html")


def _budget(args: argparse.Namespace) -> int:
    from embaug_core.evaluation.comparison import for_people
    from embaug_core.labels.people import effective_labels
    from embaug_core.training.label_budget import (
        BUDGETS,
        BudgetStudy,
        budget_verdicts,
        run_budget_study,
    )
    from embaug_core.training.methods import method_names

    try:
        store, vectors, _, recommendation = _context()
        methods = method_names("" if args.methods == "default" else args.methods)
    except (LookupError, ValueError) as error:
        print(f"embaug: {error}", file=sys.stderr)
        return EXIT_USAGE
    categories, _ = effective_labels(store)
    study = BudgetStudy(
        budgets=tuple(args.labels_per_class or BUDGETS),
        trials=args.trials,
        methods=tuple(methods),
        train=_train_config(recommendation, args.epochs),
    )
    results = run_budget_study(vectors, categories, study)
    store.replace_tables({"budget_results": results})
    _refresh_report(store)
    print(for_people(budget_verdicts(results)).to_markdown(index=False, floatfmt="+.4f"))
    return 0


def _loop(args: argparse.Namespace) -> int:
    import pandas as pd

    from embaug_core.serving.loop_simulation import (
        STRATEGIES,
        LoopSettings,
        labels_to_match,
        loop_summary,
        simulate_trial,
    )

    try:
        store, vectors, lineage, recommendation = _context()
        method = args.method or _loop_method(recommendation)
        settings = LoopSettings(args.rounds, args.batch, method, args.seed)
    except (LookupError, ValueError) as error:
        print(f"embaug: {error}", file=sys.stderr)
        return EXIT_USAGE
    trials = sorted(lineage.splits)[: args.trials or None]
    if not trials:
        print("embaug: no trial split on the current catalogue; run `embaug demo`", file=sys.stderr)
        return EXIT_USAGE
    config = _train_config(recommendation, args.epochs)
    strategies = tuple(args.strategies or STRATEGIES)
    parts = [
        simulate_trial(vectors, store.split(t), settings, strategies, config).assign(trial=t)
        for t in trials
    ]
    results = pd.concat(parts, ignore_index=True)
    store.replace_tables({"loop_results": results})
    _refresh_report(store)
    summary = loop_summary(results)
    last = summary[summary["round"] == summary["round"].max()]
    shown = last[last["metric"].isin(["catalogue_acc_tuned", "macro_f1_known_tuned"])]
    print(f"{method} on {len(trials)} trials, {settings.rounds} rounds of {settings.batch}:\n")
    print(shown.drop(columns=["round"]).to_markdown(index=False, floatfmt=".4f"))
    print("\n" + labels_to_match(summary, "catalogue_acc_tuned").to_frame().to_markdown())
    return 0


def _loop_method(recommendation) -> str:
    """The recommended method when it trains on its labels only, else the peer."""
    from embaug_core.training.methods import get_method

    if recommendation and get_method(recommendation.method).labels == "seeds":
        return recommendation.method
    return "logreg"


def _csv_ints(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"positive whole numbers, comma-separated: {text!r}")
    return values


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_commands(commands) -> None:
    budget = commands.add_parser(
        "budget", help="compare the methods at several label budgets on the stored catalogue"
    )
    budget.add_argument(
        "--labels-per-class",
        type=_csv_ints,
        default=None,
        help="comma-separated budgets (default: the study's, 1,2,5,10,20 today)",
    )
    budget.add_argument("--trials", type=int, default=10, help="trials per budget (default 10)")
    budget.add_argument(
        "--methods", default="default", help="comma-separated methods (default: the comparison)"
    )
    budget.add_argument("--epochs", type=int, default=None, help="default: the champion's")
    budget.set_defaults(handler=_budget)
    loop = commands.add_parser(
        "loop", help="simulate the labeling loop on the stored trials: queue against random"
    )
    loop.add_argument("--rounds", type=int, default=5)
    loop.add_argument("--batch", type=int, default=100, help="products labelled per round")
    loop.add_argument(
        "--strategies", type=_csv, default=None, help="comma-separated (default: all four)"
    )
    loop.add_argument("--method", default="", help="default: the recommended method (or logreg)")
    loop.add_argument("--trials", type=int, default=0, help="default: every current trial")
    loop.add_argument("--epochs", type=int, default=None, help="default: the champion's")
    loop.add_argument("--seed", type=int, default=0)
    loop.set_defaults(handler=_loop)
