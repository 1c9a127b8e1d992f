"""Nearest-neighbour search at the catalogue's scale and beyond.

1. The exact kNN graph (k = 10): faiss `IndexFlatIP` on L2-normalised vectors against
   scikit-learn's brute force, the same --graph-queries products (0: every product) searched
   among all, interleaved; the whole graph's time is extrapolated from faiss's rate.
2. `augment_labels` end to end on the whole catalogue (k = 10, per-class shrink rule).
3. One million 256-d vectors: faiss IVF (`IndexIVFFlat`) over an nprobe sweep, and optionally
   HNSW (`IndexHNSWFlat`), against exact `IndexFlatL2` search: build time, query time and
   recall@10 on held-out queries; the tuned nprobe is the smallest reaching the recall target.

Parts 1 and 2 use the store under EMBAUG_HOME when it holds the whole catalogue (>= --min-
products); otherwise random vectors of the catalogue's shape (44,072 x 2,816) around 141
gaussian centres with Zipf-like sizes, the centres standing for classes. --full insists on the
store and writes results/neighbours_full.json.

    python -m benchmarks.neighbours [--graph-queries 2000] [--n 1000000] [--queries 2000]
        [--nlist 4096] [--train 65536] [--niter 10] [--hnsw] [--full]
"""

from __future__ import annotations

import argparse
import logging
import time

import faiss
import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from benchmarks.common import (
    WHOLE_CATALOGUE,
    add_full_flag,
    check,
    clustered_vectors,
    interleaved,
    load_vectors,
    main,
    medians,
    peak_rss_mb,
    require_whole_catalogue,
    target,
    timed,
)
from embaug_core.labels import augment_labels, normalised
from embaug_core.splits import make_split

logger = logging.getLogger(__name__)
CATALOGUE_SHAPE = (44_072, 2_816)
CATALOGUE_CLASSES = 141
RECALL_TARGET = 0.95


def knn_race(vectors: np.ndarray, queries: int, k: int, repeats: int) -> dict[str, float]:
    """Seconds for the k+1 nearest neighbours of `queries` products among all, both ways
    (0 queries: every product, the whole kNN graph)."""
    unit = normalised(vectors)
    n = len(unit) if queries <= 0 else min(queries, len(unit))
    rows = np.sort(np.random.default_rng(0).choice(len(unit), size=n, replace=False))
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    brute = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="euclidean").fit(unit)
    found: dict[str, np.ndarray] = {}
    times = interleaved(
        {
            "faiss": lambda: found.__setitem__("faiss", index.search(unit[rows], k + 1)[1]),
            "sklearn": lambda: found.__setitem__("sklearn", brute.kneighbors(unit[rows])[1]),
        },
        repeats,
    )
    seconds = medians(times)
    agreement = np.mean(
        [
            len(set(a) & set(b)) / (k + 1)
            for a, b in zip(found["faiss"], found["sklearn"], strict=True)
        ]
    )
    return {
        "queries": n,
        "database": len(unit),
        "dim": unit.shape[1],
        "faiss_s": seconds["faiss"],
        "sklearn_brute_s": seconds["sklearn"],
        "speedup": seconds["sklearn"] / seconds["faiss"],
        "faiss_full_graph_s_estimate": seconds["faiss"] * len(unit) / n,
        "neighbour_agreement": float(agreement),
    }


def catalogue_vectors(min_products: int, required: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """(vectors, class of each row, where they came from): the whole catalogue's store when
    EMBAUG_HOME has one, else (unless `required`) clustered random vectors of the same shape."""
    try:
        _, vectors = load_vectors()
        products = len(vectors.product_ids)
    except (FileNotFoundError, KeyError, LookupError) as error:
        logger.info("no usable store under EMBAUG_HOME (%s)", error)
        products = 0
    if required:
        require_whole_catalogue(products)
    if products >= min_products:
        return vectors.vectors, vectors.categories, "store"
    logger.info("the store has %d products: random vectors instead", products)
    n, dim = CATALOGUE_SHAPE
    # spread 4: a centre's own points are not always each other's nearest neighbours.
    vectors, cluster = clustered_vectors(n, dim, CATALOGUE_CLASSES, seed=0, spread=4.0)
    return vectors, cluster.astype(str), "random"


def augment_catalogue(vectors: np.ndarray, classes: np.ndarray, k: int) -> dict[str, object]:
    """augment_labels on a METHODS.md split of these rows (trial seed 0); precision of the
    labels it adds against the rows' true classes."""
    split = make_split(pd.Series(classes, index=np.arange(len(classes))), seed=0)
    train = split[split["role"] == "train"]
    seeds = {label: group["product_id"].to_numpy() for label, group in train.groupby("category")}
    holdout = split.loc[split["role"] == "holdout", "product_id"].to_numpy()
    started = time.perf_counter()
    augmented = augment_labels(vectors, seeds, holdout, k)
    seconds = time.perf_counter() - started
    table = augmented.table()
    added = table[table["step"] > 0]
    return {
        "products": len(vectors),
        "seeds": len(train),
        "steps": augmented.n_steps,
        "augmented": len(added),
        "precision": float((classes[added["row"].astype(int)] == added["label"]).mean()),
        "seconds": seconds,
    }


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth, strict=True)]))


