"""Similarity label augmentation and label propagation, against hand-worked examples and an
independent set-based reference of docs/METHODS.md section 6."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embaug_core.labels import index as labels_module
from embaug_core.labels.index import (
    ExactSearch,
    NeighbourIndex,
    build_index,
    neighbours,
    normalised,
)
from embaug_core.labels.knn import augment_labels, propagate_labels


def arc(n: int) -> np.ndarray:
    """n unit vectors 10 degrees apart: each point's nearest are its neighbours on the arc."""
    angles = np.deg2rad(10 * np.arange(n))
    return np.column_stack([np.cos(angles), np.sin(angles)]).astype(np.float32)


def as_sets(result):
    return {label: [set(step.tolist()) for step in steps] for label, steps in result.steps.items()}


def test_binary_example_worked_by_hand_literal_paper_rule():
    # Step 1: n_2(0) = {1, 2}, n_2(8) = {7, 6}; both classes grew, so "grow" stops at once.
    result = augment_labels(
        arc(9), {"P": [0], "N": [8]}, holdout=[], k=2, stop="any", stop_on="grow"
    )
    assert as_sets(result) == {"P": [{0}, {1, 2}], "N": [{8}, {6, 7}]}
    assert result.n_steps == 1


def test_binary_example_worked_by_hand_shrink_rule_and_holdout():
    # Step 2 adds {3} to P and {5} to N (one each, fewer than step 1's two): both stop.
    result = augment_labels(arc(9), {"P": [0], "N": [8]}, holdout=[], k=2)
    assert as_sets(result) == {"P": [{0}, {1, 2}, {3}], "N": [{8}, {6, 7}, {5}]}
    assert result.n_steps == 2
    held = augment_labels(arc(9), {"P": [0], "N": [8]}, holdout=[3], k=2)
    assert as_sets(held) == {"P": [{0}, {1, 2}, set()], "N": [{8}, {6, 7}, {5}]}


def test_under_stop_any_an_empty_step_ends_only_its_own_class():
    # N's only neighbours (8, 7) are held out: its step 1 is empty, which ends N alone. P never
    # grows (one row per step after two seeds), so under "grow" nothing stops P until its own
    # step is empty: 6's new neighbour 7 is held out.
    result = augment_labels(
        arc(10), {"P": [0, 1], "N": [9]}, holdout=[7, 8], k=2, stop="any", stop_on="grow"
    )
    assert as_sets(result) == {
        "P": [{0, 1}, {2}, {3}, {4}, {5}, {6}, set()],
        "N": [{9}, set()],
    }
    assert result.n_steps == 6


def test_contested_neighbours_go_to_nobody():
    # n_2(0) = {1, 2} and n_2(4) = {3, 2}: 2 is claimed twice, so it is dropped; then both
    # classes claim only 2 again, get nothing, and stop.
    result = augment_labels(arc(5), {"P": [0], "N": [4]}, holdout=[], k=2)
    assert as_sets(result) == {"P": [{0}, {1}, set()], "N": [{4}, {3}, set()]}


