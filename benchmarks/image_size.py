"""The photos are 60 x 80; resized to 224 x 224 (the default until 2026-11-30) they cost about
10x their pixels. Does a smaller input lose anything? Time (images per second, interleaved)
and quality (the report's five figures, paired with 224 per trial) at 224, 160 and 128 px,
side by side.

Image vectors at each size are cached under the encoder's identity (it names the size), so the
store keeps them; texts are the same for every size.

    python -m benchmarks.image_size [--sizes 224 160 128] [--trials 3] [--time-images 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from benchmarks.common import ensure_store, interleaved, load_vectors, main, medians
from embaug_core.embeddings.cache import fill_cache
from embaug_core.embeddings.encoders import ImageEncoder
from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.evaluation.comparison import paired_differences
from embaug_core.evaluation.metrics import DEFAULT_THRESHOLD
from embaug_core.training.experiment import run_method, trial_data
from embaug_core.training.methods import get_method
from embaug_core.training.train import TrainConfig

FIGURES = ("tradeoff_auc", "equal_acc_point", "weighted_auc", "top1_known", "macro_f1_known")


def image_vectors(store, size: int) -> tuple[np.ndarray, ImageEncoder]:
    """Every product's image vector at `size`, embedded once and cached."""
    encoder = ImageEncoder(image_size=size)
    hashes = store.products()["image_sha256"].tolist()

    def load(chunk):
        found = store.image_bytes(chunk)
        return [found[h] for h in chunk]

    fill_cache(store, encoder, load, hashes)
    return store.embeddings(encoder.identity, hashes), encoder


def run(args: argparse.Namespace) -> dict:
    ensure_store()
    store, vectors = load_vectors()
    width = ImageEncoder().dim
    texts = vectors.vectors[:, :-width]
    encoders = {size: image_vectors(store, size) for size in args.sizes}
    sample = [
        store.image_bytes([h])[h] for h in store.products()["image_sha256"][: args.time_images]
    ]
    seconds = interleaved(
        {
            str(size): (lambda e=encoder: e.encode(sample))
            for size, (_, encoder) in encoders.items()
        },
        args.repeats,
    )
    rate = {size: args.time_images / seconds for size, seconds in medians(seconds).items()}
    rows = []
    for size, (images, _) in encoders.items():
        at_size = ProductVectors(
            vectors.product_ids, vectors.categories, np.hstack([texts, images])
        )
        for trial in sorted(store.split_catalogues())[: args.trials]:
            data = trial_data(at_size, store.split(trial))
            for method in args.methods:
                metrics = run_method(
                    get_method(method), data, DEFAULT_THRESHOLD, TrainConfig(epochs=args.epochs)
                ).metrics
                for figure in FIGURES:
                    rows.append(
                        {
                            "trial": trial,
                            "method": f"{method}@{size}",
                            "metric": figure,
                            "value": metrics[figure],
                        }
                    )
    results = pd.DataFrame(rows)
    paired = []
    for method in args.methods:
        mine = results[results["method"].str.startswith(f"{method}@")]
        differences = paired_differences(
            mine, baseline=f"{method}@{args.sizes[0]}", metrics=FIGURES
        )
        paired.append(differences)
    table = pd.concat(paired, ignore_index=True)
    return {
        "images_per_second": {str(k): v for k, v in rate.items()},
        "paired_with_largest": table.to_dict("records"),
        "means": results.groupby(["method", "metric"])["value"]
        .mean()
        .reset_index()
        .to_dict("records"),
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
    }


def render(result: dict) -> str:
    lines = ["| size | images per second |", "|---:|---:|"]
    lines += [f"| {size} | {rate:.1f} |" for size, rate in result["images_per_second"].items()]
    lines += [
        "",
        "Paired with the largest size on the same trial: mean [95% interval], trials won.",
        "",
    ]
    lines += ["| method@size | figure | difference |", "|---|---|---|"]
    for row in result["paired_with_largest"]:
        lines.append(
            f"| {row['method']} | {row['metric']} | {row['mean_diff']:+.4f} "
            f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] {row['wins']}/{row['trials']} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 160, 128])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["control", "e_stitchup", "logreg"])
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--time-images", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    return parser


if __name__ == "__main__":
    main("image_size", parser, run, render)
