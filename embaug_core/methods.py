"""The methods a trial compares, by name: which labels, which trainer, which batch augmentation.

Adding a method is one line in `METHODS`. Names are plain words so they can be Dagster
partition keys and MLflow run names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The paper's grid search over the pair methods' alpha (METHODS.md section 2).
ALPHA_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)
TRAINERS = ("mlp", "logreg")
LABELS = ("seeds", "knn_aug", "label_prop")


@dataclass(frozen=True)
class Method:
    """`labels`: train on the seeds alone, or with similarity-augmented or propagated labels."""

    name: str
    augmentation: str = "control"
    trainer: str = "mlp"
    labels: str = "seeds"

    def __post_init__(self) -> None:
        if self.trainer not in TRAINERS or self.labels not in LABELS:
            raise ValueError(
                f"{self.name}: trainer must be one of {TRAINERS} and labels one of {LABELS}"
            )


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("control"),
        Method("e_mixup", augmentation="e_mixup"),
        Method("e_stitchup", augmentation="e_stitchup"),
        Method("soft_e_mixup", augmentation="soft_e_mixup"),
        Method("soft_e_stitchup", augmentation="soft_e_stitchup"),
        Method("zeta_mixup", augmentation="zeta_mixup"),
        Method("logreg", trainer="logreg"),
        Method("knn_aug", labels="knn_aug"),
        Method("label_prop", labels="label_prop"),
        Method("knn_aug__soft_e_stitchup", augmentation="soft_e_stitchup", labels="knn_aug"),
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def method_names(names: str | None = None) -> list[str]:
    """The methods a comparison runs: `names` (comma-separated), else EMBAUG_METHODS, else
    all of METHODS; an unknown name is an error listing the known ones."""
    chosen = os.environ.get("EMBAUG_METHODS", "") if names is None else names
    picked = [name.strip() for name in chosen.split(",") if name.strip()] or list(METHODS)
    for name in picked:
        get_method(name)
    return picked