def searcher(index: faiss.Index, knob: str, value: int, queries: np.ndarray, k: int):
    """A search of `queries` with the index's speed knob (nprobe, efSearch) at `value`."""
    owner = index.hnsw if knob == "efSearch" else index

    def search() -> np.ndarray:
        setattr(owner, knob, value)
        return index.search(queries, k)[1]

    return search


def approximate(args: argparse.Namespace) -> dict[str, object]:
    """Build IVF (and HNSW) on `args.n` clustered vectors, then time exact search and every
    nprobe (efSearch) interleaved over --repeats rounds, recall@k against the exact result on
    `args.queries` held-out queries."""
    data, _ = clustered_vectors(args.n + args.queries, args.dim, args.centres, seed=1)
    base, queries = data[: args.n], data[args.n :]
    exact = faiss.IndexFlatL2(args.dim)
    exact.add(base)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(args.dim), args.dim, args.nlist)
    ivf.cp.niter = args.niter
    rows = np.random.default_rng(2).choice(args.n, size=min(args.train, args.n), replace=False)
    _, train_s = timed(lambda: ivf.train(base[rows]))
    _, add_s = timed(lambda: ivf.add(base))
    result: dict[str, object] = {
        "n": args.n,
        "dim": args.dim,
        "centres": args.centres,
        "queries": args.queries,
        "k": args.k,
        "repeats": args.repeats,
        "ivf": {
            "nlist": args.nlist,
            "train_vectors": len(rows),
            "kmeans_iterations": args.niter,
            "train_s": train_s,
            "add_s": add_s,
            "build_s": train_s + add_s,
        },
    }
    searches = {"FlatL2 exact": lambda: exact.search(queries, args.k)[1]}
    searches |= {
        f"IVFFlat nprobe={p}": searcher(ivf, "nprobe", p, queries, args.k) for p in args.nprobe
    }
    if args.hnsw:
        hnsw = faiss.IndexHNSWFlat(args.dim, args.hnsw_m)
        _, build_s = timed(lambda: hnsw.add(base))
        result["hnsw"] = {
            "M": args.hnsw_m,
            "efConstruction": hnsw.hnsw.efConstruction,
            "build_s": build_s,
        }
        searches |= {
            f"HNSWFlat efSearch={ef}": searcher(hnsw, "efSearch", ef, queries, args.k)
            for ef in args.ef_search
        }
    found: dict[str, np.ndarray] = {}
    times = interleaved(
        {key: lambda key=key: found.__setitem__(key, searches[key]()) for key in searches},
        args.repeats,
    )
    seconds = medians(times)
    exact_s = seconds.pop("FlatL2 exact")
    result["exact_flat_l2_s"] = exact_s
    result["exact_qps"] = args.queries / exact_s
    result["sweep"] = [
        {
            "index": key.split()[0],
            "setting": key.split()[1],
            "search_s": s,
            "qps": args.queries / s,
            "speedup_vs_exact": exact_s / s,
            "recall": recall_at(found[key], found["FlatL2 exact"]),
        }
        for key, s in seconds.items()
    ]
    tuned = [r for r in result["sweep"] if r["index"] == "IVFFlat" and r["recall"] >= args.recall]
    result["ivf_tuned"] = tuned[0] if tuned else None
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--graph-queries",
        type=int,
        default=2000,
        help="queries of the faiss/scikit-learn kNN race (0: every row, the whole graph)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="of every timed search")
    parser.add_argument(
        "--min-products",
        type=int,
        default=WHOLE_CATALOGUE,
        help="a store with fewer products is replaced by random vectors",
    )
    add_full_flag(parser, "neighbours")
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors of the ANN test")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--centres", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=2000, help="held-out ANN queries")
    parser.add_argument("--nlist", type=int, default=4096)
    parser.add_argument("--train", type=int, default=65_536, help="IVF k-means sample")
    parser.add_argument("--niter", type=int, default=10, help="IVF k-means iterations")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[1, 4, 8, 16, 32, 64, 128])
    parser.add_argument("--recall", type=float, default=RECALL_TARGET)
    parser.add_argument("--hnsw", action="store_true", help="also build HNSW (slow: minutes)")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 128])
    return parser