def reference(vectors, seeds, holdout, k, stop, stop_on):
    """The formulas with Python sets and a float64 brute-force kNN."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    steps = {c: [set(rows)] for c, rows in seeds.items()}
    active = {c for c in seeds if seeds[c]}
    while active:
        taken = set().union(*(s for c in steps for s in steps[c]))
        primed = {c: set(nearest[list(steps[c][-1])].ravel().tolist()) - taken for c in active}
        met, empty = set(), set()
        for c in active:
            others = set().union(*(primed[o] for o in active if o != c))
            new = primed[c] - others - set(holdout)
            before = len(steps[c][-1])
            steps[c].append(new)
            if len(new) < before if stop_on == "shrink" else len(new) > before:
                met.add(c)
            if not new:
                empty.add(c)
        active = set() if met and stop == "any" else active - met - empty
    return steps


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(20, 80),
    classes=st.integers(2, 4),
    k=st.integers(1, 6),
    stop=st.sampled_from(["per_class", "any"]),
    stop_on=st.sampled_from(["shrink", "grow"]),
)
def test_matches_the_set_reference_and_keeps_classes_disjoint(seed, n, classes, k, stop, stop_on):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 6)).astype(np.float32)
    order = rng.permutation(n)
    seeds = {f"c{i}": order[2 * i : 2 * i + 2].tolist() for i in range(classes)}
    holdout = order[2 * classes : 2 * classes + n // 5].tolist()
    result = augment_labels(vectors, seeds, holdout, k=k, stop=stop, stop_on=stop_on)
    assert as_sets(result) == reference(vectors, seeds, holdout, k, stop, stop_on)
    labelled = [row for steps in result.steps.values() for s in steps for row in s.tolist()]
    assert len(labelled) == len(set(labelled))  # disjoint across classes and steps
    assert not set(labelled) & set(holdout)


def test_a_point_is_never_its_own_neighbour_even_among_duplicates():
    vectors = normalised(np.repeat(np.eye(3, dtype=np.float32), 4, axis=0))  # 4 copies each
    index = faiss.IndexFlatIP(3)
    index.add(vectors)
    rows = np.arange(12)
    found = neighbours(index, vectors, rows, k=3)
    assert not (found == rows[:, None]).any()
    assert (found // 4 == rows[:, None] // 4).all()  # the three other copies


def test_deterministic_and_edge_cases_are_clear():
    vectors = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    a = augment_labels(vectors, {"a": [0, 1], "b": [2]}, [3, 4], k=3)
    b = augment_labels(vectors, {"a": [0, 1], "b": [2]}, [3, 4], k=3)
    assert as_sets(a) == as_sets(b)
    empty = augment_labels(vectors, {"a": [0], "none_seeded": []}, [], k=3)
    assert as_sets(empty)["none_seeded"] == [set()]
    huge_k = augment_labels(vectors[:5], {"a": [0], "b": [1]}, [], k=50)
    assert set().union(*as_sets(huge_k)["a"], *as_sets(huge_k)["b"]) <= set(range(5))
    with pytest.raises(ValueError, match="overlap"):
        augment_labels(vectors, {"a": [0], "b": [0]}, [], k=3)
    with pytest.raises(ValueError, match="stop must be one of"):
        augment_labels(vectors, {"a": [0]}, [], stop="all")


def test_label_propagation_spreads_seed_labels_along_the_graph():
    vectors = np.vstack([arc(6), -arc(6)])  # two separate arcs
    spread = propagate_labels(
        vectors, {"P": [0], "N": [6]}, unlabeled=[1, 2, 3, 7, 8], steps=3, k=2
    )
    labels = dict(zip(spread["row"], spread["label"], strict=True))
    assert labels == {1: "P", 2: "P", 3: "P", 7: "N", 8: "N"}
    one_step = propagate_labels(
        vectors, {"P": [0], "N": [6]}, unlabeled=[1, 2, 3, 7, 8], steps=1, k=2
    )
    # k=2 within the subset: 1 -> {0, 2}, 2 -> {1, 3}, 8 -> {7, 6}: only 1, 7, 8 touch a seed.
    assert set(one_step["row"]) == {1, 7, 8}


def test_trial_label_sets_and_their_quality_against_the_truth():
    import pandas as pd

    from embaug_core.embeddings.vectors import ProductVectors
    from embaug_core.labels.sets import LabelSettings, build_label_sets, label_quality

    rng = np.random.default_rng(1)
    centres = np.array([[10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=np.float32)
    category = np.repeat(["a", "b", "c"], 40)
    vectors = centres[np.repeat([0, 1, 2], 40)] + rng.normal(size=(120, 3)).astype(np.float32)
    ids = np.array([f"p{i:03d}" for i in range(120)])
    role = np.array(["pool"] * 120, dtype=object)
    role[[0, 1, 40, 41]] = "train"  # class c has no seeds: it is "none"
    role[np.arange(100, 120)] = "holdout"
    split = pd.DataFrame(
        {
            "product_id": ids,
            "category": category,
            "role": role,
            "known": np.isin(category, ["a", "b"]),
        }
    )
    sets = build_label_sets(ProductVectors(ids, category, vectors), split, LabelSettings(k=5))
    table = sets.table
    assert set(table["source"]) == {"seed", "knn_aug", "label_prop"}
    assert not set(table["product_id"]) & set(ids[100:])
    quality = label_quality(table, split).set_index(["source", "label"])
    knn = quality.loc[("knn_aug", "a")]
    assert knn["precision"] == 1.0 and 0 < knn["coverage"] <= 1
    n_aug = (table["source"] == "knn_aug").sum()
    assert quality.loc[("knn_aug", "ALL"), "labels"] == n_aug
    assert (table["source"] == "label_prop").sum() <= n_aug


def test_label_quality_of_a_split_without_a_pool_has_no_coverage():
    """A tiny catalogue can leave the pool empty: coverage is undefined, not a type error
    (the store hands back Arrow strings)."""
    import pandas as pd
    import pyarrow as pa

    from embaug_core.labels.sets import label_quality

    split = pd.DataFrame(
        {
            "product_id": pd.array(["p1", "p2", "p3"], dtype=pd.ArrowDtype(pa.large_string())),
            "category": pd.array(["a", "b", "a"], dtype=pd.ArrowDtype(pa.large_string())),
            "role": pd.array(["train", "train", "holdout"], dtype=pd.ArrowDtype(pa.large_string())),
        }
    )
    table = pd.DataFrame(
        {
            "product_id": pd.array(["p1", "p2", "p9"], dtype=pd.ArrowDtype(pa.large_string())),
            "label": pd.array(["a", "b", "a"], dtype=pd.ArrowDtype(pa.large_string())),
            "source": pd.array(["seed", "seed", "knn_aug"], dtype=pd.ArrowDtype(pa.large_string())),
        }
    )
    quality = label_quality(table, split).set_index(["source", "label"])
    assert quality.loc[("knn_aug", "a"), "checkable"] == 0
    assert quality["coverage"].isna().all()


def clustered(n: int, dim: int, centres: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters, well apart: each point's nearest neighbours are mostly its own."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(centres, size=n)
    centre = 3 * rng.standard_normal((centres, dim), dtype=np.float32)
    return centre[cluster] + rng.standard_normal((n, dim), dtype=np.float32), cluster


def added(result) -> set[tuple[int, str]]:
    table = result.table()
    table = table[table["step"] > 0]
    return set(zip(table["row"], table["label"], strict=True))


@pytest.fixture(scope="module")
def clusters():
    vectors, cluster = clustered(3000, 16, 6, seed=0)
    order = np.random.default_rng(1).permutation(len(vectors))
    seeds = {f"c{c}": [row for row in order[:60] if cluster[row] == c] for c in range(6)}
    holdout = order[60:660]
    return vectors, seeds, holdout, augment_labels(vectors, seeds, holdout, k=10)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_add_nearly_the_exact_labels_and_keep_the_invariants(clusters, kind):
    vectors, seeds, holdout, exact = clusters
    built = build_index(vectors[:500], NeighbourIndex(kind))  # not exact search in disguise
    assert isinstance(built, faiss.IndexIVF if kind == "ivf" else faiss.IndexHNSW)
    result = augment_labels(vectors, seeds, holdout, k=10, index=kind)
    same = added(result) & added(exact)
    assert len(same) >= 0.95 * max(len(added(exact)), len(added(result)))
    labelled = [row for steps in result.steps.values() for s in steps for row in s.tolist()]
    assert len(labelled) == len(set(labelled))  # disjoint across classes and steps
    assert not set(labelled) & set(holdout.tolist())


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_propagation_over_an_approximate_index_nearly_matches_exact(clusters, kind):
    vectors, seeds, holdout, _ = clusters
    seeded = [row for rows in seeds.values() for row in rows]
    unlabeled = np.setdiff1d(np.arange(len(vectors)), [*holdout, *seeded])
    exact = propagate_labels(vectors, seeds, unlabeled, steps=5, k=10)
    approximate = propagate_labels(vectors, seeds, unlabeled, steps=5, k=10, index=kind)
    both = exact.merge(approximate, on="row", how="outer", suffixes=("_exact", "_approx"))
    assert (both["label_exact"] == both["label_approx"]).mean() >= 0.95


def test_exact_search_over_blocks_matches_a_flat_index_for_any_float_dtype(monkeypatch):
    monkeypatch.setattr(labels_module, "BLOCK_ROWS", 16)  # 100 rows: 7 blocks, merged
    vectors = np.random.default_rng(2).normal(size=(100, 8)).astype(np.float16)
    flat = faiss.IndexFlatIP(8)
    flat.add(normalised(vectors))
    queries = normalised(vectors[:10])
    similarity, found = ExactSearch(vectors).search(queries, 5)
    flat_similarity, flat_found = flat.search(queries, 5)
    np.testing.assert_array_equal(found, flat_found)
    np.testing.assert_allclose(similarity, flat_similarity, rtol=1e-5)
    assert ExactSearch(vectors[:3]).search(queries, 5)[1][:, 3:].tolist() == [[-1, -1]] * 10


def test_ivf_on_too_few_vectors_warns_and_searches_exactly(caplog):
    vectors, _ = clustered(200, 4, 2, seed=3)
    assert isinstance(build_index(vectors[:30], NeighbourIndex("ivf")), ExactSearch)
    assert "too few for IVF" in caplog.text
    index = build_index(vectors, NeighbourIndex("ivf", nlist=50))
    assert index.nlist == 200 // 39  # at least 39 training vectors a list
    assert "50 lists asked for" in caplog.text


def test_index_settings_are_checked_with_what_is_accepted():
    with pytest.raises(ValueError, match="kind must be one of exact, ivf, hnsw, got 'annoy'"):
        NeighbourIndex("annoy")
    with pytest.raises(ValueError, match="storage must be one of flat, fp16, sq8"):
        NeighbourIndex("ivf", storage="pq")
    with pytest.raises(ValueError, match="exact search reads the vectors as given"):
        NeighbourIndex(storage="sq8")
    for field in ("nprobe", "ef_search", "ef_construction", "nlist"):
        with pytest.raises(ValueError, match=f"{field} must be at least 1"):
            NeighbourIndex("ivf", **{field: 0})
    with pytest.raises(ValueError, match="m \\(HNSW links a vector\\) must be at least 2"):
        NeighbourIndex("hnsw", m=1)
    vectors = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="kind must be one of"):
        augment_labels(vectors, {"a": [0]}, [], index="IVF")
    with pytest.raises(TypeError, match="or a NeighbourIndex"):
        propagate_labels(vectors, {"a": [0]}, [1], steps=1, index=4)


@pytest.mark.parametrize(
    ("settings", "built"),
    [
        ({"index": "ivf", "nlist": 8, "storage": "sq8"}, "IVF8,SQ8"),
        ({"index": "hnsw", "m": 8}, "HNSW8,Flat"),
    ],
)
def test_label_settings_choose_the_index_of_a_trials_label_sets(caplog, settings, built):
    """The index of label_sets' config reaches both the augmentation and the propagation, and
    grows nearly the labels exact search grows."""
    import logging

    import pandas as pd

    from embaug_core.embeddings.vectors import ProductVectors
    from embaug_core.labels.sets import LabelSettings, build_label_sets

    vectors, cluster = clustered(3000, 16, 6, seed=4)
    ids = np.array([f"p{i:04d}" for i in range(len(vectors))])
    role = np.full(len(vectors), "pool", dtype=object)
    role[:60], role[60:600] = "train", "holdout"
    split = pd.DataFrame({"product_id": ids, "category": cluster.astype(str), "role": role})
    products = ProductVectors(ids, cluster.astype(str), vectors)
    exact = build_label_sets(products, split, LabelSettings()).table
    with caplog.at_level(logging.INFO, logger="embaug_core.labels.index"):
        approximate = build_label_sets(products, split, LabelSettings(**settings)).table
    assert caplog.text.count(f"built a faiss {built} index") == 2  # augmentation, propagation

    def labels(table: pd.DataFrame, source: str) -> pd.Series:
        chosen = table[table["source"] == source]
        return pd.Series(chosen["label"].to_numpy(), index=chosen["product_id"])

    grown, exact_grown = labels(approximate, "knn_aug"), labels(exact, "knn_aug")
    same = (grown.reindex(exact_grown.index) == exact_grown).sum()
    assert same >= 0.9 * max(len(grown), len(exact_grown))
    # Propagation spreads over a pool sample as large as the augmentation: compare where both
    # labelled a product.
    spread, exact_spread = labels(approximate, "label_prop"), labels(exact, "label_prop")
    both = spread.index.intersection(exact_spread.index)
    assert len(both) and (spread[both] == exact_spread[both]).mean() >= 0.95
    with pytest.raises(ValueError, match="exact search reads the vectors as given"):
        LabelSettings(storage="sq8")  # refused before any vector is read
