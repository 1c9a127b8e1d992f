"""Does embaug get more out of each label than the simple peer? (docs/METHODS.md section 8)

Three parts, each on the store under EMBAUG_HOME (after `embaug demo`, with `--full` the whole
catalogue at ten trials):
- `grid`: the stored comparison read back: every configuration against logistic regression on
  all six figures of the deployed verdict, and what the champion rule recommends.
- `budget`: the label budget study (`embaug budget`): every method at 1, 2, 5, 10 and 20
  labelled products per class, the recommendation and its paired lead over the peer at each.
- `loop`: the labeling loop simulated (`embaug loop`): rounds of 100 chosen by the queue, at
  random, by margin and by k-center, paired with random round by round.

    EMBAUG_HOME=benchmarks/.home-full python -m benchmarks.studies --full --part grid
    EMBAUG_HOME=benchmarks/.home-full python -m benchmarks.studies --full --part budget
    EMBAUG_HOME=benchmarks/.home-full python -m benchmarks.studies --full --part loop
"""

from __future__ import annotations

import argparse

import pandas as pd

from benchmarks.common import add_full_flag, ensure_store, load_vectors, main, timed
from embaug_core.evaluation.verdicts import against_peer, choose_champion
from embaug_core.labels.people import effective_labels
from embaug_core.serving.loop_simulation import (
    STRATEGIES,
    LoopSettings,
    labels_to_match,
    loop_summary,
    simulate_trial,
)
from embaug_core.training.label_budget import (
    BUDGETS,
    BudgetStudy,
    budget_verdicts,
    run_budget_study,
)
from embaug_core.training.methods import METHODS
from embaug_core.training.train import TrainConfig

PARTS = ("grid", "budget", "loop")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=PARTS, required=True)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--loop-method", default="logreg")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=48)
    add_full_flag(parser, "studies")
    return parser


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.reset_index().to_dict(orient="records")


def grid(args: argparse.Namespace) -> dict:
    store, _ = load_vectors()
    results = store.query("SELECT * FROM results")
    choice = choose_champion(results)
    peer = against_peer(results)
    return {
        "trials": int(results["trial"].nunique()),
        "methods": sorted(results["method"].unique()),
        "champion": choice.method,
        "rule": choice.rule,
        "against_peer": _records(peer),
    }


def budget(args: argparse.Namespace) -> dict:
    store, vectors = load_vectors()
    categories, _ = effective_labels(store)
    study = BudgetStudy(
        budgets=tuple(args.budgets),
        trials=args.trials,
        methods=tuple(args.methods),
        train=TrainConfig(epochs=args.epochs),
    )
    results, seconds = timed(lambda: run_budget_study(vectors, categories, study))
    store.replace_tables({"budget_results": results})
    per_budget = {str(b): _records(against_peer(part)) for b, part in results.groupby("budget")}
    return {
        "seconds": seconds,
        "verdicts": _records(budget_verdicts(results)),
        "against_peer": per_budget,
    }


def loop(args: argparse.Namespace) -> dict:
    store, vectors = load_vectors()
    settings = LoopSettings(args.rounds, args.batch, args.loop_method)
    trials = sorted(store.split_catalogues())[: args.trials]
    config = TrainConfig(epochs=args.epochs)

    def simulate() -> pd.DataFrame:
        parts = [
            simulate_trial(vectors, store.split(t), settings, STRATEGIES, config).assign(trial=t)
            for t in trials
        ]
        return pd.concat(parts, ignore_index=True)

    results, seconds = timed(simulate)
    store.replace_tables({"loop_results": results})
    summary = loop_summary(results)
    return {
        "seconds": seconds,
        "trials": len(trials),
        "settings": vars(settings),
        "summary": summary.to_dict(orient="records"),
        "labels_to_match": {
            metric: labels_to_match(summary, metric).to_dict()
            for metric in ("catalogue_acc_tuned", "macro_f1_known_tuned", "overall_acc_tuned")
        },
    }


def run(args: argparse.Namespace) -> dict:
    ensure_store(fallback=not args.full)
    return {"part": args.part, **{"grid": grid, "budget": budget, "loop": loop}[args.part](args)}


def render(result: dict) -> str:
    if result["part"] == "grid":
        table = pd.DataFrame(result["against_peer"]).to_markdown(index=False)
        return f"champion {result['champion']}: {result['rule']}\n\n{table}"
    if result["part"] == "budget":
        return pd.DataFrame(result["verdicts"]).to_markdown(index=False, floatfmt="+.4f")
    last = pd.DataFrame(result["summary"])
    last = last[(last["round"] == last["round"].max()) & (last["metric"] == "catalogue_acc_tuned")]
    return last.to_markdown(index=False, floatfmt=".4f")


if __name__ == "__main__":
    main("studies", parser, run, render, part=lambda args: args.part)
