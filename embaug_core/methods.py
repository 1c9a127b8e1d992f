"""The methods a trial compares, by name: which trainer, which batch augmentation.

Adding a method is one line in `METHODS`. Names are plain words so they can be Dagster
partition keys and MLflow run names.
"""

from __future__ import annotations

from dataclasses import dataclass

TRAINERS = ("mlp", "logreg")


@dataclass(frozen=True)
class Method:
    name: str
    augmentation: str = "control"
    trainer: str = "mlp"


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
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]
