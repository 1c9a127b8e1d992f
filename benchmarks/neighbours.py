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

4. --ann-augment runs only this part and writes results/neighbours_ann.json: `augment_labels`
   on --ann-n (1M) random vectors of the catalogue's width, the stand-in of parts 1-2 made
   larger, with exact search and with each of --ann-kinds (IVF, HNSW) over a sweep of its
   speed knob: build and grow times, the added labels identical to the exact run's, their
   precision, recall@k of the neighbours of --ann-probe seed rows, and peak memory per index.

   Memory: 1M x 2,816 float32 is 11.3 GB, so the vectors are float16 (5.6 GB), the exact
   search reads them a block at a time without a copy (labels.ExactSearch), and the approximate
   indexes hold 8-bit codes (--ann-storage sq8, 2.8 GB; float32 or float16 codes would not fit
   beside the vectors in 12 GB). Every index searches these same float16 vectors, so "exact"
   is exact for them.
   Time: exact search of 1M x 2,816 cost 0.25 s a query here (under load), and to convergence
   every labelled row is a query, so the runs are capped at --ann-steps steps from few seeds
   (--ann-seed-share of each class): all kinds grow the same seeds over the same steps. The
   build of an approximate index pays off only over many queries, so build and grow are timed
   apart: grow speedups carry over to longer runs; end-to-end ones (build + grow) are for
   this capped run.

    python -m benchmarks.neighbours --ann-augment [--ann-n 1000000] [--ann-steps 2]
        [--ann-seed-share 0.0005] [--ann-kinds ivf [hnsw]] [--ann-nprobe 8 16 64]
        [--ann-ef-search 64 256 1024]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

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
from embaug_core.labels.index import (
    NeighbourIndex,
    Searcher,
    build_index,
    ivf_lists,
    neighbours,
    normalised,
)
from embaug_core.labels.knn import AugmentedLabels, augment_labels, grow_classes
from embaug_core.labels.splits import make_split

logger = logging.getLogger(__name__)
CATALOGUE_SHAPE = (44_072, 2_816)
CATALOGUE_CLASSES = 141
#: The catalogue stand-in's gaussian spread (`catalogue_vectors`), kept at 1M rows.
CATALOGUE_SPREAD = 4.0
RECALL_TARGET = 0.95
IDENTICAL_TARGET = 0.95
SPEEDUP_TARGET = 10
#: The speed knob of each approximate index that --ann-augment sweeps.
KNOBS = {"ivf": "nprobe", "hnsw": "efSearch"}


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
    vectors, cluster = clustered_vectors(n, dim, CATALOGUE_CLASSES, seed=0, spread=CATALOGUE_SPREAD)
    return vectors, cluster.astype(str), "random"


def augment_catalogue(vectors: np.ndarray, classes: np.ndarray, k: int) -> dict[str, object]:
    """augment_labels on a docs/METHODS.md split of these rows (trial seed 0); precision of the
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


def new_peak_window() -> None:
    """Restart this process's peak resident memory from now (Linux: VmHWM, and with it
    ru_maxrss and `peak_rss_mb`), to measure the peak of one index at a time."""
    Path("/proc/self/clear_refs").write_text("5")


def scale_split(
    cluster: np.ndarray, seed_share: float, holdout_share: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Seeds: a seeded `seed_share` of every cluster, at least one row; hold-out: a seeded
    `holdout_share` of the other rows."""
    rng = np.random.default_rng(0)
    seeds = {}
    for label in np.unique(cluster):
        rows = np.flatnonzero(cluster == label)
        size = max(1, round(seed_share * len(rows)))
        seeds[str(label)] = np.sort(rng.choice(rows, size=size, replace=False))
    rest = np.setdiff1d(np.arange(len(cluster)), np.concatenate(list(seeds.values())))
    holdout = np.sort(rng.choice(rest, size=round(holdout_share * len(rest)), replace=False))
    return seeds, holdout


def added_labels(grown: AugmentedLabels) -> set[tuple[int, str]]:
    """(row, label) of every label the augmentation added (not the seeds)."""
    table = grown.table()
    added = table[table["step"] > 0]
    return set(zip(added["row"].astype(int), added["label"], strict=True))


def searched(grown: AugmentedLabels) -> int:
    """Rows searched: every step of a class but its last was a frontier."""
    return sum(len(rows) for steps in grown.steps.values() for rows in steps[:-1])


def set_knob(index: Searcher, kind: str, value: int) -> None:
    """Set a built index's speed knob (IVF's nprobe, HNSW's efSearch)."""
    if kind == "ivf":
        index.nprobe = value
    else:
        index.hnsw.efSearch = value


