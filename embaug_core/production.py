"""The production model: the method the report recommends, trained once more on every
labelled product (the catalogue's and people's), with the recommended threshold. The trial
models are the evidence; this one is what categorises new products (METHODS.md section 7)."""

from __future__ import annotations

import hashlib
import json
import typing
from dataclasses import asdict, dataclass, fields
from typing import TypeVar

import numpy as np
import pandas as pd

from embaug_core.embeddings import ProductVectors
from embaug_core.experiment import fit_method, trial_data
from embaug_core.labels.sets import LabelSettings, build_label_sets
from embaug_core.methods import get_method
from embaug_core.metrics import DEFAULT_THRESHOLD
from embaug_core.mixup import MixupSettings
from embaug_core.model import Classifier
from embaug_core.train import TrainConfig

T = TypeVar("T")


@dataclass(frozen=True)
class Recommendation:
    """What the report recommends serving: the champion, the threshold chosen for it on the
    trials' selection parts, and why."""

    method: str
    threshold: float
    figure: str
    rule: str
    clear_lead: bool
    trials: int
    #: The settings the champion's trial runs were trained with (MLflow params, as text).
    params: dict[str, str]

    @classmethod
    def from_runs(cls, runs: pd.DataFrame, champion, params: pd.DataFrame) -> Recommendation:
        """The champion's threshold: the median over trials of the one tuned on S (the
        paper's 0.6 when none was tuned); its settings: those of its first trial's run."""
        mine = runs[runs["method"] == champion.method]
        tuned = mine.loc[mine["metric"] == "threshold_tuned", "value"]
        threshold = float(tuned.median()) if len(tuned) else DEFAULT_THRESHOLD
        first = params.set_index("run_id").loc[mine.sort_values("trial")["run_id"].iloc[0]]
        return cls(
            champion.method,
            threshold if np.isfinite(threshold) else DEFAULT_THRESHOLD,
            champion.figure,
            champion.rule,
            champion.clear_lead,
            int(runs["trial"].nunique()),
            {k: str(v) for k, v in first.dropna().items()},
        )

    def row(self) -> pd.DataFrame:
        """As the one-row table the store keeps."""
        return pd.DataFrame([{**asdict(self), "params": json.dumps(self.params)}])

    @classmethod
    def from_row(cls, row: dict) -> Recommendation:
        return cls(**{**row, "params": json.loads(row["params"])})

    def settings(self, source: type[T]) -> T:
        """A settings dataclass filled from the champion runs' params (text to typed)."""
        hints = typing.get_type_hints(source)
        values = {}
        for item in fields(source):
            if item.name in self.params:
                values[item.name] = _typed(self.params[item.name], hints[item.name])
        return source(**values)


def _typed(text: str, kind: type) -> object:
    if kind is bool:
        return text.strip().lower() in ("true", "1", "yes")
    return kind(text)


@dataclass(frozen=True)
class ProductionData:
    """Every labelled product as training rows, the extra labels the method grew, and a
    fingerprint of exactly what the model will be trained on."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    n_labelled: int
    n_extra: int


def production_data(
    vectors: ProductVectors, labels: pd.Series, method: str, label_settings: LabelSettings
) -> ProductionData:
    """All labelled products train (no hold-out); a label method grows its sets over the
    unlabelled products first."""
    labelled = labels.dropna()
    split = pd.DataFrame(
        {
            "product_id": vectors.product_ids,
            "category": labels.reindex(vectors.product_ids).to_numpy(),
            "role": np.where(np.isin(vectors.product_ids, labelled.index), "train", "pool"),
            "known": True,
        }
    )
    extra = None
    source = get_method(method).labels
    if source != "seeds":
        sets = build_label_sets(vectors, split, label_settings).table
        extra = sets[sets["source"] == source]
    data = trial_data(vectors, split[split["role"] == "train"], extra)
    n_extra = 0 if extra is None else len(extra)
    return ProductionData(data.x_train, data.y_train, data.classes, len(labelled), n_extra)


def train_production(
    data: ProductionData, method: str, config: TrainConfig, mixup: MixupSettings
) -> Classifier:
    return fit_method(get_method(method), data.x, data.y, data.classes, config, asdict(mixup))


def labels_sha256(labels: pd.Series) -> str:
    """A hash of every product's training label (people's included)."""
    ordered = labels.dropna().sort_index()
    text = "\n".join(f"{p}\t{c}" for p, c in ordered.items())
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
