"""Metrics with a "none" category, checked against scikit-learn and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import auc, f1_score, roc_auc_score, roc_curve

from embaug_core.evaluation.metrics import (
    NONE,
    equal_accuracy_point,
    expected_calibration_error,
    none_accuracy,
    overall_accuracy,
    threshold_sweep,
    tradeoff_auc,
)
from embaug_core.evaluation.roc import weighted_auc
from embaug_core.evaluation.scores import evaluate


def scores(n: int = 300, classes: int = 4, none_share: float = 0.2, seed: int = 0):
    """Probabilities under 0.6, plus up to 0.6 on the true class of a known product and on a
    random class of a "none" product: at the threshold 0.6 some of each pass (a "none"
    product predicted into a class is what the figures must count against it)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    labels[rng.random(n) < none_share] = NONE
    probs = rng.random((n, classes)) * 0.6
    known = labels != NONE
    probs[known, labels[known]] += rng.random(known.sum()) * 0.6
    probs[~known, rng.integers(0, classes, (~known).sum())] += rng.random((~known).sum()) * 0.6
    return probs.clip(0, 1), labels


def test_the_drawn_scores_put_some_none_products_past_the_threshold():
    probs, labels = scores()
    passing = probs[labels == NONE].max(1) > 0.6
    assert 0 < passing.mean() < 1


def test_accuracies_by_hand():
    probs = np.array([[0.9, 0.1], [0.55, 0.2], [0.1, 0.7], [0.3, 0.2], [0.65, 0.1]])
    labels = np.array([0, 0, 0, NONE, NONE])
    assert overall_accuracy(probs, labels, 0.6) == pytest.approx(1 / 3)
    assert none_accuracy(probs, labels, 0.6) == pytest.approx(1 / 2)


def test_sweep_agrees_with_pointwise_accuracies():
    probs, labels = scores()
    sweep = threshold_sweep(probs, labels, np.array([0.0, 0.3, 0.6, 0.95]))
    for _, row in sweep.iterrows():
        assert row["overall"] == pytest.approx(overall_accuracy(probs, labels, row["threshold"]))
        assert row["none"] == pytest.approx(none_accuracy(probs, labels, row["threshold"]))


def test_weighted_auc_matches_sklearn_and_the_averaged_curve():
    probs, labels = scores()
    curve_auc, mean_auc = weighted_auc(probs, labels)
    truth = np.column_stack([labels == c for c in range(4)] + [labels == NONE]).astype(int)
    score = np.column_stack([probs, 1 - probs.max(1)])
    assert mean_auc == pytest.approx(roc_auc_score(truth, score, average="weighted"))
    assert 0.5 < curve_auc < 1 and abs(curve_auc - mean_auc) < 0.05


@pytest.mark.parametrize("decimals", [None, 1])
def test_weighted_roc_matches_sklearns_per_class_curves(decimals):
    """The curve on FPR_GRID and both AUCs equal those built from scikit-learn's `roc_curve`
    and `roc_auc_score`, also when scores tie (rounded to one decimal: few distinct values)."""
    from embaug_core.evaluation.roc import FPR_GRID, weighted_roc_curve

    probs, labels = scores(n=500, classes=6, seed=3)
    if decimals is not None:
        probs = probs.round(decimals)
    truth = np.column_stack([labels == c for c in range(6)] + [labels == NONE]).astype(int)
    score = np.column_stack([probs, 1 - probs.max(1)])
    weights = truth.sum(0) / truth.sum()
    expected = np.zeros_like(FPR_GRID)
    for column, weight in enumerate(weights):
        fpr, tpr, _ = roc_curve(truth[:, column], score[:, column])
        expected += weight * np.interp(FPR_GRID, fpr, tpr)
    expected[0] = 0.0
    np.testing.assert_allclose(weighted_roc_curve(probs, labels)["tpr"], expected, atol=1e-12)
    curve_auc, mean_auc = weighted_auc(probs, labels)
    assert curve_auc == pytest.approx(np.trapezoid(expected, FPR_GRID), abs=1e-12)
    assert mean_auc == pytest.approx(roc_auc_score(truth, score, average="weighted"), abs=1e-12)


def test_perfect_and_uninformative_scores():
    labels = np.array([0, 1, 0, 1, NONE, NONE])
    perfect = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [0, 0], [0, 0]], dtype=float)
    assert weighted_auc(perfect, labels)[0] == pytest.approx(1.0, abs=1e-3)
    flat = np.full((6, 2), 0.5)
    curve, mean = weighted_auc(flat, labels)
    assert curve == pytest.approx(0.5, abs=1e-3) and mean == pytest.approx(0.5)
    metrics = evaluate(flat, labels, 0.6)
    assert metrics["overall_acc"] == 0 and metrics["none_acc"] == 1


