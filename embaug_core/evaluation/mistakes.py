"""What goes wrong with the recommended model, class by class: its trial models replayed on
each trial's evaluated products (H without S) at the served threshold, then the classes with
the most mistakes first, the worst confusions, and a few mistaken products a person can look
at (title and thumbnail)."""

from __future__ import annotations

import base64

import mlflow
import numpy as np
import pandas as pd

from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.evaluation.metrics import NONE, predict_with_none
from embaug_core.store import Store
from embaug_core.tracking import TAG_MODEL_URI
from embaug_core.tracking.pyfunc import load_logged_classifier

#: How "none" reads in these tables: a held-out class's products, or no class above threshold.
NONE_NAME = "none"
PREDICTION_COLUMNS = ["trial", "product_id", "truth", "predicted", "probability"]


def champion_predictions(
    runs: pd.DataFrame,
    method: str,
    store: Store,
    vectors: ProductVectors,
    tracking_uri: str,
    threshold: float,
) -> pd.DataFrame:
    """Per trial, every evaluated product's true class ("none" when its class was held out)
    and the class `method`'s trial model gives it at `threshold` (PREDICTION_COLUMNS)."""
    client = mlflow.MlflowClient(tracking_uri)
    parts = []
    mine = runs.loc[runs["method"] == method, ["trial", "run_id"]].drop_duplicates()
    for trial, run_id in mine.itertuples(index=False):
        classifier = load_logged_classifier(client.get_run(run_id).data.tags[TAG_MODEL_URI])
        split = store.split(trial)
        held = split[split["role"] == "holdout"]
        probs = classifier.predict_proba(vectors.vectors[vectors.rows(held["product_id"])])
        chosen = predict_with_none(probs, threshold)
        names = np.asarray(classifier.classes, dtype=object)
        parts.append(
            pd.DataFrame(
                {
                    "trial": trial,
                    "product_id": held["product_id"].to_numpy(),
                    "truth": np.where(held["known"], held["category"], NONE_NAME),
                    "predicted": np.where(chosen == NONE, NONE_NAME, names[chosen]),
                    "probability": probs.max(axis=1),
                }
            )
        )
    return (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PREDICTION_COLUMNS)
    )


def class_mistakes(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per true class (summed over trials), the classes with the most mistakes
    first: products, right, missed as "none", taken for another class, and other products
    taken for it."""
    wrong = predictions["truth"] != predictions["predicted"]
    rows = predictions.assign(
        right=~wrong,
        missed_as_none=wrong & (predictions["predicted"] == NONE_NAME),
        another_class=wrong & (predictions["predicted"] != NONE_NAME),
    )
    table = rows.groupby("truth").agg(
        products=("product_id", "size"),
        right=("right", "sum"),
        missed_as_none=("missed_as_none", "sum"),
        another_class=("another_class", "sum"),
    )
    taken = predictions[wrong].groupby("predicted").size()
    table["others_taken_for_it"] = taken.reindex(table.index).fillna(0)
    table = table.astype(int)
    mistakes = table["products"] - table["right"] + table["others_taken_for_it"]
    table.insert(0, "mistakes", mistakes)
    table = table.rename(
        columns={
            "missed_as_none": 'missed as "none"',
            "another_class": "taken for another class",
            "others_taken_for_it": "others taken for it",
        }
    )
    return table.sort_values(["mistakes", "products"], ascending=[False, False])


def worst_confusions(predictions: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The most frequent (true, predicted) pairs among mistakes, with the share of the true
    class's products that went that way."""
    wrong = predictions[predictions["truth"] != predictions["predicted"]]
    columns = ["true class", "predicted as", "products", "share of the class"]
    if wrong.empty:
        return pd.DataFrame(columns=columns)
    pairs = wrong.groupby(["truth", "predicted"]).size().rename("products").reset_index()
    totals = predictions.groupby("truth").size()
    pairs["share of the class"] = pairs["products"] / pairs["truth"].map(totals).astype(float)
    pairs = pairs.sort_values(["products", "truth"], ascending=[False, True]).head(top)
    return pairs.rename(columns={"truth": "true class", "predicted": "predicted as"})


def mistaken_examples(
    predictions: pd.DataFrame, confusions: pd.DataFrame, store: Store, limit: int = 8
) -> pd.DataFrame:
    """A mistaken product of each worst confusion (the most confident mistake), with its
    title and its photo as a small data URI."""
    wrong = predictions[predictions["truth"] != predictions["predicted"]]
    picked = []
    for truth, predicted in (
        confusions[["true class", "predicted as"]].head(limit).itertuples(index=False)
    ):
        pair = wrong[(wrong["truth"] == truth) & (wrong["predicted"] == predicted)]
        picked.append(pair.sort_values("probability", ascending=False).iloc[0])
    if not picked:
        return pd.DataFrame(columns=[*PREDICTION_COLUMNS, "title", "thumbnail"])
    examples = pd.DataFrame(picked).reset_index(drop=True)
    products = store.products().set_index("product_id").loc[examples["product_id"]]
    hashes = products["image_sha256"].dropna().tolist()
    images = store.image_bytes(hashes) if hashes else {}
    examples["title"] = products["title"].to_numpy()
    examples["thumbnail"] = [
        "data:image/jpeg;base64," + base64.b64encode(images[h]).decode() if h in images else ""
        for h in products["image_sha256"]
    ]
    return examples
