"""Similarity label augmentation on the real catalogue: every stop rule, its steps, sizes,
precision and time; the exact faiss kNN search against scikit-learn's brute force.

    EMBAUG_HOME=... python benchmarks/label_augmentation.py [--trial trial_0] [--queries 5000]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from benchmarks.common import load_vectors, write
from benchmarks.neighbours import knn_race
from embaug_core.labels.knn import STOP_ONS, STOPS
from embaug_core.labels.sets import LabelSettings, build_label_sets, label_quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trial", default="trial_0")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    store, vectors = load_vectors()
    split = store.split(args.trial)
    rows = []
    for stop in STOPS:
        for stop_on in STOP_ONS:
            started = time.perf_counter()
            sets = build_label_sets(vectors, split, LabelSettings(args.k, stop, stop_on))
            total = time.perf_counter() - started
            quality = label_quality(sets.table, split).set_index(["source", "label"])
            sizes = sets.augmented.sizes()
            row = {
                "stop": stop,
                "stop_on": stop_on,
                "steps": sets.augmented.n_steps,
                "seeds": int(sizes["seeds"].sum()),
                "augmented": int(sizes["augmented"].sum()),
                "augment_s": sets.seconds,
                "with_propagation_s": total,
            }
            for source in ("knn_aug", "label_prop"):
                if (source, "ALL") in quality.index:
                    row[f"{source}_precision"] = float(quality.loc[(source, "ALL"), "precision"])
                    row[f"{source}_coverage"] = float(quality.loc[(source, "ALL"), "coverage"])
            rows.append(row)
            print(row, flush=True)
    race = knn_race(vectors.vectors, args.queries, args.k, args.repeats)
    print(race)
    print(f"\n{len(vectors.product_ids)} products, {args.trial}, k = {args.k}\n")
    columns = [
        "stop",
        "stop_on",
        "steps",
        "seeds",
        "augmented",
        "knn_aug_precision",
        "knn_aug_coverage",
        "label_prop_precision",
        "augment_s",
    ]
    print(pd.DataFrame(rows)[columns].to_markdown(index=False, floatfmt=".3f"))
    print(
        f"\nkNN of {race['queries']} products among {race['database']}: "
        f"faiss {race['faiss_s']:.2f} s, scikit-learn brute force {race['sklearn_brute_s']:.2f} s "
        f"({race['speedup']:.1f}x), neighbour agreement {race['neighbour_agreement']:.4f}"
    )
    payload = {"trial": args.trial, "k": args.k, "runs": rows, "knn": race}
    print(f"written: {write('label_augmentation', payload)}")


if __name__ == "__main__":
    main()