def test_no_none_products_leaves_none_figures_undefined_not_crashing():
    probs, labels = scores(none_share=0.0)
    metrics = evaluate(probs, labels, 0.6)
    assert np.isnan(metrics["none_acc"]) and np.isnan(metrics["tradeoff_auc"])
    assert 0 < metrics["weighted_auc"] <= 1


def test_class_with_one_product_and_macro_f1_against_sklearn():
    probs, labels = scores(n=50, classes=3)
    labels[0], probs[0] = 2, [0.0, 0.0, 0.99]
    labels[labels == 2] = 0
    labels[0] = 2
    predicted = np.where(probs.max(1) > 0.6, probs.argmax(1), NONE)
    known = labels != NONE
    # Over all of H: a "none" product predicted into a class is one of its false positives.
    expected = f1_score(
        labels,
        predicted,
        labels=np.unique(labels[known]),
        average="macro",
        zero_division=0,
    )
    assert evaluate(probs, labels, 0.6)["macro_f1_known"] == pytest.approx(expected)


def test_tradeoff_area_and_equal_accuracy_point():
    probs, labels = scores(seed=3)
    sweep = threshold_sweep(probs, labels)
    point = equal_accuracy_point(sweep)
    gap = (sweep["overall"] - sweep["none"]).abs()
    assert point == pytest.approx(sweep["overall"][gap.idxmin()], abs=0.02)
    ordered = sweep.sort_values(["none", "overall"], ascending=[True, False])
    area = auc(
        np.r_[0, ordered["none"], 1], np.r_[ordered["overall"].iloc[0], ordered["overall"], 0]
    )
    assert tradeoff_auc(sweep) == pytest.approx(area)


def test_calibration_error_of_a_calibrated_and_an_overconfident_model():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.3, 1.0, 20_000)
    correct = rng.random(20_000) < confidence
    probs = np.column_stack([confidence, np.zeros_like(confidence)])
    labels = np.where(correct, 0, 1)
    assert expected_calibration_error(probs, labels) < 0.02
    assert expected_calibration_error(
        np.column_stack([np.ones(100), np.zeros(100)]), np.r_[np.zeros(50), np.ones(50)].astype(int)
    ) == pytest.approx(0.5)


def test_macro_precision_recall_against_sklearn():
    from sklearn.metrics import precision_score, recall_score

    from embaug_core.evaluation.metrics import macro_precision_recall

    probs, labels = scores(seed=5)
    predicted = np.where(probs.max(1) > 0.6, probs.argmax(1), NONE)
    present = np.unique(labels[labels != NONE])
    p, r, hm = macro_precision_recall(probs, labels, 0.6)
    # Over all of H: "none" products predicted into a class count against its precision.
    assert p == pytest.approx(
        precision_score(labels, predicted, labels=present, average="macro", zero_division=0)
    )
    assert r == pytest.approx(
        recall_score(labels, predicted, labels=present, average="macro", zero_division=0)
    )
    assert hm == pytest.approx(2 * p * r / (p + r))


def test_held_out_products_predicted_into_a_class_are_its_false_positives():
    """The issue's toy case: one product of class a, two of held-out classes, all three
    confidently predicted a. Counting only known products gave macro precision 1.0."""
    from embaug_core.evaluation.metrics import (
        macro_f1_known,
        macro_precision_recall,
        per_class_report,
    )

    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1]])
    labels = np.array([0, NONE, NONE])
    p, r, hm = macro_precision_recall(probs, labels, 0.6)
    assert (p, r) == (pytest.approx(1 / 3), 1.0)
    assert hm == pytest.approx(0.5)
    assert macro_f1_known(probs, labels, 0.6) == pytest.approx(0.5)
    row = per_class_report(probs, labels, ["a", "b"], 0.6).set_index("class").loc["a"]
    assert (row["precision"], row["recall"], row["f1"]) == (pytest.approx(1 / 3), 1.0, 0.5)


def test_per_class_report_and_roc_curve_shapes():
    from embaug_core.evaluation.metrics import per_class_report
    from embaug_core.evaluation.roc import weighted_roc_curve

    probs, labels = scores(classes=3)
    report = per_class_report(probs, labels, ["a", "b", "c"], 0.6)
    assert list(report["class"]) == ["a", "b", "c", ""]
    assert list(report["kind"]) == ["class", "class", "class", "none"]
    assert report["support"].sum() == len(labels)
    assert report.loc[3, "support"] == (labels == NONE).sum()
    curve = weighted_roc_curve(probs, labels)
    assert curve["tpr"].is_monotonic_increasing and curve["tpr"].iloc[-1] == pytest.approx(1)
    assert np.trapezoid(curve["tpr"], curve["fpr"]) == pytest.approx(weighted_auc(probs, labels)[0])
