"""The label budget study (docs/METHODS.md section 8): the same comparison at several numbers
of labelled products per class, so a team sees which configuration to use for the labels it has.

For each budget and trial, the trial's split draws `labels_per_class` training products of each
known class (the rest as in section 5), its label sets are grown when a method needs them, and
every method is trained and scored on H without S, as a partition of `trained_models` would be.
An open-set method reuses its part's model trained in the same trial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import pandas as pd

from embaug_core.common.progress import Progress
from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.evaluation.comparison import paired_differences
from embaug_core.evaluation.metrics import DEFAULT_THRESHOLD
from embaug_core.evaluation.verdicts import FALLBACK, choose_champion
from embaug_core.labels.sets import LabelSettings, build_label_sets
from embaug_core.labels.splits import SplitConfig, make_split
from embaug_core.training.experiment import run_method, trial_data
from embaug_core.training.methods import get_method
from embaug_core.training.train import TrainConfig

logger = logging.getLogger(__name__)

#: The budgets of the study: labelled products per class.
BUDGETS = (1, 2, 5, 10, 20)


@dataclass(frozen=True)
class BudgetStudy:
    """What the study runs: budgets, trials, methods, and the settings shared with the grid."""

    budgets: tuple[int, ...] = BUDGETS
    trials: int = 10
    methods: tuple[str, ...] = ()
    split: SplitConfig = field(default_factory=SplitConfig)
    labels: LabelSettings = field(default_factory=LabelSettings)
    train: TrainConfig = field(default_factory=TrainConfig)
    threshold: float = DEFAULT_THRESHOLD
    base_seed: int = 0


def run_budget_study(
    vectors: ProductVectors, categories: pd.Series, study: BudgetStudy
) -> pd.DataFrame:
    """Every budget x trial x method: rows (budget, trial, method, metric, value)."""
    methods = [get_method(name) for name in study.methods]
    ordered = sorted(methods, key=lambda m: m.trainer == "open_set")
    needs_sets = any(m.labels != "seeds" for m in methods)
    progress = Progress(len(study.budgets) * study.trials * len(methods), "models")
    rows = []
    for budget in study.budgets:
        config = replace(study.split, labels_per_class=budget)
        for trial in range(study.trials):
            split = make_split(categories, trial, config, study.base_seed)
            sets = build_label_sets(vectors, split, study.labels).table if needs_sets else None
            models = {}
            for method in ordered:
                extra = None if sets is None or method.labels == "seeds" else sets
                if extra is not None:
                    extra = extra[extra["source"] == method.labels]
                data = trial_data(vectors, split, extra)
                base = models.get(method.parts[0]) if method.trainer == "open_set" else None
                result = run_method(method, data, study.threshold, study.train, base=base)
                models[method.name] = result.classifier
                rows += [
                    (budget, f"trial_{trial}", method.name, metric, value)
                    for metric, value in result.metrics.items()
                ]
                logger.info(
                    "budget %d, trial %d, %s: %s", budget, trial, method.name, progress.advance()
                )
    return pd.DataFrame(rows, columns=["budget", "trial", "method", "metric", "value"])


def budget_verdicts(results: pd.DataFrame, figure: str = "tradeoff_auc") -> pd.DataFrame:
    """Per budget: the configuration the champion rule recommends and why, the configuration
    with the best mean `figure`, and each one's paired lead over the peer on `figure` (mean
    and 95% interval; none for the peer itself)."""
    rows = []
    for budget, part in results.groupby("budget"):
        choice = choose_champion(part, figure)
        leads = paired_differences(part, FALLBACK, (figure,)).set_index("method")
        row = {"budget": budget, "recommended": choice.method}
        row |= _lead(leads, choice.method, "recommended")
        row["best_mean"] = choice.best
        row |= _lead(leads, choice.best, "best")
        rows.append({**row, "trials": part["trial"].nunique(), "rule": choice.rule})
    return pd.DataFrame(rows)


def _lead(leads: pd.DataFrame, method: str, prefix: str) -> dict[str, float]:
    if method not in leads.index:
        return {
            f"{prefix}_lead": float("nan"),
            f"{prefix}_low": float("nan"),
            f"{prefix}_high": float("nan"),
        }
    found = leads.loc[method]
    return {
        f"{prefix}_lead": float(found["mean_diff"]),
        f"{prefix}_low": float(found["ci_low"]),
        f"{prefix}_high": float(found["ci_high"]),
    }
