"""embaug's methods against scikit-learn's on the same trial splits: quality and fit time.

Per stored trial: logistic regression (`fit_logreg`), `LabelSpreading(kernel="knn")` fitted
transductively on the training rows (labelled) plus the pool and the hold-out (unlabelled), and
embaug's MLP with `control`, E-Stitchup and E-Mixup (`train_classifier`). All see the same
standardised vectors (scaled on the training rows) and are scored on the trial's hold-out with
`embaug_core.evaluation.scores.evaluate` (LabelSpreading's label distributions as probabilities).

    python -m benchmarks.peers [--trials 5] [--epochs 48] [--full]
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd

from benchmarks.common import (
    add_full_flag,
    ensure_store,
    load_vectors,
    main,
    require_whole_catalogue,
    timed,
)
from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.evaluation.metrics import DEFAULT_THRESHOLD
from embaug_core.evaluation.scores import evaluate
from embaug_core.training.experiment import TrialData, trial_data
from embaug_core.training.mixup import get_augmenter
from embaug_core.training.model import Standardizer
from embaug_core.training.train import TrainConfig, fit_logreg, train_classifier

logger = logging.getLogger(__name__)
#: The MLP control and the two methods with the best trade-off area on the whole catalogue
#: (README): E-Stitchup and E-Mixup.
MLP_METHODS = ("control", "e_stitchup", "e_mixup")
FIGURES = ("weighted_auc", "none_acc", "overall_acc", "top1_known", "tradeoff_auc")


def label_spreading(
    vectors: ProductVectors, split: pd.DataFrame, data: TrialData, neighbours: int
) -> np.ndarray:
    """Probabilities on the hold-out (rows as `data.eval_ids`) from LabelSpreading over the
    training, pool and hold-out products, with only the training labels given."""
    from sklearn.semi_supervised import LabelSpreading

    train = split[split["role"] == "train"]
    others = split[split["role"] != "train"]
    rows = vectors.rows(pd.concat([train["product_id"], others["product_id"]]))
    x = Standardizer.fit(data.x_train)(vectors.vectors[rows])
    index = {name: i for i, name in enumerate(data.classes)}
    y = np.concatenate([train["category"].map(index).to_numpy(), np.full(len(others), -1)])
    model = LabelSpreading(kernel="knn", n_neighbors=neighbours).fit(x, y)
    position = pd.Series(np.arange(len(rows)), index=vectors.product_ids[rows])
    return model.label_distributions_[position.loc[data.eval_ids].to_numpy()]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=5, help="at most this many stored trials")
    parser.add_argument("--epochs", type=int, default=48, help="MLP epochs (the demo's)")
    parser.add_argument("--neighbours", type=int, default=10, help="LabelSpreading's k")
    add_full_flag(parser, "peers")
    return parser


def run(args: argparse.Namespace) -> dict[str, object]:
    ensure_store(fallback=not args.full)
    store, vectors = load_vectors()
    if args.full:
        require_whole_catalogue(len(vectors.product_ids))
    trials = store.query("SELECT DISTINCT trial FROM splits ORDER BY trial")["trial"]
    config = TrainConfig(epochs=args.epochs)
    warm_up = trial_data(vectors, store.split(trials[0]))  # torch's first fit pays set-up
    train_classifier(
        warm_up.x_train,
        warm_up.y_train,
        warm_up.classes,
        get_augmenter("control"),
        TrainConfig(epochs=1),
    )
    rows = []
    for trial in trials[: args.trials]:
        split = store.split(trial)
        data = trial_data(vectors, split)
        fits = {
            "logreg": lambda data=data: fit_logreg(
                data.x_train, data.y_train, data.classes, config
            ).predict_proba(data.x_eval),
            "label_spreading": lambda data=data, split=split: label_spreading(
                vectors, split, data, args.neighbours
            ),
            **{
                method: lambda data=data, method=method: train_classifier(
                    data.x_train, data.y_train, data.classes, get_augmenter(method), config
                ).predict_proba(data.x_eval)
                for method in MLP_METHODS
            },
        }
        for method, fit in fits.items():
            probs, seconds = timed(fit)
            figures = evaluate(probs, data.y_eval, DEFAULT_THRESHOLD)
            rows.append(
                {
                    "trial": trial,
                    "method": method,
                    "fit_s": seconds,
                    **{name: figures[name] for name in FIGURES},
                }
            )
            logger.info("%s", rows[-1])
    table = pd.DataFrame(rows)
    summary = table.drop(columns="trial").groupby("method", sort=False).mean().reset_index()
    return {
        "products": len(vectors.product_ids),
        "trials": int(table["trial"].nunique()),
        "train_rows": len(data.y_train),
        "epochs": args.epochs,
        "per_trial": rows,
        "mean": summary.to_dict(orient="records"),
        "targets": [],
    }


def render(result: dict) -> str:
    table = pd.DataFrame(result["mean"]).to_markdown(index=False, floatfmt=".4f")
    return (
        f"{result['products']:,} products, mean over {result['trials']} trial(s) "
        f"(last trial: {result['train_rows']:,} training rows), MLPs trained "
        f"{result['epochs']} epochs; accuracies at threshold 0.6; fit time includes predicting "
        "the hold-out.\n\n" + table
    )


if __name__ == "__main__":
    main("peers", parser, run, render)