def run(args: argparse.Namespace) -> dict[str, object]:
    vectors, classes, origin = catalogue_vectors(args.min_products, required=args.full)
    race = knn_race(vectors, args.graph_queries, args.k, args.repeats)
    logger.info("kNN race: %s", race)
    augmentation = augment_catalogue(vectors, classes, args.k)
    logger.info("label augmentation: %s", augmentation)
    del vectors
    ann = approximate(args)
    tuned = ann["ivf_tuned"]
    return {
        "catalogue_vectors": origin,
        "knn": race,
        "label_augmentation": augmentation,
        "ann": ann,
        "targets": [
            target("kNN: scikit-learn brute / faiss exact time", race["speedup"], 1, at_least=True),
            check(
                f"IVF reaches recall@{args.k} >= {args.recall:g} faster than exact search",
                bool(tuned) and tuned["speedup_vs_exact"] > 1,
                f"some nprobe of {args.nprobe}",
            ),
        ],
    }


def render(result: dict) -> str:
    race, aug, ann = result["knn"], result["label_augmentation"], result["ann"]
    origin = (
        "the whole catalogue's vectors from the store"
        if result["catalogue_vectors"] == "store"
        else f"random vectors of the catalogue's shape ({race['database']:,} x {race['dim']:,}, "
        f"{CATALOGUE_CLASSES} gaussian centres; no whole-catalogue store was found)"
    )
    lines = [
        f"On {origin}:",
        "",
        f"- Exact kNN (k+1 = 11) of {race['queries']:,} products among {race['database']:,}: "
        f"faiss IndexFlatIP {race['faiss_s']:.2f} s, scikit-learn brute force "
        f"{race['sklearn_brute_s']:.2f} s ({race['speedup']:.1f}x; neighbour agreement "
        f"{race['neighbour_agreement']:.4f}); the whole graph with faiss: about "
        f"{race['faiss_full_graph_s_estimate']:.0f} s.",
        f"- augment_labels on {aug['products']:,} rows from {aug['seeds']:,} seeds: "
        f"{aug['seconds']:.1f} s, {aug['steps']} steps, {aug['augmented']:,} labels added "
        f"({aug['precision']:.1%} right).",
        "",
        f"{ann['n']:,} random {ann['dim']}-d float32 vectors around {ann['centres']:,} gaussian "
        f"centres, {ann['queries']:,} held-out queries, k = {ann['k']}, search times the median "
        f"of {ann['repeats']} interleaved rounds: exact IndexFlatL2 "
        f"{ann['exact_flat_l2_s']:.1f} s ({ann['exact_qps']:.0f} queries/s). IVFFlat "
        f"nlist = {ann['ivf']['nlist']}: k-means ({ann['ivf']['kmeans_iterations']} iterations) "
        f"on {ann['ivf']['train_vectors']:,} vectors in "
        f"{ann['ivf']['train_s']:.1f} s, {ann['ivf']['add_s']:.1f} s to add.",
    ]
    if "hnsw" in ann:
        lines[-1] += (
            f" HNSWFlat M = {ann['hnsw']['M']}, efConstruction = "
            f"{ann['hnsw']['efConstruction']}: built in {ann['hnsw']['build_s']:.0f} s."
        )
    lines += ["", pd.DataFrame(ann["sweep"]).to_markdown(index=False, floatfmt=".3f"), ""]
    tuned = ann["ivf_tuned"]
    lines.append(
        f"Tuned: {tuned['setting']} reaches recall@{ann['k']} {tuned['recall']:.3f}, "
        f"{tuned['speedup_vs_exact']:.1f}x faster than exact search."
        if tuned
        else "No nprobe of the sweep reached the recall target."
    )
    lines.append(f"Peak memory: {ann['peak_rss_mb']:.0f} MB.")
    return "\n".join(lines)


if __name__ == "__main__":
    main("neighbours", parser, run, render)
