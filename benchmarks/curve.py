"""The per-epoch curve (the paper's Fig. 5) at a fraction of its cost: scored on a seeded
sample of H, or every few epochs, against all of H every epoch.

Per stored trial and method, one training per setting, interleaved: the partition's training
time, and how far the curve moves from the full one (the largest difference of overall or none
accuracy at any epoch), against the trials' noise (the spread of the full curves across trials
at the same epoch, median over epochs). The final figures do not depend on the curve at all.

    python -m benchmarks.curve [--samples 0 500 2000] [--every 1 4] [--trials 3] [--full]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from benchmarks.common import (
    add_full_flag,
    ensure_store,
    load_vectors,
    main,
    require_whole_catalogue,
    target,
)
from embaug_core.evaluation.metrics import DEFAULT_THRESHOLD
from embaug_core.training.experiment import CurveSettings, run_method, trial_data
from embaug_core.training.methods import get_method
from embaug_core.training.train import TrainConfig

FIGURES = ("overall_acc", "none_acc")
DEFAULT = f"the default: sample {CurveSettings().curve_sample}, every {CurveSettings().curve_every}"


def curves(args: argparse.Namespace) -> pd.DataFrame:
    """One row per (trial, method, setting, epoch): the curve's figures and the seconds the
    whole training took."""
    ensure_store(fallback=not args.full)
    store, vectors = load_vectors()
    if args.full:
        require_whole_catalogue(len(vectors.product_ids))
    trials = sorted(store.split_catalogues())[: args.trials]
    settings = [("all of H, every epoch", CurveSettings(0, 1))]
    settings += [(f"sample {n}, every epoch", CurveSettings(n, 1)) for n in args.samples if n]
    settings += [(f"all of H, every {k}", CurveSettings(0, k)) for k in args.every if k > 1]
    settings += [(DEFAULT, CurveSettings())]
    rows = []
    config = TrainConfig(epochs=args.epochs)
    for trial in trials:
        data = trial_data(vectors, store.split(trial))
        for method in args.methods:
            for label, curve in settings:
                history: list[dict] = []
                started = time.perf_counter()
                run_method(
                    get_method(method),
                    data,
                    DEFAULT_THRESHOLD,
                    config,
                    on_epoch=lambda epoch, values, kept=history: kept.append(
                        {"epoch": epoch, **values}
                    ),
                    curve=curve,
                )
                seconds = time.perf_counter() - started
                for point in history:
                    rows.append(
                        {
                            "trial": trial,
                            "method": method,
                            "setting": label,
                            "seconds": seconds,
                            **point,
                        }
                    )
    return pd.DataFrame(rows)


def run(args: argparse.Namespace) -> dict:
    table = curves(args)
    full = table[table["setting"] == "all of H, every epoch"]
    noise = (
        full.groupby(["method", "epoch"])[list(FIGURES)]
        .agg(lambda v: v.max() - v.min())
        .median()
        .median()
    )
    rows = []
    for setting, part in table.groupby("setting", sort=False):
        merged = part.merge(full, on=["trial", "method", "epoch"], suffixes=("", "_full")).dropna(
            subset=list(FIGURES)
        )
        moved = max(float((merged[f] - merged[f"{f}_full"]).abs().max()) for f in FIGURES)
        seconds = part.groupby(["trial", "method"])["seconds"].first().median()
        rows.append({"setting": setting, "median_seconds": seconds, "largest_move": moved})
    result = pd.DataFrame(rows)
    base = result.loc[0, "median_seconds"]
    result["time_ratio"] = result["median_seconds"] / base
    chosen = result[result["setting"] == DEFAULT]
    targets = []
    if len(chosen):
        targets.append(
            target(
                "default curve: largest move / trials' noise",
                float(chosen["largest_move"].iloc[0] / noise),
                1.0,
                at_least=False,
            )
        )
    return {"trials_noise": float(noise), "settings": result.to_dict("records"), "targets": targets}


def render(result: dict) -> str:
    lines = [
        f"Trials' noise of the curve (median spread across trials): {result['trials_noise']:.3f}",
        "",
        "| curve | median seconds a partition | time / full | largest move of the curve |",
        "|---|---:|---:|---:|",
    ]
    for row in result["settings"]:
        seconds, ratio, moved = row["median_seconds"], row["time_ratio"], row["largest_move"]
        lines.append(f"| {row['setting']} | {seconds:.1f} | {ratio:.2f} | {moved:.3f} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--samples", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--every", type=int, nargs="+", default=[4])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["control", "e_stitchup"])
    parser.add_argument("--epochs", type=int, default=48)
    add_full_flag(parser, "curve")
    return parser


if __name__ == "__main__":
    main("curve", parser, run, render)
