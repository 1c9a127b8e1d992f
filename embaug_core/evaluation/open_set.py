"""Open-set scores apart from the classifier (docs/METHODS.md section 8): how much a product
looks like what training saw, on the classifier's standardised vectors. High means known; a
product scoring under a threshold is "none", whatever class the classifier would give it.

- `knn_distance`: cosine similarity to the k-th nearest training product (exact faiss inner
  product on L2-normalised vectors).
- `mahalanobis`: minus the smallest Mahalanobis distance to a class mean, after a PCA to at most
  256 dimensions, with one shared covariance shrunk by Ledoit-Wolf.
- `energy`: T * logsumexp(logits / T) of the classifier, T = 1.

Each scorer keeps its fitted state as arrays, so a model holding one saves and loads without
pickling.
"""

from __future__ import annotations

from typing import Protocol

import faiss
import numpy as np
from scipy.special import logsumexp

SCORERS = ("knn_distance", "mahalanobis", "energy")
#: The neighbour ranks `knn_distance` chooses from on S, and its default.
KNN_KS = (1, 5, 10, 50)
DEFAULT_K = 10
PCA_DIMS = 256
TEMPERATURE = 1.0


class Logits(Protocol):
    def logits_standardized(self, z: np.ndarray) -> np.ndarray: ...


class Scorer(Protocol):
    name: str

    def score(self, z: np.ndarray) -> np.ndarray: ...

    def state(self) -> dict[str, np.ndarray]: ...


def _unit(z: np.ndarray) -> np.ndarray:
    rows = np.array(z, dtype=np.float32, order="C")
    faiss.normalize_L2(rows)
    return rows


class KnnDistance:
    """Cosine similarity to the k-th nearest training product. The training products are kept
    at half precision (a model holds them all: half the size, similarities within 1e-3), the
    same in memory and on disk, so a saved model scores exactly as it did."""

    name = "knn_distance"

    def __init__(self, train: np.ndarray, k: int = DEFAULT_K):
        self.train = _unit(train).astype(np.float16).astype(np.float32)
        self.k = int(k)
        self.index = faiss.IndexFlatIP(self.train.shape[1])
        self.index.add(self.train)

    def similarities(self, z: np.ndarray, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
        """The similarity to the k-th nearest training product for each k, in one search (a
        k beyond the training set takes its farthest product)."""
        deepest = min(max(ks), self.index.ntotal)
        found, _ = self.index.search(_unit(z), deepest)
        return {k: found[:, min(k, deepest) - 1].astype(np.float64) for k in ks}

    def score(self, z: np.ndarray) -> np.ndarray:
        return self.similarities(z, (self.k,))[self.k]

    def state(self) -> dict[str, np.ndarray]:
        return {"train": self.train.astype(np.float16), "k": np.array(self.k)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], logits: Logits) -> KnnDistance:
        return cls(state["train"].astype(np.float32), int(state["k"]))


class Mahalanobis:
    """Minus the smallest Mahalanobis distance to a class mean, in a PCA space, with one shared
    covariance shrunk by Ledoit-Wolf (its precision's Cholesky factor `whiten`)."""

    name = "mahalanobis"

    def __init__(
        self, center: np.ndarray, components: np.ndarray, whiten: np.ndarray, means: np.ndarray
    ):
        self.center, self.components, self.whiten, self.means = center, components, whiten, means
        self.white_means = (means @ whiten).astype(np.float64)

    @classmethod
    def fit(cls, z: np.ndarray, labels: np.ndarray) -> Mahalanobis:
        from sklearn.covariance import LedoitWolf
        from sklearn.decomposition import PCA

        dims = max(1, min(PCA_DIMS, z.shape[1], len(z) - 1))
        pca = PCA(n_components=dims, random_state=0).fit(z)
        projected = pca.transform(z)
        classes = np.unique(labels)
        means = np.stack([projected[labels == c].mean(axis=0) for c in classes])
        residuals = projected - means[np.searchsorted(classes, labels)]
        if len(z) == len(classes):  # one product per class: no spread within a class, so
            residuals = projected - projected.mean(axis=0)  # the products' own stands in
        covariance = LedoitWolf(assume_centered=True).fit(residuals).covariance_
        # A ridge far under the mean variance keeps it invertible when every residual is 0.
        ridge = 1e-6 * np.trace(covariance) / len(covariance) + np.finfo(np.float64).tiny
        precision = np.linalg.inv(covariance + ridge * np.eye(len(covariance)))
        whiten = np.linalg.cholesky(precision)  # precision = whiten @ whiten.T
        return cls(pca.mean_, pca.components_, whiten, means)

    def score(self, z: np.ndarray) -> np.ndarray:
        white = ((np.asarray(z, np.float64) - self.center) @ self.components.T) @ self.whiten
        squared = (
            (white**2).sum(axis=1, keepdims=True)
            - 2 * white @ self.white_means.T
            + (self.white_means**2).sum(axis=1)
        )
        return -np.sqrt(np.maximum(squared.min(axis=1), 0.0))

    def state(self) -> dict[str, np.ndarray]:
        return {
            "center": self.center,
            "components": self.components,
            "whiten": self.whiten,
            "means": self.means,
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], logits: Logits) -> Mahalanobis:
        return cls(state["center"], state["components"], state["whiten"], state["means"])


class Energy:
    """T * logsumexp(logits / T) of the classifier (the classifier holds its state)."""

    name = "energy"

    def __init__(self, logits: Logits, temperature: float = TEMPERATURE):
        self.logits, self.temperature = logits, float(temperature)

    def score(self, z: np.ndarray) -> np.ndarray:
        values = np.asarray(self.logits.logits_standardized(z), np.float64)
        return self.temperature * logsumexp(values / self.temperature, axis=1)

    def state(self) -> dict[str, np.ndarray]:
        return {"temperature": np.array(self.temperature)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], logits: Logits) -> Energy:
        return cls(logits, float(state["temperature"]))


KINDS = {kind.name: kind for kind in (KnnDistance, Mahalanobis, Energy)}


def fit_scorer(
    name: str, z: np.ndarray, labels: np.ndarray, logits: Logits, k: int = DEFAULT_K
) -> Scorer:
    """A scorer fitted on the training products' standardised vectors `z` (class indices
    `labels`); `logits` is the classifier (for `energy`)."""
    if name == "knn_distance":
        return KnnDistance(z, k)
    if name == "mahalanobis":
        return Mahalanobis.fit(z, labels)
    if name == "energy":
        return Energy(logits)
    raise ValueError(f"unknown open-set scorer {name!r}; choose one of {', '.join(SCORERS)}")


def load_scorer(name: str, state: dict[str, np.ndarray], logits: Logits) -> Scorer:
    if name not in KINDS:
        raise ValueError(f"unknown open-set scorer {name!r}; choose one of {', '.join(SCORERS)}")
    return KINDS[name].from_state(state, logits)
