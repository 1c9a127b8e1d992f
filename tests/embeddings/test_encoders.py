"""The bundled offline encoders, run for real on small inputs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from PIL import Image

from embaug_core.catalog import html_to_text
from embaug_core.embeddings.encoders import ImageEncoder, TextEncoder
from embaug_core.embeddings.encoders import text as text_module
from embaug_core.embeddings.encoders.image import bundled_lite0_checkpoint, rename_to_timm
from embaug_core.embeddings.encoders.pixels import to_rgb_square


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
    from embaug_core.embeddings.encoders import ImageEncoder

    with pytest.raises(ValueError, match="local checkpoint"):
        ImageEncoder("resnet50")


def test_widths_are_known_without_loading_the_networks():
    """A fully cached pass checks vector widths; that must not cost loading the weights."""
    text, image = TextEncoder(), ImageEncoder()
    assert (text.dim, image.dim) == (768, 1280)
    assert "_model" not in text.__dict__ and "_model" not in image.__dict__


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_thin_image_is_padded_in_bounded_time_and_memory(image_encoder):
    """A 100000 x 1 strip passes any pixel limit; padding it whole would ask for a 30 GB
    canvas. It must cost what a small image costs."""
    strip = png(Image.new("RGB", (100_000, 1), (200, 20, 20)))
    started = time.perf_counter()
    square = image_encoder.square_pixels(strip)
    assert time.perf_counter() - started < 2
    side = image_encoder.image_size
    assert square.shape == (side, side, 3)
    red_rows = (square[..., 0].astype(int) - square[..., 1] > 50).any(axis=1)
    assert np.flatnonzero(red_rows).tolist() == [side // 2 - 1]  # the strip, centred on white
    assert np.isfinite(image_encoder.encode([strip])).all()


def test_images_at_the_pad_limit_keep_the_plain_path():
    """Photos up to MAX_PAD_SIDE are padded then resized exactly as before the limit."""
    photo = Image.new("RGB", (60, 80), (10, 120, 200))
    photo.paste((250, 250, 0), (10, 10, 40, 50))
    square = Image.new("RGB", (80, 80), (255, 255, 255))
    square.paste(photo, (10, 0))
    expected = np.asarray(square.resize((224, 224), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(np.asarray(to_rgb_square(photo, 224)), expected)


def darkest_photo(folder: Path, count: int = 20) -> Image.Image:
    """The darkest of the first catalogue photos, in 8-bit grey: far from a white square."""
    photos = []
    for path in sorted((folder / "images").glob("*.jpg"))[:count]:
        with Image.open(path) as image:
            photos.append(image.convert("L"))
    return min(photos, key=lambda photo: np.asarray(photo).mean())


def deep_versions(grey: Image.Image) -> dict[str, Image.Image]:
    """The same photo stored deeper than 8 bits, as a file would give it."""
    values = np.asarray(grey)
    return {
        "I;16": Image.fromarray(values.astype(np.uint16) * 257),
        "I;16B": Image.fromarray((values.astype(np.uint16) * 257).astype(">u2")),
        "I": Image.fromarray(values.astype(np.int32) * 257),
        "F": Image.fromarray(values.astype(np.float32) / 255),
    }


def test_deep_images_keep_their_pixels(kaggle_slice: Path):
    grey = darkest_photo(kaggle_slice)
    expected = np.asarray(to_rgb_square(grey, 224))
    for mode, image in deep_versions(grey).items():
        assert image.mode == mode
        np.testing.assert_array_equal(np.asarray(to_rgb_square(image, 224)), expected, mode)


def test_floats_outside_the_unit_range_are_stretched_by_their_own_range(kaggle_slice: Path):
    values = np.asarray(darkest_photo(kaggle_slice)).astype(np.float32)
    stretched = (values - values.min()) * (255 / (values.max() - values.min()))
    expected = Image.fromarray(np.rint(stretched).astype(np.uint8))
    image = Image.fromarray(values * 3 - 100)
    np.testing.assert_array_equal(
        np.asarray(to_rgb_square(image, 224)), np.asarray(to_rgb_square(expected, 224))
    )


def test_non_finite_pixels_are_refused_with_a_reason():
    values = np.full((8, 8), 0.5, dtype=np.float32)
    values[3, 3] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        to_rgb_square(Image.fromarray(values), 224)


def test_a_16_bit_png_and_a_float_tiff_embed_like_the_8_bit_photo(
    image_encoder, kaggle_slice: Path
):
    """Before, both came out as a white square (cosine 0.998 to white)."""
    grey = darkest_photo(kaggle_slice)
    deep = deep_versions(grey)
    tiff = io.BytesIO()
    deep["F"].save(tiff, format="TIFF")
    files = [png(grey), png(deep["I;16"]), tiff.getvalue(), png(Image.new("L", grey.size, 255))]
    eight_bit, sixteen_bit, floats, white = image_encoder.encode(files)

    def cosine(u, v):
        return u @ v / np.linalg.norm(u) / np.linalg.norm(v)

    for vector in (sixteen_bit, floats):
        assert cosine(vector, eight_bit) > 0.99
        assert cosine(vector, white) < cosine(eight_bit, white) + 0.01 < 0.99


def test_an_image_that_cannot_be_read_is_named_in_the_error(image_encoder):
    good = png(Image.new("RGB", (60, 80), (10, 120, 200)))
    with pytest.raises(ValueError, match=r"image 2 of 3 \(11 bytes\)"):
        image_encoder.encode([good, good, b"not a photo"])


def test_a_sideways_stored_photo_embeds_upright_in_training_and_serving(
    image_encoder, kaggle_slice: Path
):
    """A phone stores a photo sideways with EXIF orientation 6 ("turn 90 degrees clockwise to
    show"). Ignoring it gave a sideways vector (cosine 0.515 to the photo upright)."""
    from embaug_core.serving.product import EncoderSpec, InputLimits, ProductClassifier

    upright = sorted((kaggle_slice / "images").glob("*.jpg"))[0].read_bytes()
    with Image.open(io.BytesIO(upright)) as photo:
        stored = photo.convert("RGB").transpose(Image.Transpose.ROTATE_90)  # 90 degrees left
    exif = Image.Exif()
    exif[0x0112] = 6
    oriented, plain = io.BytesIO(), io.BytesIO()
    stored.save(oriented, format="JPEG", quality=95, exif=exif)
    stored.save(plain, format="JPEG", quality=95)  # the same pixels, no orientation
    trained = image_encoder.encode([upright, oriented.getvalue(), plain.getvalue()])
    assert cosines(trained[:1], trained[1:2])[0] > 0.99
    assert cosines(trained[:1], trained[2:3])[0] < 0.9  # sideways is far: the turn matters
    serving = ProductClassifier(None, EncoderSpec(features=("image",)), 0.5, InputLimits())
    served = serving.vectors(pd.DataFrame(index=[0]), [oriented.getvalue()])
    np.testing.assert_allclose(served, trained[1:2], atol=1e-4)
    assert ":upright:" in image_encoder.identity  # no cache mixes vectors made before


def real_descriptions(folder: Path) -> list[str]:
    """The descriptions of the catalogue slice, as the catalogue reads them (HTML to text)."""
    with gzip.open(folder / "styles.jsonl.gz", "rt", encoding="utf-8") as lines:
        documents = [json.loads(line)["data"] for line in lines]
    html = [
        (d.get("productDescriptors") or {}).get("description", {}).get("value") for d in documents
    ]
    return [html_to_text(h) for h in html if h]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnx_runtime_gives_the_pytorch_vectors_under_the_same_identity(
    kaggle_slice: Path, onnx_cache: Path
):
    """The identity (the cache key) ignores the runtime: that is sound only if both agree."""
    texts = [*real_descriptions(kaggle_slice), "", "Red running shoes"]
    fast = TextEncoder(cache_dir=onnx_cache, precision="fp32")
    slow = TextEncoder(runtime="torch", precision="fp32")
    assert len(texts) > 50 and fast.identity == slow.identity
    similarity = cosines(fast.encode(texts), slow.encode(texts))
    assert fast._graph is not None and slow._graph is None
    assert similarity.min() > 0.9999
    assert [path.suffix for path in onnx_cache.iterdir()] == [".onnx"]


def test_the_exported_graph_is_reused(onnx_cache: Path, monkeypatch):
    TextEncoder(cache_dir=onnx_cache, precision="fp32")._exported()  # made above, or now

    def export_again(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(text_module, "export", export_again)
    assert TextEncoder(cache_dir=onnx_cache, precision="fp32")._graph is not None


def test_a_graph_that_disagrees_with_the_model_is_neither_used_nor_kept(
    onnx_cache: Path, tmp_path: Path, monkeypatch, caplog
):
    good = TextEncoder(cache_dir=onnx_cache, precision="fp32")._exported()
    monkeypatch.setattr(text_module, "export", lambda _dir, target, _tok: shutil.copy(good, target))
    monkeypatch.setattr(text_module, "agreement", lambda *args: 0.5)
    encoder = TextEncoder(cache_dir=tmp_path, precision="fp32")
    vectors = encoder.encode(["Red running shoes"])
    assert encoder._graph is None and "ONNX Runtime not used" in caplog.text
    assert list(tmp_path.iterdir()) == []
    expected = TextEncoder(runtime="torch", precision="fp32").encode(["Red running shoes"])
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_a_broken_export_leaves_no_file_and_falls_back(tmp_path: Path, monkeypatch, caplog):
    monkeypatch.setattr(
        text_module, "export", lambda _dir, target, _tok: target.write_bytes(b"half a graph")
    )
    encoder = TextEncoder(cache_dir=tmp_path, precision="fp32")
    assert encoder._graph is None and "ONNX Runtime not used" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="runtime"):
        TextEncoder(runtime="tensorflow")


def test_int8_is_cached_apart_from_fp32_and_close_to_it(onnx_cache: Path):
    """int8 is another encoder (its own identity: no cache mixes the two), quantised once from
    the same exported graph and kept beside it; fp32 keeps the identity it always had."""
    fp32 = TextEncoder(cache_dir=onnx_cache, precision="fp32")
    int8 = TextEncoder(cache_dir=onnx_cache)  # the default
    assert int8.identity != fp32.identity == TextEncoder(runtime="torch", precision="fp32").identity
    texts = ["Red running shoes", "Turtle Check Men Navy Blue Shirt", ""]
    together = int8.encode(texts)
    assert cosines(together, fp32.encode(texts)).min() > 0.9
    # Dynamic quantisation scales activations by the whole input's range; batched, a text's
    # int8 vector moved with its companions (cosine 0.998 here). One text per call: its own.
    alone = np.vstack([int8.encode([text]) for text in texts])
    np.testing.assert_array_equal(alone, together)
    assert int8.batch_size == 1 and int8.identity.endswith(":int8-per-text")
    assert TextEncoder(precision="int8", batch_size=64).batch_size == 1  # asked, not given
    assert sorted(path.name.endswith(".int8.onnx") for path in onnx_cache.iterdir()) == [
        False,
        True,
    ]
    with pytest.raises(ValueError, match="int8"):
        TextEncoder(runtime="torch", precision="int8")


def test_the_image_identity_follows_the_checkpoints_bytes(tmp_path: Path):
    """Two checkpoints that differ get different identities, also when one file is rewritten
    in place between two encoders of one process (the digest is remembered per version)."""
    checkpoint = tmp_path / "weights.pt"
    checkpoint.write_bytes(b"first weights")
    first = ImageEncoder(checkpoint=checkpoint).identity
    assert hashlib.sha256(b"first weights").hexdigest()[:12] in first
    checkpoint.write_bytes(b"other weights")  # the same size: only the time tells them apart
    os.utime(checkpoint, ns=(1, 10**18))
    second = ImageEncoder(checkpoint=checkpoint).identity
    assert hashlib.sha256(b"other weights").hexdigest()[:12] in second
    assert ImageEncoder(checkpoint=checkpoint).identity == second
