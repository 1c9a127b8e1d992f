"""The labeling loop, simulated on real labels (docs/METHODS.md section 8): does the labeling
queue choose products worth more than chance?

Per trial, the model starts from the trial's training labels. Each round, a strategy picks B
products of the trial's pool (never of H), their catalogue labels are revealed as a person's
labels would be, and the production-style model (the chosen method, its threshold tuned on S) is
trained again and scored on H without S. A revealed product of a class no model knew teaches
that class: from then on its products in H count as known, not as "none".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import faiss
import numpy as np
import pandas as pd

from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.evaluation.comparison import paired_differences
from embaug_core.evaluation.metrics import DEFAULT_THRESHOLD, NONE, predict_with_none
from embaug_core.evaluation.scores import evaluate
from embaug_core.training.experiment import fit_method, tuned_metrics
from embaug_core.training.methods import get_method
from embaug_core.training.train import TrainConfig

logger = logging.getLogger(__name__)

STRATEGIES = ("queue", "random", "margin", "kcenter")
#: The figures the loop follows, by the names runs are logged with.
FIGURES = (
    "catalogue_acc_tuned",
    "macro_f1_known_tuned",
    "overall_acc_tuned",
    "none_acc_tuned",
    "tradeoff_auc",
    "weighted_auc",
    "top1_known",
    "classes_known",
)


@dataclass(frozen=True)
class LoopSettings:
    """How the loop is simulated: rounds of `batch` products, the model retrained each round."""

    rounds: int = field(default=5, metadata={"doc": "Rounds of labeling"})
    batch: int = field(default=100, metadata={"doc": "Products labelled per round"})
    method: str = field(
        default="logreg", metadata={"doc": "The production-style model (a method trained on seeds)"}
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.batch < 1:
            raise ValueError("rounds and batch must be at least 1")
        if get_method(self.method).labels != "seeds":
            raise ValueError(
                f"{self.method} grows labels over the pool; the loop simulates methods trained "
                "on their labels only"
            )


Strategy = Callable[[np.ndarray, np.ndarray, np.ndarray, int, np.random.Generator], np.ndarray]


def _queue(probs: np.ndarray, pool: np.ndarray, labelled: np.ndarray, n, rng) -> np.ndarray:
    """The labeling queue's order: products called "none" (top probability under the
    threshold), most uncertain first, filled up by the lowest top probability; a model without
    "none" products gives the same order."""
    return np.argsort(probs.max(axis=1), kind="stable")[:n]


def _random(probs: np.ndarray, pool: np.ndarray, labelled: np.ndarray, n, rng) -> np.ndarray:
    return rng.choice(len(probs), size=min(n, len(probs)), replace=False)


def _margin(probs: np.ndarray, pool: np.ndarray, labelled: np.ndarray, n, rng) -> np.ndarray:
    """Smallest gap between the two highest probabilities first."""
    top_two = -np.sort(-probs, axis=1)[:, :2]
    gap = top_two[:, 0] - (top_two[:, 1] if probs.shape[1] > 1 else 0)
    return np.argsort(gap, kind="stable")[:n]


def _kcenter(probs: np.ndarray, pool: np.ndarray, labelled: np.ndarray, n, rng) -> np.ndarray:
    """Greedy k-center on L2-normalised vectors: each pick is the pool product farthest (in
    cosine) from everything labelled and picked so far."""
    index = faiss.IndexFlatIP(labelled.shape[1])
    index.add(labelled)
    nearest, _ = index.search(pool, 1)
    distance = 1.0 - nearest[:, 0]
    picked = []
    for _ in range(min(n, len(pool))):
        best = int(np.argmax(distance))
        picked.append(best)
        distance = np.minimum(distance, 1.0 - pool @ pool[best])
        distance[picked] = -np.inf
    return np.array(picked, dtype=int)


CHOOSERS: dict[str, Strategy] = {
    "queue": _queue,
    "random": _random,
    "margin": _margin,
    "kcenter": _kcenter,
}


def _unit(x: np.ndarray) -> np.ndarray:
    rows = np.array(x, dtype=np.float32, order="C")
    faiss.normalize_L2(rows)
    return rows


def _indices(categories: np.ndarray, classes: list[str]) -> np.ndarray:
    """Class indices of `categories` among `classes`, NONE for a class not among them."""
    position = {name: i for i, name in enumerate(classes)}
    return np.array([position.get(c, NONE) for c in categories], dtype=int)


def _score(model, classes, x_eval, cat_eval, x_select, cat_select) -> dict[str, float]:
    """The round's figures on H without S, with the threshold tuned on S; products of classes
    the model has not learnt yet are its "none" products."""
    y_eval, y_select = _indices(cat_eval, classes), _indices(cat_select, classes)
    probs = model.predict_proba(x_eval)
    tuned = tuned_metrics(model.predict_proba(x_select), y_select, probs, y_eval, DEFAULT_THRESHOLD)
    figures = {**evaluate(probs, y_eval, tuned["threshold_tuned"]), **tuned}
    decided = predict_with_none(probs, tuned["threshold_tuned"])
    figures["catalogue_acc_tuned"] = float((decided == y_eval).mean())
    figures["classes_known"] = float(len(classes))
    return figures


def simulate_trial(
    vectors: ProductVectors,
    split: pd.DataFrame,
    settings: LoopSettings,
    strategies: tuple[str, ...] = STRATEGIES,
    config: TrainConfig | None = None,
) -> pd.DataFrame:
    """Every strategy's rounds on one trial: rows (strategy, round, labels, metric, value);
    round 0 (the trial's own labels) is shared by every strategy."""
    unknown = [s for s in strategies if s not in CHOOSERS]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose among {', '.join(STRATEGIES)}")
    method = get_method(settings.method)
    parts = {name: split[split["role"] == name] for name in ("train", "pool", "select", "holdout")}
    x = {name: vectors.vectors[vectors.rows(part["product_id"])] for name, part in parts.items()}
    cats = {name: part["category"].to_numpy() for name, part in parts.items()}
    pool_unit = _unit(x["pool"])
    rows = []

    def fit_and_score(x_train: np.ndarray, cat_train: np.ndarray):
        classes = sorted(set(cat_train))
        model = fit_method(
            method,
            x_train,
            _indices(cat_train, classes),
            classes,
            config,
            select=(x["select"], _indices(cats["select"], classes)),
        )
        figures = _score(model, classes, x["holdout"], cats["holdout"], x["select"], cats["select"])
        return model, figures

    start_model, start = fit_and_score(x["train"], cats["train"])
    for strategy in strategies:
        rng = np.random.default_rng(settings.seed)
        model, figures = start_model, start
        chosen = np.zeros(len(cats["pool"]), dtype=bool)
        for round_ in range(settings.rounds + 1):
            labels = int(chosen.sum())
            rows += [(strategy, round_, labels, k, figures[k]) for k in FIGURES]
            if round_ == settings.rounds:
                break
            left = np.flatnonzero(~chosen)
            labelled = _unit(np.vstack([x["train"], x["pool"][chosen]]))
            pick = CHOOSERS[strategy](
                model.predict_proba(x["pool"][left]),
                pool_unit[left],
                labelled,
                settings.batch,
                rng,
            )
            chosen[left[pick]] = True
            model, figures = fit_and_score(
                np.vstack([x["train"], x["pool"][chosen]]),
                np.concatenate([cats["train"], cats["pool"][chosen]]),
            )
        logger.info("labeling loop: %s, %d rounds done", strategy, settings.rounds)
    return pd.DataFrame(rows, columns=["strategy", "round", "labels", "metric", "value"])


def loop_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per strategy, round and figure: the mean over trials and the paired difference with
    `random` at the same round (mean, 95% interval, trials won). `results` has a trial column."""
    rows = []
    for round_, part in results.groupby("round"):
        table = part.rename(columns={"strategy": "method"})
        means = table.groupby(["method", "metric"])["value"].mean()
        labels = int(part["labels"].max())
        paired = paired_differences(table, "random", FIGURES).set_index(["method", "metric"])
        for (strategy, metric), mean in means.items():
            row = {"strategy": strategy, "round": round_, "labels": labels, "metric": metric}
            row["mean"] = mean
            if (strategy, metric) in paired.index:
                found = paired.loc[(strategy, metric)]
                row.update(
                    {k: found[k] for k in ("mean_diff", "ci_low", "ci_high", "wins", "trials")}
                )
            rows.append(row)
    return pd.DataFrame(rows)


def labels_to_match(summary: pd.DataFrame, metric: str) -> pd.Series:
    """Per strategy, the labels it needs to reach (in mean over trials) the figure random
    reaches with the most labels, interpolated between rounds; NaN when it never does."""
    curves = summary[summary["metric"] == metric].pivot(
        index="labels", columns="strategy", values="mean"
    )
    target = curves["random"].iloc[-1]
    needed = {}
    for strategy, curve in curves.items():
        above = np.flatnonzero(curve.to_numpy() >= target)
        if not len(above):
            needed[strategy] = float("nan")
        elif above[0] == 0:
            needed[strategy] = float(curve.index[0])
        else:
            i = above[0]
            low, high = curve.iloc[i - 1], curve.iloc[i]
            share = (target - low) / (high - low) if high != low else 1.0
            needed[strategy] = float(
                curve.index[i - 1] + share * (curve.index[i] - curve.index[i - 1])
            )
    return pd.Series(needed, name=f"labels to reach random's {metric}")