def scale_settings(args: argparse.Namespace, kind: str) -> NeighbourIndex:
    """The index --ann-augment builds for `kind` (knobs at the first value of their sweep)."""
    if kind == "exact":
        return NeighbourIndex()
    return NeighbourIndex(
        kind,
        nlist=args.ann_nlist,
        nprobe=args.ann_nprobe[0],
        ef_search=args.ann_ef_search[0],
        ef_construction=args.ann_ef_construction,
        m=args.ann_m,
        storage=args.ann_storage,
    )


def scale_run(
    kind: str,
    setting: str,
    grown: AugmentedLabels,
    seconds: tuple[float, float],
    found: np.ndarray,
    classes: np.ndarray,
    exact: dict[str, object] | None,
) -> dict[str, object]:
    """One augmentation's figures; against `exact` (the exact run's, with its labels and
    neighbours) unless it is the exact run."""
    build_s, grow_s = seconds
    labels = added_labels(grown)
    rows = np.fromiter((row for row, _ in labels), dtype=np.int64, count=len(labels))
    given = np.array([label for _, label in labels], dtype=object)
    truth = exact or {"labels": labels, "found": found, "grow_s": grow_s, "total_s": grow_s}
    same = len(labels & truth["labels"])
    return {
        "index": kind,
        "setting": setting,
        "build_s": build_s,
        "grow_s": grow_s,
        "total_s": build_s + grow_s,
        "grow_speedup": truth["grow_s"] / grow_s,
        "total_speedup": truth["total_s"] / (build_s + grow_s),
        "steps": grown.n_steps,
        "queries": searched(grown),
        "added": len(labels),
        "identical_of_exact": same / max(len(truth["labels"]), 1),
        "identical_of_own": same / max(len(labels), 1),
        "precision": float((classes[rows] == given).mean()) if len(labels) else 0.0,
        f"recall_at_{found.shape[1]}": recall_at(found, truth["found"]),
        "labels": labels,
        "found": found,
    }


def augment_at_scale(args: argparse.Namespace) -> dict[str, object]:
    """Part 4 (module docstring): exact search first, then every kind of --ann-kinds built
    once and grown once per value of its knob; all from the same seeds over the same steps."""
    new_peak_window()
    (vectors, cluster), generate_s = timed(
        lambda: clustered_vectors(
            args.ann_n,
            args.ann_dim,
            CATALOGUE_CLASSES,
            seed=0,
            spread=CATALOGUE_SPREAD,
            dtype=np.float16,
        )
    )
    classes = cluster.astype(str)
    seeds, holdout = scale_split(cluster, args.ann_seed_share, args.ann_holdout_share)
    all_seeds = np.concatenate(list(seeds.values()))
    probe = np.sort(
        np.random.default_rng(1).choice(all_seeds, min(args.ann_probe, len(all_seeds)), False)
    )
    peak_mb = {"generate": peak_rss_mb()}
    runs: list[dict[str, object]] = []
    for kind in ["exact", *args.ann_kinds]:
        new_peak_window()
        settings = scale_settings(args, kind)
        index, build_s = timed(lambda settings=settings: build_index(vectors, settings))
        logger.info("%s index built in %.0f s", kind, build_s)
        sweep = {"ivf": args.ann_nprobe, "hnsw": args.ann_ef_search}.get(kind, [None])
        for value in sweep:
            if value is not None:
                set_knob(index, kind, value)
            grown, grow_s = timed(
                lambda index=index: grow_classes(
                    index, vectors, seeds, holdout, args.k, "per_class", "shrink", args.ann_steps
                )
            )
            found = neighbours(index, vectors, probe, args.k)
            setting = "-" if value is None else f"{KNOBS[kind]}={value}"
            run = scale_run(
                kind, setting, grown, (build_s, grow_s), found, classes, runs[0] if runs else None
            )
            logger.info("%s", {key: v for key, v in run.items() if key not in ("labels", "found")})
            runs.append(run)
        peak_mb[kind] = peak_rss_mb()
        del index
    for run in runs:
        del run["labels"], run["found"]
    return {
        "augment_at_scale": {
            "n": args.ann_n,
            "dim": args.ann_dim,
            "dtype": "float16",
            "centres": CATALOGUE_CLASSES,
            "spread": CATALOGUE_SPREAD,
            "k": args.k,
            "max_steps": args.ann_steps,
            "seed_share": args.ann_seed_share,
            "seeds": len(all_seeds),
            "holdout": len(holdout),
            "probe_queries": len(probe),
            "storage": args.ann_storage,
            "ivf_nlist": ivf_lists(args.ann_n, args.ann_nlist),
            "hnsw_m": args.ann_m,
            "hnsw_ef_construction": args.ann_ef_construction,
            "generate_s": generate_s,
            "runs": runs,
            "peak_rss_mb": peak_mb,
        },
        "targets": scale_targets(runs, args.ann_kinds),
    }


