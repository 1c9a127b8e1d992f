"""What the report recommends serving: the champion, its threshold, why, and the settings its
trial runs were trained with. The evaluation writes it; the production model is made from it."""

from __future__ import annotations

import json
import typing
from dataclasses import asdict, dataclass, fields
from typing import TypeVar

import numpy as np
import pandas as pd

from embaug_core.evaluation.metrics import DEFAULT_THRESHOLD

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
