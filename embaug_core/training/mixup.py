"""Batch augmentations on embeddings (docs/METHODS.md sections 2 and 3), written as tensor algebra.

Every augmenter is a callable `(x (B, D), y (B, C), generator) -> (x', y')` that runs on the
device of its input and draws every random number from the explicit `torch.Generator`:

- `control`: the batch unchanged.
- `e_mixup` / `e_stitchup`: a random permutation pairs the first half of the batch with the
  second (the batch is halved; an odd batch drops its last sample), one lam ~ Beta(alpha,
  alpha) per pair; inputs are averaged (mixup) or taken element-wise from the first parent
  with probability lam (stitchup); targets are averaged with the same lam.
- `soft_e_mixup` / `soft_e_stitchup`: the same, then the targets are softened (`soften`).
- `zeta_mixup`: the whole batch mixed by one row-stochastic p-series weight matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

Augmenter = Callable[
    [torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]
]

#: gamma at or above which one sample's weight dominates all others (zeta-mixup poster).
ZETA_DOMINANT_GAMMA = 1.72865


@dataclass(frozen=True)
class MixupSettings:
    """Every augmentation parameter, with docs/METHODS.md's defaults: the one place they live."""

    alpha: float = field(default=0.3, metadata={"doc": "Beta(alpha, alpha) of the pair methods"})
    softness: float = field(
        default=0.05, metadata={"doc": "Taken from every positive class by the soft variants"}
    )
    negative_mass: float = field(
        default=1.0, metadata={"doc": "Shared among the negative classes by the soft variants"}
    )
    gamma: float = field(default=2.8, metadata={"doc": "zeta-mixup's p-series exponent"})
    smoothing: float = field(
        default=0.1, metadata={"doc": "Label smoothing of the label_smoothing baseline"}
    )


DEFAULTS = MixupSettings()


def soften(
    targets: torch.Tensor,
    softness: float = DEFAULTS.softness,
    negative_mass: float = DEFAULTS.negative_mass,
) -> torch.Tensor:
    """The paper's label softening: take `softness` from every positive class (clamped at 0)
    and share `negative_mass` equally among the negative classes of each row.

    Paper example: C = 12, [0.2, 0.8, 0, ...] becomes [0.15, 0.75, 0.1 x 10].
    """
    positive = targets > 0
    negatives = (~positive).sum(dim=-1, keepdim=True).clamp(min=1)
    lowered = (targets - softness).clamp(min=0)
    return torch.where(positive, lowered, negative_mass / negatives.to(targets.dtype))


