"""Batch augmentations: the properties that would catch a wrong method."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from embaug_core.training.mixup import (
    AUGMENTERS,
    ZETA_DOMINANT_GAMMA,
    get_augmenter,
    soften,
    zeta_weights,
)


def batch(size: int, dim: int = 7, classes: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(size, dim, generator=g)
    y = torch.nn.functional.one_hot(torch.randint(classes, (size,), generator=g), classes).float()
    return x, y


def test_soften_reproduces_the_papers_worked_example():
    mixed = torch.zeros(1, 12)
    mixed[0, :2] = torch.tensor([0.2, 0.8])
    expected = torch.tensor([[0.15, 0.75] + [0.1] * 10])
    torch.testing.assert_close(soften(mixed, 0.05, 1.0), expected)


def test_soften_clamps_at_zero_and_spreads_the_negative_mass():
    targets = torch.tensor([[0.02, 0.98, 0.0, 0.0]])
    out = soften(targets, softness=0.05, negative_mass=1.0)
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.93, 0.5, 0.5]]))


def _solve_lambda(mixed, first, second):
    """The lam with mixed = lam * first + (1 - lam) * second, per row."""
    diff = first - second
    return ((mixed - second) * diff).sum(1) / (diff * diff).sum(1)


@settings(max_examples=50, deadline=None)
@given(size=st.integers(2, 40), seed=st.integers(0, 1000), alpha=st.floats(0.1, 2.0))
def test_e_mixup_inputs_and_targets_share_one_convex_combination(size, seed, alpha):
    x, y = batch(size, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    x_mix, y_mix = get_augmenter("e_mixup", alpha=alpha)(x, y, generator)
    half = size // 2
    assert x_mix.shape == (half, x.shape[1]) and y_mix.shape == (half, y.shape[1])
    first, second = order[:half], order[half : 2 * half]
    lam = _solve_lambda(x_mix, x[first], x[second])
    assert ((lam >= -1e-4) & (lam <= 1 + 1e-4)).all()
    torch.testing.assert_close(
        x_mix, lam[:, None] * x[first] + (1 - lam[:, None]) * x[second], atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(
        y_mix, lam[:, None] * y[first] + (1 - lam[:, None]) * y[second], atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(y_mix.sum(1), torch.ones(half))


@settings(max_examples=30, deadline=None)
@given(size=st.integers(2, 30), seed=st.integers(0, 1000))
def test_e_stitchup_takes_every_element_from_a_parent_at_rate_lam(size, seed):
    x, y = batch(size, dim=4000, seed=seed)
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    x_mix, y_mix = get_augmenter("e_stitchup", alpha=0.3)(x, y, torch.Generator().manual_seed(seed))
    half = size // 2
    first, second = x[order[:half]], x[order[half : 2 * half]]
    from_first, from_second = x_mix == first, x_mix == second
    assert (from_first | from_second).all()
    share = from_first.float().mean(1)
    y_first, y_second = y[order[:half]], y[order[half : 2 * half]]
    differ = (y_first != y_second).any(1)
    lam = (y_mix * y_first)[differ].sum(1)  # the first parent's class holds lam
    torch.testing.assert_close(share[differ], lam, atol=0.04, rtol=0)
    torch.testing.assert_close(y_mix.sum(1), torch.ones(half))


def test_stitch_mask_is_exact_at_zero_and_one_and_at_rate_lam_between():
    from embaug_core.training.mixup import stitch_mask

    lam = torch.tensor([0.0, 1.0, 0.3, 0.97])
    mask = stitch_mask(lam, 200_000, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert mask.shape == (4, 200_000) and mask.dtype == torch.bool
    assert not mask[0].any() and mask[1].all()
    torch.testing.assert_close(mask[2:].float().mean(1), lam[2:], atol=0.003, rtol=0)


@pytest.mark.parametrize("name", ["soft_e_mixup", "soft_e_stitchup"])
def test_soft_variants_are_the_mixed_targets_softened(name):
    x, y = batch(16)
    hard = name.removeprefix("soft_")
    _, y_hard = get_augmenter(hard)(x, y, torch.Generator().manual_seed(4))
    x_soft, y_soft = get_augmenter(name, softness=0.05)(x, y, torch.Generator().manual_seed(4))
    torch.testing.assert_close(y_soft, soften(y_hard, 0.05, 1.0))
    x_again, _ = get_augmenter(hard)(x, y, torch.Generator().manual_seed(4))
    torch.testing.assert_close(x_soft, x_again)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 64), gamma=st.floats(0.2, 6.0), seed=st.integers(0, 1000))
def test_zeta_weights_rows_are_stochastic_and_self_dominant(n, gamma, seed):
    w = zeta_weights(n, gamma, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(w.sum(1), torch.ones(n))
    assert (w.argmax(1) == torch.arange(n)).all()
    if gamma >= ZETA_DOMINANT_GAMMA:
        assert (w.diagonal() > 0.5).all()
    sorted_rows = w.sort(dim=1, descending=True).values
    torch.testing.assert_close(sorted_rows, sorted_rows[:1].expand_as(sorted_rows))


def test_zeta_dominant_weight_is_about_080_at_default_gamma():
    w = zeta_weights(128, 2.8, torch.Generator().manual_seed(0))
    assert w.diagonal().mean().item() == pytest.approx(0.80, abs=0.01)


def test_zeta_mixup_is_one_matrix_product_keeping_the_batch_size():
    x, y = batch(9)
    x_mix, y_mix = get_augmenter("zeta_mixup")(x, y, torch.Generator().manual_seed(1))
    w = zeta_weights(9, 2.8, torch.Generator().manual_seed(1))
    torch.testing.assert_close(x_mix, w @ x)
    torch.testing.assert_close(y_mix, w @ y)


@pytest.mark.parametrize("name", AUGMENTERS)
@pytest.mark.parametrize("size", [1, 2, 7])
def test_every_method_is_deterministic_and_handles_odd_and_single_batches(name, size):
    x, y = batch(size)
    a = get_augmenter(name)(x, y, torch.Generator().manual_seed(5))
    b = get_augmenter(name)(x, y, torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    expected = (
        size if name in ("control", "zeta_mixup", "label_smoothing") or size == 1 else size // 2
    )
    assert len(a[0]) == len(a[1]) == expected
    assert torch.isfinite(a[0]).all() and torch.isfinite(a[1]).all()


def test_bad_names_and_parameters_say_what_is_accepted():
    with pytest.raises(ValueError, match="choose one of control, e_mixup"):
        get_augmenter("cutmix")
    with pytest.raises(ValueError, match="alpha must be > 0"):
        get_augmenter("e_mixup", alpha=0)
    with pytest.raises(ValueError, match=r"softness must be in \[0, 1\)"):
        get_augmenter("soft_e_mixup", softness=1.0)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        get_augmenter("zeta_mixup", gamma=-1)
    with pytest.raises(ValueError, match="accepted: alpha, softness, negative_mass, gamma"):
        get_augmenter("control", beta=2)


def test_label_smoothing_spreads_epsilon_over_every_class():
    x, y = batch(4)
    _, smoothed = get_augmenter("label_smoothing", smoothing=0.1)(x, y, torch.Generator())
    torch.testing.assert_close(smoothed, y * 0.9 + 0.1 / y.shape[1])
    torch.testing.assert_close(smoothed.sum(1), torch.ones(4))
