"""Epoch time of every batch augmentation over `control`, on the real catalogue.

Times the training loop only (the per-epoch validation callback is off), on trial_0's
training rows, as the median over epochs and repeats, all methods measured in one run.

    EMBAUG_HOME=... python -m benchmarks.epoch_time [--epochs 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import load_vectors, write
from embaug_core.training.experiment import TrialData, trial_data
from embaug_core.training.mixup import AUGMENTERS, get_augmenter
from embaug_core.training.train import TrainConfig, train_classifier


def epoch_times(data: TrialData, method: str, epochs: int) -> list[float]:
    stamps = [time.perf_counter()]
    train_classifier(
        data.x_train,
        data.y_train,
        data.classes,
        get_augmenter(method),
        TrainConfig(epochs=epochs),
        on_epoch=lambda *_: stamps.append(time.perf_counter()),
    )
    return list(np.diff(stamps)[1:])  # the first epoch warms up


def epoch_medians(data: TrialData, epochs: int, repeats: int) -> dict[str, float]:
    """Median seconds per epoch of every augmentation, the methods interleaved per repeat so
    drift in the machine's load hits every method alike."""
    times: dict[str, list[float]] = {m: [] for m in AUGMENTERS}
    for _ in range(repeats):
        for method in AUGMENTERS:
            times[method] += epoch_times(data, method, epochs)
    return {m: float(np.median(t)) for m, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    store, vectors = load_vectors()
    data = trial_data(vectors, store.split("trial_0"))
    medians = epoch_medians(data, args.epochs, args.repeats)
    ratios = {m: medians[m] / medians["control"] for m in AUGMENTERS}
    print(
        f"{len(data.y_train)} training rows x {data.x_train.shape[1]} dims, "
        f"{len(data.classes)} classes, batch 128, "
        f"median of {args.repeats * (args.epochs - 1)} epochs"
    )
    print("| method | ms / epoch | ratio to control |\n|---|---:|---:|")
    for method in AUGMENTERS:
        print(f"| {method} | {1000 * medians[method]:.1f} | {ratios[method]:.3f} |")
    path = write(
        "epoch_time", {"rows": len(data.y_train), "median_seconds": medians, "ratio": ratios}
    )
    print(f"written: {path}")


if __name__ == "__main__":
    main()
