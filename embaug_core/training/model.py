"""Classifier heads on product vectors, and the fitted classifier that carries its own input
standardisation (docs/METHODS.md section 4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

HEADS = ("mlp", "linear")


def build_head(
    kind: str, in_dim: int, n_classes: int, hidden: int = 250, dropout: float = 0.3
) -> nn.Module:
    """`mlp`: D -> 250 -> 250 -> C, each hidden layer followed by Dropout and ReLU (the
    embedding-augmentation paper); `linear`: one dense layer (the label-augmentation paper).
    Both return logits; probabilities are element-wise sigmoids."""
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.Dropout(dropout),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.Dropout(dropout),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )
    if kind == "linear":
        return nn.Linear(in_dim, n_classes)
    raise ValueError(f"unknown head {kind!r}; choose one of {', '.join(HEADS)}")


@dataclass(frozen=True)
class Standardizer:
    """Per-dimension mean and standard deviation of the training rows (constant dims: std 1)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        std = x.std(axis=0)
        return cls(
            x.mean(axis=0).astype(np.float32), np.where(std > 1e-8, std, 1).astype(np.float32)
        )

    @classmethod
    def identity(cls, dim: int) -> Standardizer:
        return cls(np.zeros(dim, np.float32), np.ones(dim, np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)


OUTPUTS = ("sigmoid", "softmax")


@dataclass
class Classifier:
    """A fitted model: probabilities per known class for raw product vectors.

    `output` is "sigmoid" for the paper's heads and "softmax" for logistic regression, whose
    coefficients are kept as a linear head so every model saves and loads the same way.
    """

    classes: list[str]
    standardizer: Standardizer
    head: nn.Module
    head_kind: str = "mlp"
    output: str = "sigmoid"

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")

    def predict_proba(self, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Class probabilities (n, C) for raw (unstandardised) vectors."""
        return self.predict_standardized(self.standardizer(np.asarray(x, np.float32)), batch_size)

    def predict_standardized(self, z: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Class probabilities for vectors already standardised by `self.standardizer` (the
        per-epoch evaluation standardises the hold-out once, not every epoch)."""
        logits = torch.from_numpy(self.logits_standardized(z, batch_size))
        activation = torch.sigmoid if self.output == "sigmoid" else lambda v: torch.softmax(v, 1)
        return activation(logits).numpy()

    @torch.inference_mode()
    def logits_standardized(self, z: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """The head's outputs before the sigmoid or softmax, for standardised vectors."""
        was_training = self.head.training
        self.head.eval()
        device = next(self.head.parameters()).device  # the GPU while training there
        parts = [
            self.head(torch.from_numpy(np.ascontiguousarray(z[i : i + batch_size])).to(device))
            .cpu()
            .numpy()
            for i in range(0, len(z), batch_size)
        ]
        self.head.train(was_training)
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes)), np.float32)


class HybridClassifier:
    """The class from one model, the confidence (the "none" decision) from another: each row
    of the first model's probabilities is scaled so that its top equals the second model's top
    probability. Both were fitted on the same rows, so they share the class list."""

    def __init__(self, classes_from: Classifier, confidence_from: Classifier):
        if classes_from.classes != confidence_from.classes:
            raise ValueError("the two models of a hybrid must know the same classes")
        self.classes_from, self.confidence_from = classes_from, confidence_from
        self.classes = classes_from.classes
        self.standardizer = confidence_from.standardizer

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        probs = self.classes_from.predict_proba(x)
        confidence = self.confidence_from.predict_proba(x).max(axis=1, keepdims=True)
        return probs / np.maximum(probs.max(axis=1, keepdims=True), 1e-12) * confidence
