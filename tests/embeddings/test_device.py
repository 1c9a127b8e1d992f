"""Accelerators where a worker has one: encoders and training on CUDA give the CPU's vectors
and models within float tolerance, so a cache filled on one kind of worker serves the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from embaug_core.common.device import resolve_device
from embaug_core.embeddings.encoders import ImageEncoder, TextEncoder

GPU = torch.cuda.is_available()
needs_gpu = pytest.mark.skipif(
    not GPU, reason="no CUDA GPU on this machine: the device path is untested here"
)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_auto_picks_the_gpu_only_where_there_is_one():
    assert resolve_device("auto").type == ("cuda" if GPU else "cpu")
    assert resolve_device("cpu").type == "cpu"
    if not GPU:
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda"):
        resolve_device("tpu")


@needs_gpu
def test_vectors_on_the_gpu_agree_with_the_cpu(kaggle_slice: Path):
    texts = ["Nike Men Blue T-shirt", "Fastrack Women Black Watch", ""]
    on_gpu = TextEncoder(device="cuda").encode(texts)
    on_cpu = TextEncoder(device="cpu").encode(texts)
    assert _cosine(on_gpu[:2], on_cpu[:2]).min() > 0.999
    images = [p.read_bytes() for p in sorted((kaggle_slice / "images").glob("*.jpg"))[:8]]
    assert (
        _cosine(
            ImageEncoder(device="cuda").encode(images), ImageEncoder(device="cpu").encode(images)
        ).min()
        > 0.999
    )


@needs_gpu
def test_training_on_the_gpu_gives_a_cpu_model():
    from embaug_core.training.mixup import get_augmenter
    from embaug_core.training.train import TrainConfig, train_classifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    model = train_classifier(
        x, y, ["a", "b"], get_augmenter("e_stitchup"), TrainConfig(epochs=3, device="cuda")
    )
    assert next(model.head.parameters()).device.type == "cpu"
    assert model.predict_proba(x).shape == (64, 2)
