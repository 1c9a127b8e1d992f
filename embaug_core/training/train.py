"""The training loop of the embedding-augmentation paper (section 3), and the simple peer.

Adam with weight decay, a triangular cyclic learning rate stepped every batch, element-wise
sigmoid outputs with binary cross-entropy on (soft) targets, the augmentation applied to each
minibatch after standardisation. `on_epoch` is called after every epoch so a caller can log
validation metrics (the paper's Fig. 5).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from embaug_core.common.device import resolve_device
from embaug_core.training.mixup import Augmenter, ZetaMixup
from embaug_core.training.model import Classifier, Standardizer, build_head

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, float, float, Classifier], None]


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; defaults as docs/METHODS.md section 4 (the paper ran 576 epochs)."""

    epochs: int = field(default=48, metadata={"doc": "The paper ran 576"})
    batch_size: int = 128
    lr_min: float = 3e-4
    lr_max: float = 3e-3
    step_epochs: int = field(
        default=12, metadata={"doc": "Half-cycle of the triangular cyclic LR, in epochs"}
    )
    weight_decay: float = 1e-4
    head: str = field(
        default="mlp", metadata={"doc": "mlp (embedding-augmentation paper) or linear"}
    )
    standardize: bool = field(
        default=True, metadata={"doc": "Standardise inputs with training statistics"}
    )
    seed: int = 0
    device: str = field(
        default="auto", metadata={"doc": "auto (a CUDA GPU where there is one), cpu or cuda"}
    )

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.step_epochs < 1:
            raise ValueError("epochs, batch_size and step_epochs must be at least 1")


def one_hot(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    return nn.functional.one_hot(torch.tensor(labels, dtype=torch.long), n_classes).float()


def _standardizer(x: np.ndarray, standardize: bool) -> Standardizer:
    return Standardizer.fit(x) if standardize else Standardizer.identity(x.shape[1])


def split_first_layer(head: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The head's first (affine) layer and the rest of it: head(x) == rest(first(x))."""
    if isinstance(head, nn.Sequential):
        return head[0], head[1:]
    return head, nn.Identity()


def augmented_logits(
    layers: tuple[nn.Module, nn.Module],
    augmenter: Augmenter,
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's logits on an augmented batch, and the batch's targets; `layers` is the head
    split once by `split_first_layer`.

    zeta-mixup's rows of weights sum to 1, so W (x A^T + b) = (W x) A^T + b: mixing the first
    layer's output instead of the inputs gives the same logits and gradients with 250 columns
    to mix instead of 2,816 (773 µs -> 100 µs a batch; benchmarks/training.py).
    """
    first, rest = layers
    if isinstance(augmenter, ZetaMixup):
        weights = augmenter.weights(len(x), generator, x.device)
        return rest(weights @ first(x)), weights @ y.to(weights.dtype)
    batch_x, batch_y = augmenter(x, y, generator)
    return rest(first(batch_x)), batch_y


def train_classifier(
    x: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    augmenter: Augmenter,
    config: TrainConfig = TrainConfig(),
    on_epoch: EpochCallback | None = None,
    output: str = "sigmoid",
) -> Classifier:
    """Fit a head on `x` (n, D) with integer `labels` indexing `classes`: element-wise sigmoid
    with binary cross-entropy (the paper), or softmax with cross-entropy on the (mixed)
    targets normalised to sum to 1."""
    if len(x) != len(labels) or len(x) == 0:
        raise ValueError(
            f"need as many labels as rows, and at least one: {len(x)} vs {len(labels)}"
        )
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = resolve_device(config.device)
    standardizer = _standardizer(x, config.standardize)
    inputs = torch.from_numpy(standardizer(x)).to(device)
    targets = one_hot(labels, len(classes)).to(device)
    head = build_head(config.head, x.shape[1], len(classes)).to(device)
    classifier = Classifier(classes, standardizer, head, head_kind=config.head, output=output)
    layers = split_first_layer(head)  # once: slicing a Sequential builds a new module
    # fused: the same updates as the per-tensor loop in one kernel, 7.5 -> 5.3 ms a step of
    # the paper's head on 2 CPU cores (foreach took 7.5; benchmarks/partition.py).
    optimizer = torch.optim.Adam(
        head.parameters(), lr=config.lr_min, weight_decay=config.weight_decay, fused=True
    )
    batches = -(-len(x) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CyclicLR(
        optimizer,
        base_lr=config.lr_min,
        max_lr=config.lr_max,
        step_size_up=config.step_epochs * batches,
        mode="triangular",
        cycle_momentum=False,
    )
    loss_fn = nn.BCEWithLogitsLoss() if output == "sigmoid" else _soft_cross_entropy
    for epoch in range(1, config.epochs + 1):
        head.train()
        order = torch.randperm(len(x), generator=generator)
        total, seen = 0.0, 0
        for start in range(0, len(x), config.batch_size):
            rows = order[start : start + config.batch_size].to(device)
            logits, batch_y = augmented_logits(
                layers, augmenter, inputs[rows], targets[rows], generator
            )
            loss = loss_fn(logits, batch_y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch_y)
            seen += len(batch_y)
        if on_epoch:
            on_epoch(epoch, total / seen, schedule.get_last_lr()[0], classifier)
    head.eval().cpu()  # saved, loaded and served on the CPU wherever it was trained
    return classifier


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets (mixed or softened ones normalised to sum to 1)."""
    weights = targets / targets.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return -(weights * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def fit_logreg(
    x: np.ndarray, labels: np.ndarray, classes: list[str], config: TrainConfig = TrainConfig()
) -> Classifier:
    """The simple peer: scikit-learn's logistic regression on the same standardised vectors,
    its coefficients kept as a linear softmax head."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(labels)) != len(classes):
        raise ValueError("every class needs at least one training row for logistic regression")
    standardizer = _standardizer(x, config.standardize)
    model = LogisticRegression(max_iter=1000, random_state=config.seed)
    model.fit(standardizer(x), labels)
    weight, bias = model.coef_, model.intercept_
    if len(classes) == 2:  # sklearn keeps one row for two classes: softmax over [0, z]
        weight, bias = np.vstack([np.zeros_like(weight), weight]), np.array([0.0, bias[0]])
    head = nn.Linear(x.shape[1], len(classes))
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight))
        head.bias.copy_(torch.as_tensor(bias))
    return Classifier(classes, standardizer, head.eval(), head_kind="linear", output="softmax")
