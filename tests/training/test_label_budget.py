"""The label budget study on a small generated catalogue: every budget x trial x method is
trained and scored, each budget gets the champion rule's recommendation and its lead."""

from __future__ import annotations

import numpy as np
import pandas as pd

from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.training.label_budget import BudgetStudy, budget_verdicts, run_budget_study
from embaug_core.training.train import TrainConfig


def catalogue(classes: int = 6, per_class: int = 30, dim: int = 8):
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (classes, dim))
    labels = np.repeat([f"c{i}" for i in range(classes)], per_class)
    vectors = (centres.repeat(per_class, axis=0) + rng.normal(0, 1, (len(labels), dim))).astype(
        np.float32
    )
    ids = np.array([f"p{i}" for i in range(len(labels))])
    return ProductVectors(ids, labels.astype(object), vectors), pd.Series(labels, index=ids)


def test_every_budget_trial_and_method_is_scored_and_each_budget_gets_a_verdict():
    vectors, categories = catalogue()
    study = BudgetStudy(
        budgets=(1, 3),
        trials=2,
        methods=("logreg__knn_distance", "control", "logreg"),
        train=TrainConfig(epochs=2),
    )
    results = run_budget_study(vectors, categories, study)
    combos = results.drop_duplicates(["budget", "trial", "method"])
    assert len(combos) == 2 * 2 * 3
    assert set(results["metric"]) >= {"tradeoff_auc", "weighted_auc", "overall_acc_tuned"}
    trained = results[results["metric"] == "tradeoff_auc"]
    assert trained["value"].between(0, 1).all()
    verdicts = budget_verdicts(results).set_index("budget")
    assert list(verdicts.index) == [1, 3]
    assert set(verdicts["recommended"]) <= {"logreg__knn_distance", "control", "logreg"}
    assert (verdicts["trials"] == 2).all()
