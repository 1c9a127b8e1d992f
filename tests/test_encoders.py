"""The bundled offline encoders, run for real on small inputs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from PIL import Image

from embaug_core.encoders import ImageEncoder, TextEncoder
from embaug_core.encoders.image import bundled_lite0_checkpoint, rename_to_timm


def test_text_vectors_are_two_layer_means_unaffected_by_padding(text_encoder):
    texts = ["Turtle Check Men Navy Blue Shirt", "", "a much longer description " * 20]
    together = text_encoder.encode(texts)
    assert together.shape == (3, 768) and together.dtype == np.float32
    alone = np.vstack([text_encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert np.isfinite(together).all() and np.abs(together[1]).sum() > 0


def test_text_vector_matches_a_hand_computed_last_two_layer_mean(text_encoder):
    tokenizer, model = text_encoder._model
    batch = tokenizer(["Red running shoes"], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states
    expected = torch.cat([hidden[-2].mean(1), hidden[-1].mean(1)], dim=1).numpy()
    np.testing.assert_allclose(text_encoder.encode(["Red running shoes"]), expected, atol=1e-5)


def test_similar_titles_are_closer_than_unrelated_ones(text_encoder):
    a, b, c = text_encoder.encode(
        ["Men blue cotton shirt", "Blue shirt for men", "Steel wrist watch"]
    )

    def cosine(u, v):
        return u @ v / np.linalg.norm(u) / np.linalg.norm(v)

    assert cosine(a, b) > cosine(a, c)


def test_lite0_weights_load_strictly_and_classify_a_real_watch(image_encoder, kaggle_slice: Path):
    model = image_encoder._model  # strict=True inside; raises on any missing key
    styles = pd.read_csv(kaggle_slice / "styles.csv", dtype=str)
    watch_id = styles.loc[styles["articleType"] == "Watches", "id"].iloc[0]
    watch = kaggle_slice / "images" / f"{watch_id}.jpg"
    batch = image_encoder.preprocess([watch.read_bytes()])
    assert batch.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        top5 = model(batch).topk(5).indices[0].tolist()
    # ImageNet: 409 analog clock, 531 digital watch, 826 stopwatch, 892 wall clock
    assert {409, 531, 826, 892} & set(top5)


def test_image_vectors_for_jpeg_png_alpha_and_grey(image_encoder):
    images = []
    for mode in ("RGB", "RGBA", "L"):
        buffer = io.BytesIO()
        Image.new(
            mode, (60, 80), color=128 if mode == "L" else (200, 20, 20, 128)[: len(mode)]
        ).save(buffer, format="PNG" if mode != "RGB" else "JPEG")
        images.append(buffer.getvalue())
    vectors = image_encoder.encode(images)
    assert vectors.shape == (3, 1280) and np.isfinite(vectors).all()
    np.testing.assert_allclose(image_encoder.encode(images[:1]), vectors[:1], atol=1e-4)


def test_a_checkpoint_that_does_not_fit_is_an_error_not_a_guess():
    state = torch.load(bundled_lite0_checkpoint(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state.popitem()
    with pytest.raises(ValueError, match="tensors"):
        rename_to_timm(state, model)


def test_unknown_image_model_without_local_weights_is_refused():
    from embaug_core.encoders import ImageEncoder

    with pytest.raises(ValueError, match="local checkpoint"):
        ImageEncoder("resnet50")


def test_widths_are_known_without_loading_the_networks():
    """A fully cached pass checks vector widths; that must not cost loading the weights."""
    text, image = TextEncoder(), ImageEncoder()
    assert (text.dim, image.dim) == (768, 1280)
    assert "_model" not in text.__dict__ and "_model" not in image.__dict__
