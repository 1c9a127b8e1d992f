"""The image network on ONNX Runtime: the PyTorch vectors under the same identity, exported
once, and never used when it disagrees with the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embaug_core.embeddings.encoders import ImageEncoder, image_onnx


@pytest.fixture(scope="module")
def image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image_onnx")


def photos(kaggle_slice: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted((kaggle_slice / "images").glob("*.jpg"))]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_the_graph_gives_the_pytorch_vectors_under_the_same_identity(
    kaggle_slice: Path, image_cache: Path
):
    """The identity (the cache key) ignores the runtime: sound only if both give the same
    vectors, on real photos and across batch boundaries (40 photos, batches of 16)."""
    images = photos(kaggle_slice)[:40]
    fast, slow = ImageEncoder(cache_dir=image_cache), ImageEncoder(runtime="torch")
    assert len(images) == 40 and fast.identity == slow.identity
    ours, theirs = fast.encode(images), slow.encode(images)
    assert fast._graph is not None and slow._graph is None
    assert cosines(ours, theirs).min() > 0.9999
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    assert [path.suffix for path in image_cache.iterdir()] == [".onnx"]


def test_the_exported_graph_is_reused(image_cache: Path, monkeypatch):
    ImageEncoder(cache_dir=image_cache)._exported()  # made by the test above, or now

    def export_again(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(image_onnx, "export", export_again)
    assert ImageEncoder(cache_dir=image_cache)._graph is not None


def test_a_graph_that_disagrees_with_the_model_is_neither_used_nor_kept(
    kaggle_slice: Path, tmp_path: Path, monkeypatch, caplog
):
    monkeypatch.setattr(image_onnx, "agreement", lambda *args: 0.5)
    encoder = ImageEncoder(cache_dir=tmp_path)
    images = photos(kaggle_slice)[:3]
    vectors = encoder.encode(images)
    assert encoder._graph is None and "ONNX Runtime not used" in caplog.text
    assert list(tmp_path.iterdir()) == []
    np.testing.assert_array_equal(vectors, ImageEncoder(runtime="torch").encode(images))


def test_the_check_compares_with_the_model(image_cache: Path):
    """`agreement` is what keeps a wrong graph out: it must see a different network."""
    from embaug_core.embeddings.encoders.onnx_export import session

    encoder = ImageEncoder(cache_dir=image_cache)
    graph = session(encoder._exported())
    assert image_onnx.agreement(graph, encoder._model, encoder.image_size) > 0.9999
    other = ImageEncoder(runtime="torch")._model
    for parameter in other.conv_head.parameters():
        parameter.data.normal_()
    assert image_onnx.agreement(graph, other, encoder.image_size) < 0.99


def test_an_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="runtime"):
        ImageEncoder(runtime="tensorflow")