def identical(run: dict[str, object]) -> float:
    """The smaller share of identical labels: of the exact run's and of the run's own."""
    return min(run["identical_of_exact"], run["identical_of_own"])


def scale_targets(runs: list[dict[str, object]], kinds: list[str]) -> list[dict[str, object]]:
    """Per approximate kind: the best speedup, grow and end to end, of a setting keeping at
    least IDENTICAL_TARGET of the exact run's labels (0 when none does)."""
    targets = []
    for kind in kinds:
        kept = [r for r in runs if r["index"] == kind and identical(r) >= IDENTICAL_TARGET]
        for phase, key in (("grow", "grow_speedup"), ("build + grow", "total_speedup")):
            targets.append(
                target(
                    f"{kind} at >= {IDENTICAL_TARGET:g} identical labels: {phase} speedup",
                    max((r[key] for r in kept), default=0.0),
                    SPEEDUP_TARGET,
                    at_least=True,
                )
            )
    return targets


def add_scale_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of part 4, --ann-augment (they do not depend on --full)."""
    parser.add_argument(
        "--ann-augment",
        action="store_true",
        help="run only augment_labels at scale, exact against approximate (neighbours_ann.json)",
    )
    parser.add_argument("--ann-n", type=int, default=1_000_000, help="vectors of --ann-augment")
    parser.add_argument("--ann-dim", type=int, default=CATALOGUE_SHAPE[1])
    parser.add_argument("--ann-steps", type=int, default=2, help="max_steps of every run")
    parser.add_argument(
        "--ann-seed-share", type=float, default=0.0005, help="of each class, at least one row"
    )
    parser.add_argument("--ann-holdout-share", type=float, default=0.2, help="of the non-seeds")
    parser.add_argument(
        "--ann-kinds",
        nargs="+",
        choices=list(KNOBS),
        default=["ivf"],
        help="besides exact (HNSW's build at 1M x 2,816 took 37 min here)",
    )
    parser.add_argument("--ann-storage", default="sq8", help="codes of the approximate indexes")
    parser.add_argument("--ann-nlist", type=int, default=None, help="IVF lists (sqrt(n))")
    parser.add_argument("--ann-nprobe", type=int, nargs="+", default=[8, 16, 64])
    parser.add_argument("--ann-m", type=int, default=16, help="HNSW links a vector")
    parser.add_argument("--ann-ef-construction", type=int, default=40)
    parser.add_argument("--ann-ef-search", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument(
        "--ann-probe", type=int, default=200, help="seed rows whose recall@k is measured"
    )


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
    add_scale_flags(parser)
    return parser


def run(args: argparse.Namespace) -> dict[str, object]:
    if args.ann_augment:
        if args.full:
            raise SystemExit("--ann-augment runs on random vectors: --full does not apply")
        return augment_at_scale(args)
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


def render_at_scale(result: dict) -> str:
    scale = result["augment_at_scale"]
    exact = scale["runs"][0]
    peaks = ", ".join(f"{part} {mb:,.0f}" for part, mb in scale["peak_rss_mb"].items())
    table = pd.DataFrame(scale["runs"]).rename(columns=lambda c: c.replace("_", " "))
    lines = [
        f"augment_labels on {scale['n']:,} random {scale['dim']:,}-d {scale['dtype']} vectors "
        f"around {scale['centres']} gaussian centres (spread {scale['spread']:g}, the catalogue "
        f"stand-in of parts 1-2; made in {scale['generate_s']:.0f} s), k = {scale['k']}, "
        f"per-class shrink rule capped at {scale['max_steps']} steps, from {scale['seeds']:,} "
        f"seeds ({scale['seed_share']:g} of each class, at least one), {scale['holdout']:,} "
        f"held out. Every run grows the same seeds; the exact run searched "
        f"{exact['queries']:,} rows in {exact['grow_s']:.0f} s and added {exact['added']:,} "
        f"labels. Approximate indexes hold {scale['storage']} codes; IVF "
        f"nlist = {scale['ivf_nlist']:,}, HNSW M = {scale['hnsw_m']}, "
        f"efConstruction = {scale['hnsw_ef_construction']}. Identical: the share of the exact "
        f"run's added (product, label) pairs the run added too (of exact), and of the run's "
        f"own added pairs the exact run added too (of own); recall@{scale['k']} of "
        f"{scale['probe_queries']} seed rows' neighbours against exact search. One run each "
        "(too long to repeat), so times move with the machine's load.",
        "",
        table.to_markdown(index=False, floatfmt=".3f"),
        "",
        f"Peak memory (MB) of each part: {peaks}.",
    ]
    return "\n".join(lines)


def render(result: dict) -> str:
    if "augment_at_scale" in result:
        return render_at_scale(result)
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
    main("neighbours", parser, run, render, part=lambda args: "ann" if args.ann_augment else "")
