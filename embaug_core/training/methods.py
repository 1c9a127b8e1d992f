"""The methods a trial compares, by name: which labels, which trainer, which batch augmentation.

Adding a method is one line in `METHODS`. Names are plain words so they can be Dagster
partition keys and MLflow run names.
"""

from __future__ import annotations

from dataclasses import dataclass

from embaug_core.evaluation.open_set import SCORERS

#: The paper's grid search over the pair methods' alpha (docs/METHODS.md section 2).
ALPHA_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)
TRAINERS = ("mlp", "logreg", "hybrid", "open_set")
LABELS = ("seeds", "knn_aug", "label_prop")
OUTPUTS = ("sigmoid", "softmax")


@dataclass(frozen=True)
class Method:
    """How one method trains.

    `labels`: the seeds alone, or with similarity-augmented or propagated labels. `head`,
    `epochs`: override the training settings (e.g. the peer's linear model class, longer
    training). `output`: element-wise sigmoid with binary cross-entropy (the paper), or softmax
    with cross-entropy (its top probability is the confidence). A `hybrid` takes the class from
    `parts[0]`'s model and the "none" decision (the confidence) from `parts[1]`'s. An
    `open_set` method takes the class from `parts[0]`'s model and the "none" decision from an
    open-set `scorer` (docs/METHODS.md section 8); it trains on `parts[0]`'s labels.
    """

    name: str
    augmentation: str = "control"
    trainer: str = "mlp"
    labels: str = "seeds"
    head: str | None = None
    epochs: int | None = None
    output: str = "sigmoid"
    parts: tuple[str, ...] = ()
    scorer: str | None = None

    def __post_init__(self) -> None:
        if self.trainer not in TRAINERS or self.labels not in LABELS or self.output not in OUTPUTS:
            raise ValueError(
                f"{self.name}: trainer must be one of {TRAINERS}, labels one of {LABELS} and "
                f"output one of {OUTPUTS}"
            )
        if (self.trainer == "hybrid") != (len(self.parts) == 2):
            raise ValueError(f"{self.name}: a hybrid names two methods in parts, others none")
        if (self.trainer == "open_set") != (len(self.parts) == 1 and self.scorer in SCORERS):
            raise ValueError(
                f"{self.name}: an open_set method names one method in parts and a scorer of "
                f"{SCORERS}; others neither"
            )


def open_set(base: Method, scorer: str) -> Method:
    """`base`'s classes with the "none" decision of `scorer`, named `<base>__<scorer>`."""
    return Method(
        f"{base.name}__{scorer}",
        trainer="open_set",
        labels=base.labels,
        parts=(base.name,),
        scorer=scorer,
    )


def _registry(*methods: Method) -> dict[str, Method]:
    return {m.name: m for m in methods}


#: The comparison every report runs by default (docs/METHODS.md): the papers' methods and the peer.
#: The papers' methods and the peer.
PAPERS: dict[str, Method] = _registry(
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
#: The comparison every report runs by default (docs/METHODS.md): the papers' methods, the peer,
#: and the peer's classes with each open-set scorer's "none" decision (section 8).
METHODS: dict[str, Method] = PAPERS | _registry(
    *(open_set(PAPERS["logreg"], scorer) for scorer in SCORERS)
)
#: Configurations that might beat the peer on every figure at once (issue 17), each run by
#: name (`--methods`): augmentation on the peer's own model class, softmax heads, longer
#: training, label smoothing (the non-embedding baseline of the soft variants), a hybrid, and
#: the label-augmentation methods with the label-augmentation paper's single dense layer.
CANDIDATES: dict[str, Method] = _registry(
    Method("linear_control", head="linear"),
    Method("linear_e_mixup", augmentation="e_mixup", head="linear"),
    Method("linear_e_stitchup", augmentation="e_stitchup", head="linear"),
    Method("softmax_control", output="softmax"),
    Method("softmax_e_stitchup", augmentation="e_stitchup", output="softmax"),
    Method("label_smoothing", augmentation="label_smoothing"),
    Method("control_144", epochs=144),
    Method("e_stitchup_144", augmentation="e_stitchup", epochs=144),
    Method("control_576", epochs=576),
    Method("e_stitchup_576", augmentation="e_stitchup", epochs=576),
    Method("hybrid__logreg__e_stitchup", trainer="hybrid", parts=("logreg", "e_stitchup")),
    Method("knn_aug_linear", labels="knn_aug", head="linear"),
    Method("label_prop_linear", labels="label_prop", head="linear"),
)
#: Every scorer with the MLP control, E-Stitchup (the MLP augmentation with the best
#: known-vs-none area on the whole catalogue) and E-Stitchup on the peer's linear model class.
CANDIDATES |= _registry(
    *(
        open_set((PAPERS | CANDIDATES)[base], scorer)
        for base in ("control", "e_stitchup", "linear_e_stitchup")
        for scorer in SCORERS
    )
)
ALL_METHODS: dict[str, Method] = {**METHODS, **CANDIDATES}


def get_method(name: str) -> Method:
    if name not in ALL_METHODS:
        raise ValueError(f"unknown method {name!r}; choose among {', '.join(ALL_METHODS)}")
    return ALL_METHODS[name]


def method_names(names: str = "") -> list[str]:
    """The methods a comparison runs: `names` (comma-separated), else the default comparison;
    an unknown name is an error listing the known ones."""
    picked = [name.strip() for name in names.split(",") if name.strip()] or list(METHODS)
    for name in picked:
        get_method(name)
    return picked