def zeta_weights(
    n: int,
    gamma: float = DEFAULTS.gamma,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The (n, n) zeta-mixup weight matrix: row p gives rank 1 to sample p and a random order
    of ranks 2..n to the others; weight = rank^-gamma / sum_{j=1..n} j^-gamma.

    The per-row orders come from numpy's in-place row shuffle (seeded from `generator`): it is
    about 4x faster than arg-sorting random keys on the CPU, which matters once per batch.
    """
    _check_positive("gamma", gamma)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(_numpy_seed(generator))
    ranks = np.ones((n, n), dtype=np.int64)
    others = rng.permuted(np.tile(np.arange(2, n + 1), (n, 1)), axis=1)
    ranks[~np.eye(n, dtype=bool)] = others.ravel()
    powers = np.arange(1, n + 1, dtype=np.float64) ** -gamma
    weights = (powers / powers.sum())[ranks - 1]
    return torch.as_tensor(weights, dtype=torch.float32, device=device)


def _numpy_seed(generator: torch.Generator | None) -> int:
    """A seed for numpy drawn from the torch generator (or torch's global one)."""
    device = generator.device if generator is not None else "cpu"
    return int(torch.randint(2**62, (1,), generator=generator, device=device).item())


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _beta(n: int, alpha: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """n draws of Beta(alpha, alpha), reproducible from the torch generator.

    torch's Beta sampler ignores generators, so a numpy generator is seeded from this one.
    """
    draws = np.random.default_rng(_numpy_seed(generator)).beta(alpha, alpha, size=n)
    return torch.as_tensor(draws, dtype=torch.float32, device=device)


#: Levels of the stitch mask's uniform draws: lam is compared at 1/65,536 (at most 1.5e-5 off).
STITCH_LEVELS = 2**16


def stitch_mask(
    lam: torch.Tensor, width: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """(pairs, width) booleans, each True with probability lam of its row: where a stitched
    row takes the first parent. Drawn as 16-bit integers by numpy (seeded from `generator`),
    about 2x cheaper than torch's float uniforms: a quarter less CPU in an E-Stitchup fit
    (benchmarks/training.py, benchmarks/notes.md)."""
    rng = np.random.default_rng(_numpy_seed(generator))
    levels = rng.integers(0, STITCH_LEVELS, (len(lam), width), dtype=np.uint16)
    cutoffs = np.ceil(lam.reshape(-1, 1).cpu().numpy() * STITCH_LEVELS).astype(np.int32)
    return torch.from_numpy(levels < cutoffs).to(device)


def _pairs(
    batch: int, generator: torch.Generator, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the two parents of each pair; a batch of one is paired with itself."""
    if batch == 1:
        zero = torch.zeros(1, dtype=torch.long, device=device)
        return zero, zero
    order = torch.randperm(batch, generator=generator, device=generator.device).to(device)
    half = batch // 2
    return order[:half], order[half : 2 * half]


@dataclass(frozen=True)
class Control:
    """No augmentation."""

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        return x, y


@dataclass(frozen=True)
class PairMix:
    """E-Mixup or E-Stitchup, optionally followed by softening (the four paper methods)."""

    alpha: float = DEFAULTS.alpha
    stitch: bool = False
    softness: float | None = None
    negative_mass: float = DEFAULTS.negative_mass

    def __post_init__(self) -> None:
        _check_positive("alpha", self.alpha)
        if self.softness is not None and not 0 <= self.softness < 1:
            raise ValueError(f"softness must be in [0, 1), got {self.softness}")
        if self.negative_mass < 0:
            raise ValueError(f"negative_mass must be >= 0, got {self.negative_mass}")

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        first, second = _pairs(len(x), generator, x.device)
        lam = _beta(len(first), self.alpha, generator, x.device).unsqueeze(1)
        x1, x2 = x[first], x[second]
        if self.stitch:
            mixed = torch.where(stitch_mask(lam, x.shape[1], generator, x.device), x1, x2)
        else:
            mixed = lam * x1 + (1 - lam) * x2
        targets = lam * y[first] + (1 - lam) * y[second]
        if self.softness is not None:
            targets = soften(targets, self.softness, self.negative_mass)
        return mixed, targets


@dataclass(frozen=True)
class ZetaMixup:
    """zeta-mixup over the whole minibatch: X' = W X, Y' = W Y, batch size kept."""

    gamma: float = DEFAULTS.gamma

    def __post_init__(self) -> None:
        _check_positive("gamma", self.gamma)

    def weights(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """The batch's (n, n) mixing matrix; its rows sum to 1, so mixing commutes with any
        affine map (the training loop mixes after the head's first layer, `train.py`)."""
        return zeta_weights(n, self.gamma, generator, device)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        weights = self.weights(len(x), generator, x.device)
        return weights @ x, weights @ y.to(weights.dtype)


@dataclass(frozen=True)
class LabelSmoothing:
    """The non-embedding baseline of the soft variants: inputs unchanged, targets
    y (1 - eps) + eps / C (Szegedy et al.)."""

    smoothing: float = DEFAULTS.smoothing

    def __post_init__(self) -> None:
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        return x, y * (1 - self.smoothing) + self.smoothing / y.shape[1]


_FACTORIES: dict[str, Callable[[dict], Augmenter]] = {
    "control": lambda p: Control(),
    "e_mixup": lambda p: PairMix(alpha=p["alpha"]),
    "e_stitchup": lambda p: PairMix(alpha=p["alpha"], stitch=True),
    "soft_e_mixup": lambda p: PairMix(p["alpha"], False, p["softness"], p["negative_mass"]),
    "soft_e_stitchup": lambda p: PairMix(p["alpha"], True, p["softness"], p["negative_mass"]),
    "zeta_mixup": lambda p: ZetaMixup(gamma=p["gamma"]),
    "label_smoothing": lambda p: LabelSmoothing(p["smoothing"]),
}
AUGMENTERS: tuple[str, ...] = tuple(_FACTORIES)


def get_augmenter(name: str, **params: float) -> Augmenter:
    """The augmenter called `name`, with docs/METHODS.md defaults for parameters not given.

    Parameters a method does not use are accepted and ignored, so one configuration can
    drive every method; unknown names and invalid values raise `ValueError`.
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown augmentation {name!r}; choose one of {', '.join(AUGMENTERS)}")
    defaults = asdict(DEFAULTS)
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(sorted(unknown))}; accepted: {', '.join(defaults)}"
        )
    settings = {**defaults, **params}
    _check_positive("alpha", settings["alpha"])
    _check_positive("gamma", settings["gamma"])
    if not 0 <= settings["softness"] < 1:
        raise ValueError(f"softness must be in [0, 1), got {settings['softness']}")
    return _FACTORIES[name](settings)
